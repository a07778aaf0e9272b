"""Fit for R, rebuild a fit from R's stored JSON, run a method on it."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from tabmixr.api import tabmix
from tabmixr.bridge.plain import (family_for_python, fit_parts, plain_for_r, restore_factors,
                                  vector_or_name)
from tabmixr.results import MixedFit
from tabmixr.results.errors import ArgumentError

#: Methods ``call_method`` may run on a rebuilt fit.
METHODS = ("predict", "simulate", "summary_text", "confint", "residuals")


def parts_for_r(fit: MixedFit, summary_text: bool = True) -> dict[str, Any]:
    """Everything the R object holds, as plain values, plus the fit's JSON.

    See ``tabmixr.bridge.plain.fit_parts`` for the keys.  Varcorr, ranef and
    coef tables are built on the R side from ``terms`` (one pandas-free pass
    here keeps the R call cheap).
    """
    return plain_for_r(fit_parts(fit, summary_text=summary_text))


def relmat_from_r(relmat: Any) -> Any:
    """``relmat=`` as reticulate hands it over from R, made ready for ``tabmix``.

    R's ``NA`` in a character column arrives as the text ``"NA"``: in the
    ``sire`` and ``dam`` columns of a pedigree data frame it means "unknown
    parent" and becomes ``None`` (an animal called ``"NA"`` would otherwise
    become every unknown parent).  Matrices come as data frames with the ids
    as row names and column names (``as.data.frame(K)``).

    Args:
        relmat: ``None`` or a dict of name -> data frame or matrix.

    Returns:
        The same mapping with pedigree frames cleaned (other values unchanged).
    """
    if not isinstance(relmat, dict):
        return relmat
    out = {}
    for name, value in relmat.items():
        if isinstance(value, pd.DataFrame):
            lower = {str(c).lower(): c for c in value.columns}
            if all(k in lower for k in ("id", "sire", "dam")):
                value = value.copy()
                for key in ("sire", "dam"):
                    col = value[lower[key]].astype(object)
                    value[lower[key]] = col.where(col != "NA", None)
        out[name] = value
    return out


def fit_for_r(formula: str, data: pd.DataFrame, family: Any = "gaussian", method: str = "reml",
              weights: Any = None, offset: Any = None, na_action: str = "omit",
              verbose: bool = False, data_name: str | None = None,
              weights_name: str | None = None, offset_name: str | None = None,
              summary_text: bool = True, factors: dict[str, Any] | None = None,
              **options: Any) -> dict[str, Any]:
    """Run ``tabmix`` and return ``parts_for_r`` of the fit.

    Args:
        formula: Formula text (R's deparsed formula).
        data: The data frame reticulate made of R's ``data.frame``.
        family: A name or R's ``list(family=, link=)`` (see
            ``family_for_python``).
        method: Engine name.
        weights, offset: Column names or numeric vectors.
        na_action: ``"omit"`` or ``"fail"``.
        verbose: Print the optimizer trace.
        data_name, weights_name, offset_name: Expressions as the user wrote
            them in R; printed by ``summary`` (``Data:``, ``Weights:``,
            ``Offset:``).
        summary_text: Send ``fit.summary()`` as text (R formats the
            summary of exact-engine fits itself).
        factors: Factor columns R sent as codes (see ``restore_factors``).
        **options: Engine options, and ``relmat`` (see ``relmat_from_r``).

    Returns:
        ``parts_for_r(fit)``.

    Raises:
        TabmixError: whatever ``tabmix`` raises, unchanged.
    """
    data = restore_factors(data, factors)
    if "relmat" in options:
        options["relmat"] = relmat_from_r(options["relmat"])
    fit = tabmix(formula, data, family=family_for_python(family), method=method,
                 weights=vector_or_name(weights), offset=vector_or_name(offset),
                 na_action=na_action, verbose=bool(verbose), data_name=data_name, **options)
    for key, value in (("weights_name", weights_name), ("offset_name", offset_name)):
        if value:
            fit.extra[key] = str(value)
    return parts_for_r(fit, summary_text=summary_text)


def fit_from_json(text: str) -> MixedFit:
    """Rebuild the fit from the JSON text R stored (``MixedFit.from_dict``)."""
    return MixedFit.from_dict(json.loads(text))


def call_method(fit_json: str, name: str, **kwargs: Any) -> Any:
    """Rebuild the fit and run one of ``METHODS`` on it; results are plain.

    ``predict`` gives a numeric array (``newdata`` may come with
    ``factors``, see ``restore_factors``); ``simulate`` a dict of arrays (one per
    simulation, keyed ``sim_1``...); ``summary_text`` the summary string.

    Raises:
        ArgumentError: ``name`` is not one of ``METHODS``.
        TabmixError: whatever the method raises, unchanged.
    """
    if name not in METHODS:
        raise ArgumentError(f"call_method cannot run {name!r}; known: {', '.join(METHODS)}")
    fit = fit_from_json(fit_json)
    if name == "predict":
        re_form = kwargs.get("re_form")
        newdata = kwargs.get("newdata")
        if newdata is not None:
            newdata = restore_factors(newdata, kwargs.get("factors"))
        pred = fit.predict(newdata=newdata, re_form=re_form,
                           allow_new_levels=bool(kwargs.get("allow_new_levels", False)))
        return np.asarray(pred, dtype=float).reshape(-1).tolist()
    if name == "simulate":
        seed = kwargs.get("seed")
        sims = fit.simulate(nsim=int(kwargs.get("nsim", 1)),
                            seed=None if seed is None else int(seed))
        return {str(c): sims[c].to_numpy(dtype=float).tolist() for c in sims.columns}
    if name == "summary_text":
        return str(fit.summary())
    if name == "residuals":
        return np.asarray(fit.residuals(**kwargs), dtype=float).reshape(-1).tolist()
    table = fit.confint(**kwargs)
    return plain_for_r({"levels": [str(i) for i in table.index],
                        "columns": [str(c) for c in table.columns],
                        "values": table.to_numpy(dtype=float)})
