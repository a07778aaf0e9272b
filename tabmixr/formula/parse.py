"""``parse_formula``: lme4 formula text -> ``ModelSpec``.

The steps, each in its own module:

1. ``tokens.tokenize``: tokens, with quotes and brackets checked;
2. ``bars.split_tilde`` / ``bars.split_terms``: response and additive terms;
3. ``bars.find_bars``: bars apart from fixed terms (lme4's findbars/nobars);
4. ``expand.expand_bar``: ``||``, ``a/b`` and wrapper arguments -> ``RandomTerm``;
5. ``apply_cov_mapping``: TabMixNN-style ``cov={"time": "ar1"}``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping

from tabmixr.errors import FormulaError
from tabmixr.formula.bars import Piece, find_bars, split_terms, split_tilde
from tabmixr.formula.expand import expand_bar
from tabmixr.formula.spec import COVARIANCE_STRUCTURES, ModelSpec, RandomTerm
from tabmixr.formula.syntax import check_formulaic_syntax
from tabmixr.formula.tokens import source_text, tokenize
from tabmixr.formula.wrappers import WRAPPERS, resolve_args


def parse_formula(formula: str, cov: Mapping[str, str] | None = None) -> ModelSpec:
    """Parse an lme4-style mixed-model formula.

    Examples:
        ``parse_formula("Reaction ~ Days + (Days | Subject)")`` gives response
        ``"Reaction"``, fixed ``"Days"`` and one term with lhs ``"1 + Days"``
        and group ``"Subject"``.

    Args:
        formula: ``"response ~ fixed + (lhs | group) + ..."``; the response may
            be any expression (``log(y)``, ``cbind(a, b - a)``) or left out
            (``"~ x"``).  Bars may be wrapped: ``ar1(1 | time)``,
            ``arma(1 | time, p = 1, q = 1)``, ``kin(1 | animal)``,
            ``gp(1 | site, coords = c(x, y), kernel = "matern32")``,
            ``spde(1 | site, coords = c(x, y))``.
        cov: Optional grouping factor -> covariance structure, e.g.
            ``{"time": "ar1"}``; sets the covariance of every unwrapped term
            with that group (with the structure's default arguments).

    Returns:
        The ``ModelSpec``: fixed part as formulaic text (``"1"`` when only
        bars were given), random terms in the order written after expanding
        ``||`` and ``/``.

    Raises:
        FormulaError: For any syntax error, misplaced or malformed bar, unknown
            wrapper or wrapper argument, or a ``cov`` entry that names an
            unknown structure or a group with no term.  The message quotes the
            piece at fault.
    """
    if not isinstance(formula, str):
        raise FormulaError(f"formula must be a string, got {type(formula).__name__}")
    if not formula.strip():
        raise FormulaError("formula is empty; write e.g. 'y ~ x + (1 | g)'")
    tokens = tokenize(formula)
    response_tokens, rhs_tokens = split_tilde(formula, tokens)
    if response_tokens:
        split_terms(formula, response_tokens, f"the response of {formula!r}")
    pieces = split_terms(formula, rhs_tokens, repr(formula))
    fixed_pieces, bars = find_bars(formula, pieces)
    fixed = fixed_text(formula, fixed_pieces)
    check_formulaic_syntax(fixed, "the fixed part")
    random = [term for bar in bars for term in expand_bar(formula, bar)]
    if cov:
        random = apply_cov_mapping(random, cov)
    return ModelSpec(formula=formula, response=source_text(formula, response_tokens).strip(),
                     fixed=fixed, random=tuple(random))


def fixed_text(source: str, pieces: list[Piece]) -> str:
    """The fixed terms in the user's text, joined by ``" + "`` / ``" - "``.

    Args:
        source: The formula text.
        pieces: The right-hand-side terms that are not bars.

    Returns:
        E.g. ``"Days"``, ``"0 + x"``, ``"-1 + x"``; ``"1"`` when no terms remain.
    """
    parts: list[str] = []
    for piece in pieces:
        text = source_text(source, piece.tokens).strip()
        if not parts:
            parts.append(f"-{text}" if piece.sign == "-" else text)
        else:
            parts.append(f"{piece.sign} {text}")
    return " ".join(parts) if parts else "1"


def apply_cov_mapping(terms: list[RandomTerm], cov: Mapping[str, str]) -> list[RandomTerm]:
    """Give every unwrapped (``"us"``) term of a group the structure named in ``cov``.

    Args:
        terms: Parsed random-effect terms.
        cov: Grouping factor (as in ``RandomTerm.group``) -> structure name
            from ``COVARIANCE_STRUCTURES``.

    Returns:
        The terms with covariance and default arguments replaced where mapped.

    Raises:
        FormulaError: For an unknown structure, a structure that needs
            arguments (``gp``, ``spde`` need ``coords``: use the wrapper in the
            formula), or a key that matches no unwrapped term.
    """
    out = list(terms)
    for group, structure in cov.items():
        where = f"cov={{{group!r}: {structure!r}}}"
        if structure not in COVARIANCE_STRUCTURES:
            raise FormulaError(f"unknown covariance structure {structure!r} in {where}; "
                               f"known: {', '.join(COVARIANCE_STRUCTURES)}")
        args = _default_args(structure, where)
        hits = [i for i, term in enumerate(out)
                if term.group == group and term.covariance == "us"]
        if not hits:
            groups = ", ".join(sorted({repr(t.group) for t in out if t.covariance == "us"}))
            raise FormulaError(f"{where} matches no random-effect term; groups of "
                               f"unwrapped terms: {groups or 'none'}")
        for i in hits:
            out[i] = replace(out[i], covariance=structure, covariance_args=dict(args))
    return out


def _default_args(structure: str, where: str) -> dict:
    """Default wrapper arguments of a structure named in a ``cov`` mapping."""
    name = next((name for name, w in WRAPPERS.items() if w.covariance == structure), None)
    if name is None:
        return {}
    try:
        return resolve_args(name, [], where)
    except FormulaError as exc:
        raise FormulaError(f"{exc}; a cov mapping cannot give arguments, so write the "
                           f"wrapper in the formula instead") from exc
