"""Expand one written bar into ``RandomTerm`` records.

- The left side gets an explicit intercept: ``Days`` -> ``1 + Days``;
  ``0 + Days``, ``Days - 1`` and ``-1 + Days`` all become ``0 + Days``.
- ``(x || g)`` becomes ``(1 | g) + (0 + x | g)``, one uncorrelated term per
  term of the left side (lme4's ``expandDoubleVerts``; ``x*z`` expands to
  ``x``, ``z``, ``x:z`` as R's ``terms()`` does).
- A nested group ``a/b/c`` becomes the groups ``a``, ``b:a``, ``c:(b:a)`` (lme4's names)
  (lme4's ``expandSlash``, which writes them ``c:(b:a)``, ``b:a``, ``a`` in
  the reverse order; here the outer factor comes first and interactions are
  written in the order of the formula).
"""

from __future__ import annotations

from formulaic import Formula

from tabmixr.errors import FormulaError
from tabmixr.formula.bars import Bar, Piece, split_terms
from tabmixr.formula.spec import RandomTerm
from tabmixr.formula.syntax import check_formulaic_syntax
from tabmixr.formula.tokens import Token, render, source_text, split_at, strip_parens, top_level
from tabmixr.formula.wrappers import WRAPPERS, resolve_args

#: Operators that make one written term stand for several model terms.
_COMPOUND_OPERATORS = frozenset({"*", "/", "^", "**"})


def expand_bar(source: str, bar: Bar) -> list[RandomTerm]:
    """Turn one written bar into its random-effect terms.

    Args:
        source: The formula text.
        bar: The bar as found by ``find_bars``.

    Returns:
        The terms in lme4's order for ``||`` (one per left-side term), and
        outer-to-inner for ``/`` groups; a single term otherwise.

    Raises:
        FormulaError: For a left side without columns or with bad syntax, a
            grouping factor that is not ``g``, ``a:b`` or ``a/b``, or invalid
            wrapper arguments.
    """
    intercept, rest = split_lhs(source, bar)
    lhs = lhs_text(source, intercept, rest)
    if not intercept and not rest:
        raise FormulaError(f"random-effect term {bar.text!r} has no columns: its left "
                           "side removes the intercept and adds nothing")
    check_formulaic_syntax(lhs, f"the left side of {bar.text!r},")
    groups = expand_group(bar)
    if bar.wrapper is not None:
        covariance = WRAPPERS[bar.wrapper].covariance
        args = resolve_args(bar.wrapper, bar.args, repr(bar.text))
    else:
        covariance, args = "us", {}
    lhs_list = double_bar_lhs(source, bar, intercept, rest) if bar.double else [lhs]
    single = len(lhs_list) * len(groups) == 1
    terms: list[RandomTerm] = []
    for term_lhs in lhs_list:
        shown_lhs = term_lhs if bar.double else render(strip_parens(bar.lhs))
        for group, group_vars in groups:
            text = bar.text if single else _term_text(bar, shown_lhs, group)
            terms.append(RandomTerm(lhs=term_lhs, group=group, group_vars=group_vars,
                                    covariance=covariance, covariance_args=dict(args),
                                    text=text, from_double_bar=bar.double))
    return terms


def split_lhs(source: str, bar: Bar) -> tuple[bool, list[Piece]]:
    """Split a bar's left side into its intercept flag and its other terms.

    ``1`` / ``+1`` / ``-0`` switch the intercept on, ``0`` / ``-1`` switch it
    off; the last such marker wins, as in R.

    Args:
        source: The formula text.
        bar: The bar.

    Returns:
        ``(intercept, pieces)`` where ``pieces`` are the non-intercept terms.

    Raises:
        FormulaError: For misplaced operators in the left side.
    """
    tokens = strip_parens(bar.lhs)
    pieces = split_terms(source, tokens, f"the left side of {bar.text!r}")
    intercept = True
    rest: list[Piece] = []
    for piece in pieces:
        marker = _intercept_marker(piece)
        if marker is None:
            rest.append(piece)
        else:
            intercept = marker
    return intercept, rest


def _intercept_marker(piece: Piece) -> bool | None:
    """True/False if the piece switches the intercept on/off, else None."""
    if len(piece.tokens) != 1 or piece.tokens[0].text not in ("0", "1"):
        return None
    one = piece.tokens[0].text == "1"
    return one if piece.sign == "+" else not one


def lhs_text(source: str, intercept: bool, rest: list[Piece]) -> str:
    """Left-side text with the intercept written out first.

    Args:
        source: The formula text.
        intercept: Whether the term has an intercept.
        rest: The other terms with their signs.

    Returns:
        E.g. ``"1 + Days"``, ``"0 + Days"``, ``"1"``.
    """
    parts = ["1" if intercept else "0"]
    for piece in rest:
        parts.append(f"{piece.sign} {source_text(source, piece.tokens).strip()}")
    return " ".join(parts)


def double_bar_lhs(source: str, bar: Bar, intercept: bool, rest: list[Piece]) -> list[str]:
    """Left sides of the uncorrelated terms that ``(x || g)`` stands for.

    Args:
        source: The formula text.
        bar: The ``||`` bar.
        intercept: Whether its left side has an intercept.
        rest: Its other left-side terms.

    Returns:
        ``["1", "0 + x", ...]``: the intercept first when present, then one
        ``"0 + term"`` per model term of the left side.

    Raises:
        FormulaError: If formulaic cannot expand a compound left side.
    """
    if all(_is_simple(piece) for piece in rest):
        names = [source_text(source, piece.tokens).strip() for piece in rest]
    else:
        text = lhs_text(source, intercept, rest)
        try:
            names = [str(term) for term in Formula(text) if str(term) != "1"]
        except Exception as exc:
            raise FormulaError(f"cannot expand the left side {text!r} of {bar.text!r}: "
                               f"{exc}") from exc
    return (["1"] if intercept else []) + [f"0 + {name}" for name in names]


def _is_simple(piece: Piece) -> bool:
    """Whether an added term is exactly one model term (no ``*``, ``/``, ``^``)."""
    tokens = piece.tokens
    if piece.sign != "+" or tokens[0].text == "(":
        return False
    return not any(tokens[i].kind == "op" and (tokens[i].text in _COMPOUND_OPERATORS
                                               or tokens[i].text.startswith("%"))
                   for i in top_level(tokens))


def expand_group(bar: Bar) -> list[tuple[str, tuple[str, ...]]]:
    """Grouping factors of a bar: ``g``, ``a:b``, or ``a/b/c`` -> a, b:a, c:(b:a).

    Nested groups are named as lme4 names them (``b:a`` for ``a/b``), with
    the inner factor first in ``group_vars`` so level labels read ``"b1:a1"``.

    Args:
        bar: The bar.

    Returns:
        ``(group, group_vars)`` pairs, outermost first.

    Raises:
        FormulaError: For anything but names joined by ``:`` and ``/`` (e.g.
            ``a + b``), an empty nesting level, or a repeated name.
    """
    tokens = strip_parens(bar.group)
    seen: list[str] = []
    out: list[tuple[str, tuple[str, ...]]] = []
    for segment in split_at(tokens, "op", "/"):
        texts, names = [], []
        for tok in _interaction(segment, bar):
            name = tok.text.strip("`")
            if name in seen:
                raise FormulaError(f"grouping factor {render(tokens)!r} in {bar.text!r} "
                                   f"names {name!r} twice")
            texts.append(tok.text)
            names.append(name)
            seen.append(name)
        if not out:
            out.append((":".join(texts), tuple(names)))
            continue
        outer, outer_vars = out[-1]
        outer = f"({outer})" if ":" in outer else outer
        out.append((":".join(texts) + ":" + outer, tuple(names) + outer_vars))
    return out


def _interaction(segment: list[Token], bar: Bar) -> list[Token]:
    """Name tokens of one ``a:b:c`` level of a grouping factor."""
    group_text = render(strip_parens(bar.group))
    if not segment:
        raise FormulaError(f"empty nesting level in grouping factor {group_text!r} of "
                           f"{bar.text!r}; write e.g. 'a/b'")
    parts = split_at(segment, "op", ":")
    if all(len(part) == 1 and part[0].kind == "name" for part in parts):
        return [part[0] for part in parts]
    crossed = any(tok.is_op("+", "*") for tok in segment)
    hint = ("; for crossed effects write separate terms, e.g. '(1 | a) + (1 | b)'"
            if crossed else "; make a column of the data for other expressions")
    raise FormulaError(
        f"grouping factor {group_text!r} in {bar.text!r} is not allowed: lme4 takes a "
        f"column name 'g', an interaction 'a:b' or nesting 'a/b'{hint}")


def _term_text(bar: Bar, lhs: str, group: str) -> str:
    """Printed text of one expanded term, e.g. ``"(0 + x | g)"``."""
    if bar.wrapper is None:
        return f"({lhs} | {group})"
    args = "".join(f", {render(arg)}" for arg in bar.args)
    return f"{bar.wrapper}({lhs} | {group}{args})"
