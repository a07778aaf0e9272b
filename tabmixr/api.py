"""``tabmix()``: the one entry point, formula + data -> ``MixedFit``.

It walks the pipeline of DESIGN.md: ``parse_formula`` -> ``build_design`` ->
the engine registered for ``method`` -> ``MixedFit``.  Each stage is public
as well, so a user or a test can stop after any of them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from tabmixr.design import build_design
from tabmixr.engines import get_engine
from tabmixr.errors import DesignError, FormulaError, TabmixError
from tabmixr.families import get_family
from tabmixr.formula import parse_formula


def _family_name(family: Any) -> str:
    """The family's name for engine checks: a string, a ``Family``, an R dict
    (``{"family": ...}``) or a list of them (several responses, ``"+"``-joined)."""
    if isinstance(family, (list, tuple)):
        return "+".join(_family_name(f) for f in family)
    if isinstance(family, dict):
        return str(family.get("family", family.get("name", family)))
    return getattr(family, "name", family)


def _response_kind(family: Any) -> str:
    """What the design keeps of the response: ``"categorical"`` (factors, strings,
    booleans as they are) for a single ordinal/categorical family, else ``"numeric"``.

    Several families (multitask, ``cbind`` responses) need numeric columns.
    """
    if isinstance(family, (list, tuple)):
        return "numeric"
    try:
        return get_family(family).response_kind
    except TabmixError:
        return "numeric"  # an unknown family is reported by the engine, with its own message


def _absorbs_intercept(family: Any) -> bool:
    """Whether a single family's parameters absorb the fixed intercept (ordinal)."""
    if isinstance(family, (list, tuple)):
        return False
    try:
        return bool(get_family(family).absorbs_intercept)
    except TabmixError:
        return False


def tabmix(formula: str, data: pd.DataFrame, family: str = "gaussian", method: str = "reml", *,
           weights: Any = None, offset: Any = None, na_action: str = "omit",
           verbose: bool = False, data_name: str | None = None, relmat: dict | None = None,
           cov: dict | None = None, **options: Any):
    """Fit a mixed-effects model written in lme4's formula language.

    Args:
        formula: e.g. ``"Reaction ~ Days + (Days | Subject)"``.
        data: The data frame holding every variable of the formula.
        family: Outcome family: a name, a ``tabmixr.families.Family``, an R
            family as a dict, or (``method="vi"``) a list with one family per
            ``cbind()`` response column (multitask); the exact engine fits
            ``"gaussian"`` only.
        method: ``"reml"`` (default) or ``"ml"`` for the exact engine,
            ``"vi"`` for the neural engine.
        weights: Prior weights: a column name or an array of length ``n``.
        offset: Offset: a column name or an array (``offset()`` in the
            formula works too).
        na_action: ``"omit"`` (lme4's default ``na.omit``) drops incomplete
            rows and reports them; ``"fail"`` raises instead.
        verbose: Print the optimizer trace.
        data_name: Name of the data shown in ``summary()`` (``"Data: ..."``).
        relmat: Pedigrees and relationship matrices for ``kin()`` terms, by
            the name the formula gives them (``kin(1 | animal, pedigree = ped)``
            -> ``{"ped": df}``; a bare ``kin(1 | animal)`` looks up
            ``"animal"``): a data frame with ``id``, ``sire``, ``dam`` columns
            (unknown parents missing), a ``tabmixr.kinship.Pedigree``, or a
            matrix (data frame with ids as index and columns).
        cov: Covariance structures by grouping factor, for terms written
            without a wrapper: ``{"time": "ar1"}`` fits ``(1 | time)`` as
            ``ar1(1 | time)`` (the structure's default arguments; ``gp`` and
            ``spde`` need ``coords``, so write their wrappers in the formula).
        **options: Engine options (e.g. ``start`` for the exact engine).

    Returns:
        A ``tabmixr.results.MixedFit``.

    Raises:
        FormulaError: the formula cannot be parsed.
        DesignError: the data do not fit the formula (``RelationshipError``:
            a kin term's pedigree or matrix is missing or unusable).
        EngineError: the method cannot fit this model.
    """
    if not isinstance(data, pd.DataFrame):
        raise DesignError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    engine = get_engine(method)
    engine.check_family(method, _family_name(family))
    if cov is not None and not isinstance(cov, dict):
        raise FormulaError(f"cov must be a dict of grouping factor -> structure name, e.g. "
                           f"{{'time': 'ar1'}}; got {type(cov).__name__}")
    spec = parse_formula(formula, cov=cov)
    design = build_design(spec, data, weights=weights, offset=offset, na_action=na_action,
                          relmat=relmat, response_kind=_response_kind(family),
                          drop_intercept=_absorbs_intercept(family))
    engine.check_design(design)
    if getattr(engine, "accepts_family", False):
        options["family"] = family
    fit = engine.fit(design, method, verbose=verbose, **options)
    if data_name is not None:
        fit.extra["data_name"] = data_name
    return fit
