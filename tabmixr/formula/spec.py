"""Plain-data result of parsing a model formula (the ``ModelSpec``).

Parsing (``tabmixr.formula.parse_formula``) turns a string such as
``"Reaction ~ Days + (Days | Subject)"`` into a frozen ``ModelSpec``.  The spec
holds text, not data: the design stage materializes it against a data frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Covariance structures a random-effect term may carry.  ``"us"`` is lme4's
#: unstructured covariance (the default for ``(x | g)``); ``||`` produces
#: several ``"us"`` terms with one column each, as lme4 does.
COVARIANCE_STRUCTURES = ("us", "ar1", "arma", "kin", "gp", "spde")


@dataclass(frozen=True)
class RandomTerm:
    """One random-effect term ``(lhs | group)``.

    Attributes:
        lhs: Formula text of the left side, formulaic-compatible, e.g.
            ``"1 + Days"``, ``"0 + Days"``, ``"1"``.  An implicit intercept is
            written out (``"Days"`` becomes ``"1 + Days"``) so the text alone
            says whether the term has an intercept.
        group: The grouping factor as printed by lme4, e.g. ``"Subject"`` or
            ``"a:b"`` (interaction of columns, from ``a:b`` or ``a/b``).
        group_vars: Data columns whose combination forms the groups, in order,
            e.g. ``("a", "b")`` for ``"a:b"``.
        covariance: One of ``COVARIANCE_STRUCTURES``.
        covariance_args: Wrapper arguments, e.g. ``{"p": 1, "q": 1}`` or
            ``{"coords": ("x", "y"), "kernel": "matern32"}``.  Values are
            Python scalars, strings or tuples of strings.
        text: The term as written by the user, spacing normalized, for error
            messages, e.g. ``"(Days | Subject)"`` or ``"ar1(1 | time)"``.  A term
            expanded from ``(x || g)`` or ``(x | a/b)`` carries the expanded
            piece, e.g. ``"(0 + x | g)"`` or ``"(x | a:b)"``.
        from_double_bar: True when the term came from splitting ``(x || g)``.
    """

    lhs: str
    group: str
    group_vars: tuple[str, ...]
    covariance: str = "us"
    covariance_args: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)
    text: str = ""
    from_double_bar: bool = False


@dataclass(frozen=True)
class ModelSpec:
    """A parsed mixed-model formula.

    Attributes:
        formula: The formula text as given.
        response: Left side text, e.g. ``"Reaction"``, ``"log(y)"`` or
            ``"cbind(incidence, size - incidence)"``; ``""`` when one-sided.
        fixed: Right side of the fixed part, formulaic-compatible, e.g.
            ``"1 + Days"`` or ``"0 + x"``; ``offset(...)`` terms stay in it.
        random: The random-effect terms after expanding ``||``, ``/`` and
            ``a:b`` grouping, in the order written.
    """

    formula: str
    response: str
    fixed: str
    random: tuple[RandomTerm, ...]

    @property
    def has_random(self) -> bool:
        """Whether the formula has at least one random-effect term."""
        return len(self.random) > 0
