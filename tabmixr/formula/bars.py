"""Split a formula into response, fixed terms and random-effect bars.

The analogue of lme4's ``findbars`` / ``nobars``: the right-hand side is cut
into its top-level additive terms; a term that is a parenthesized
``(lhs | group)`` / ``(lhs || group)`` or a covariance wrapper such as
``ar1(1 | time)`` is a bar, everything else belongs to the fixed part.  A bar
anywhere else (inside ``I()``, multiplied by something, nested in another bar)
is an error, where lme4 would often accept it silently.
"""

from __future__ import annotations

from dataclasses import dataclass

from tabmixr.errors import FormulaError
from tabmixr.formula.tokens import (
    UNARY_OPERATORS,
    Token,
    is_call,
    is_wrapped,
    matching_close,
    render,
    source_text,
    split_at,
    strip_parens,
    top_level,
)
from tabmixr.formula.wrappers import WRAPPERS, known_wrappers_text


@dataclass(frozen=True)
class Piece:
    """One additive term: its sign and its tokens.

    Attributes:
        sign: ``"+"`` or ``"-"``.
        tokens: The term's tokens (never empty).
    """

    sign: str
    tokens: list[Token]


@dataclass(frozen=True)
class Bar:
    """A random-effect bar as written, before any expansion.

    Attributes:
        lhs: Tokens left of the bar.
        group: Tokens right of the bar (the grouping factor).
        double: True for ``||``.
        wrapper: Wrapper function name (``"ar1"``, ...) or None.
        args: Token lists of the wrapper's further arguments.
        text: The whole term with normalized spacing, e.g. ``"(Days | Subject)"``.
    """

    lhs: list[Token]
    group: list[Token]
    double: bool
    wrapper: str | None
    args: list[list[Token]]
    text: str


def split_tilde(source: str, tokens: list[Token]) -> tuple[list[Token], list[Token]]:
    """Split ``response ~ rhs`` at its single top-level ``~``.

    Args:
        source: The formula text.
        tokens: Its tokens.

    Returns:
        ``(response_tokens, rhs_tokens)``; the response is empty for ``~ x``.

    Raises:
        FormulaError: With no ``~``, more than one at top level, or an empty
            right-hand side.
    """
    tildes = [i for i in top_level(tokens) if tokens[i].is_op("~")]
    if not tildes:
        raise FormulaError(
            f"formula {source!r} has no '~': write 'response ~ terms', e.g. 'y ~ x + (1 | g)'")
    if len(tildes) > 1:
        second = tokens[tildes[1]]
        raise FormulaError(
            f"formula {source!r} has more than one '~' (the second at position "
            f"{second.start + 1}, in {source[second.start:].strip()!r}); "
            "write exactly one 'response ~ terms'")
    response, rhs = tokens[:tildes[0]], tokens[tildes[0] + 1:]
    if not rhs:
        raise FormulaError(f"the right-hand side of formula {source!r} is empty; "
                           "write '~ 1' for an intercept-only model")
    return response, rhs


def split_terms(source: str, tokens: list[Token], where: str) -> list[Piece]:
    """Cut a token list into its top-level additive terms with their signs.

    A leading sign is allowed (``-1 + x``); two operators in a row, a
    trailing ``+`` or ``-`` and terms that begin or end with a binary operator
    are errors.

    Args:
        source: The formula text.
        tokens: Tokens of one side (right-hand side, or a bar's left side).
        where: How to name this text in messages, e.g. ``"'y ~ x +'"``.

    Returns:
        The terms, in order.

    Raises:
        FormulaError: Naming the misplaced operator.
    """
    pieces: list[Piece] = []
    current: list[Token] = []
    sign = "+"
    last_op: Token | None = None
    levels = set(top_level(tokens))
    for i, tok in enumerate(tokens):
        if i in levels and tok.is_op("+", "-"):
            if not current:
                if last_op is not None:
                    raise FormulaError(
                        f"missing term between {last_op.text!r} and {tok.text!r} in {where}")
                sign = tok.text
            else:
                pieces.append(Piece(sign, current))
                current, sign = [], tok.text
            last_op = tok
            continue
        current.append(tok)
    if not current:
        raise FormulaError(
            f"{where} ends with {last_op.text!r}: a term is missing after it"
            if last_op is not None else f"{where} is empty")
    pieces.append(Piece(sign, current))
    for piece in pieces:
        _check_edges(source, piece.tokens, where)
    return pieces


def _check_edges(source: str, tokens: list[Token], where: str) -> None:
    """Raise if a term starts or ends with a binary operator."""
    first, last = tokens[0], tokens[-1]
    text = source_text(source, tokens)
    if first.kind == "op" and first.text not in UNARY_OPERATORS:
        raise FormulaError(f"term {text!r} in {where} starts with operator {first.text!r}")
    if last.kind == "op":
        raise FormulaError(f"term {text!r} in {where} ends with operator {last.text!r}")


def find_bars(source: str, pieces: list[Piece]) -> tuple[list[Piece], list[Bar]]:
    """Separate the random-effect bars from the fixed terms (lme4's findbars/nobars).

    Args:
        source: The formula text.
        pieces: Additive terms of the right-hand side.

    Returns:
        ``(fixed_pieces, bars)``, each in the order written.

    Raises:
        FormulaError: For a subtracted bar, an unknown wrapper, ``||`` in a
            wrapper, several or nested bars in one term, or a bar that is not
            a top-level term.
    """
    fixed: list[Piece] = []
    bars: list[Bar] = []
    for piece in pieces:
        bar = _as_bar(source, piece.tokens)
        if bar is None:
            _reject_stray_bar(source, piece.tokens)
            fixed.append(piece)
            continue
        if piece.sign == "-":
            raise FormulaError(
                f"random-effect term {bar.text!r} is subtracted ('- {bar.text}'); "
                "random-effect terms can only be added with '+'")
        bars.append(bar)
    return fixed, bars


def _bar_indices(tokens: list[Token]) -> list[int]:
    """Indices of the depth-zero ``|`` / ``||`` tokens."""
    return [i for i in top_level(tokens) if tokens[i].is_bar]


def _as_bar(source: str, tokens: list[Token]) -> Bar | None:
    """The bar this term is, or None for a fixed term."""
    if is_wrapped(tokens):
        inner = strip_parens(tokens)
        if _bar_indices(inner):
            return _make_bar(inner, None, [], f"({render(inner)})")
    if is_call(tokens):
        args = split_at(tokens[2:-1], "comma")
        first = strip_parens(args[0])
        if _bar_indices(first):
            name = tokens[0].text
            text = render(tokens)
            if name not in WRAPPERS:
                raise FormulaError(
                    f"{name!r} is not a covariance wrapper, in {text!r}: a random-effect "
                    f"term may only be wrapped in {known_wrappers_text()}; other "
                    "random-effect terms must be added at the top level, e.g. "
                    "'y ~ x + (1 | g)'")
            return _make_bar(first, name, args[1:], text)
        if tokens[0].text in WRAPPERS:
            wrapper = WRAPPERS[tokens[0].text]
            raise FormulaError(
                f"{tokens[0].text}() wraps a random-effect term, but {render(tokens)!r} has "
                f"no '|' in its first argument; write e.g. {wrapper.example}")
    return None


def _make_bar(inner: list[Token], wrapper: str | None, args: list[list[Token]],
              text: str) -> Bar:
    """Build a ``Bar`` from the tokens ``lhs | group`` of one term."""
    indices = _bar_indices(inner)
    if len(indices) > 1:
        raise FormulaError(f"more than one '|' in random-effect term {text!r}; "
                           "write one term per bar, e.g. '(1 | a) + (1 | b)'")
    at = indices[0]
    lhs, group = inner[:at], inner[at + 1:]
    for part in [lhs, group, *args]:
        if any(tok.is_bar for tok in part):
            raise FormulaError(f"nested random-effect term in {text!r}: a bar may not "
                               "contain another bar")
    double = inner[at].text == "||"
    if double and wrapper is not None:
        raise FormulaError(f"'||' is not allowed inside wrapper {wrapper}() in {text!r}; "
                           f"write {wrapper}(... | ...) with a single '|'")
    if not lhs:
        raise FormulaError(f"random-effect term {text!r} has an empty left side; "
                           "write e.g. '(1 | g)' for a random intercept")
    if not group:
        raise FormulaError(f"random-effect term {text!r} has an empty grouping factor; "
                           "write e.g. '(1 | g)'")
    return Bar(lhs, group, double, wrapper, args, text)


def _reject_stray_bar(source: str, tokens: list[Token]) -> None:
    """Raise if a fixed term contains a ``|`` anywhere (a misplaced bar)."""
    at = next((i for i, tok in enumerate(tokens) if tok.is_bar), None)
    if at is None:
        return
    term = source_text(source, tokens)
    opener = _enclosing_open(tokens, at)
    if opener is None:
        raise FormulaError(
            f"{tokens[at].text!r} outside parentheses in term {term!r}: random-effect "
            "terms are written in parentheses, e.g. '(1 | g)'")
    bar_text = render(tokens[opener:matching_close(tokens, opener) + 1])
    raise FormulaError(
        f"random-effect term {bar_text!r} is inside {render(tokens)!r}: random-effect "
        "terms must be added at the top level of the right-hand side, e.g. "
        "'y ~ x + (1 | g)'")


def _enclosing_open(tokens: list[Token], index: int) -> int | None:
    """Index of the innermost open bracket around ``tokens[index]``, if any."""
    depth = 0
    for i in range(index - 1, -1, -1):
        if tokens[i].kind == "close":
            depth += 1
        elif tokens[i].kind == "open":
            if depth == 0:
                return i
            depth -= 1
    return None
