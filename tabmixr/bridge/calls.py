"""Fit for R, rebuild a fit from R's stored JSON, run a method on it."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from tabmixr.api import tabmix
from tabmixr.results.errors import ArgumentError
from tabmixr.results import MixedFit

#: Methods ``call_method`` may run on a rebuilt fit.
METHODS = ("predict", "simulate", "summary_text", "confint", "residuals")


def plain_for_r(obj: Any) -> Any:
    """Numpy arrays as flat lists in column-major order (R's matrix order).

    reticulate leaves numpy arrays nested in a dict as Python objects (and
    reticulate 1.28 cannot convert numpy 2 arrays), so nothing numpy crosses.
    """
    if isinstance(obj, dict):
        return {str(k): plain_for_r(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain_for_r(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.ravel(order="F").tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _vector_or_name(value: Any) -> Any:
    """R scalars arrive as Python scalars: keep a column name, make numbers an array."""
    if value is None or isinstance(value, str):
        return value
    return np.atleast_1d(np.asarray(value, dtype=float))


def _frame_parts(frame: pd.DataFrame) -> dict[str, Any]:
    return {"levels": [str(i) for i in frame.index], "columns": [str(c) for c in frame.columns],
            "values": np.asarray(frame.to_numpy(dtype=float), dtype=float).reshape(frame.shape)}


def parts_for_r(fit: MixedFit) -> dict[str, Any]:
    """Everything the R object holds, as plain values, plus the fit's JSON."""
    ll = fit.loglik()
    vc = fit.varcorr()
    ranef = fit.ranef(cond_var=True)
    terms = [{"group": t.group, "columns": list(t.columns),
              "cov": np.atleast_2d(np.asarray(t.cov, dtype=float))} for t in fit.terms]
    return plain_for_r({
        "json": json.dumps(fit.to_dict()),
        "schema_version": 1,
        "method": fit.method, "family": fit.family, "reml": bool(fit.reml),
        "formula": fit.formula, "response_name": fit.response_name,
        "data_name": fit.extra.get("data_name"),
        "nobs": int(fit.nobs),
        "fixed_names": list(fit.fixed_names),
        "beta": np.asarray(fit.beta, dtype=float).reshape(-1),
        "vcov": np.asarray(fit.vcov_beta, dtype=float).reshape(len(fit.fixed_names), -1),
        "sigma": float(fit.sigma), "theta": np.asarray(fit.theta, dtype=float).reshape(-1),
        "criterion": float(fit.criterion),
        "loglik": {"value": float(ll), "df": int(ll.df), "nobs": int(ll.nobs)},
        "varcorr": {"grp": [str(g) for g in vc["grp"]],
                    "var1": ["" if v is None else str(v) for v in vc["var1"]],
                    "var2": ["" if v is None else str(v) for v in vc["var2"]],
                    "vcov": vc["vcov"].to_numpy(dtype=float),
                    "sdcor": vc["sdcor"].to_numpy(dtype=float)},
        "terms": terms,
        "ranef": {g: dict(_frame_parts(f), cond_sd=np.asarray(
            f.attrs["cond_sd"].to_numpy(dtype=float)).reshape(f.shape))
            for g, f in ranef.items()},
        "coef": {g: _frame_parts(f) for g, f in fit.coef().items()},
        "ngrps": {g: int(n) for g, n in fit.ngrps().items()},
        "fitted": np.asarray(fit.fitted, dtype=float).reshape(-1),
        "residuals": np.asarray(fit.residuals(), dtype=float).reshape(-1),
        "y": np.asarray(fit.y, dtype=float).reshape(-1),
        "singular": bool(fit.singular),
        "messages": [str(m) for m in fit.messages],
        "summary_text": str(fit.summary()),
    })


def fit_for_r(formula: str, data: pd.DataFrame, family: str = "gaussian", method: str = "reml",
              weights: Any = None, offset: Any = None, na_action: str = "omit",
              verbose: bool = False, data_name: str | None = None,
              **options: Any) -> dict[str, Any]:
    """Run ``tabmix`` and return ``parts_for_r`` of the fit.

    Raises:
        TabmixError: whatever ``tabmix`` raises, unchanged.
    """
    fit = tabmix(formula, data, family=family, method=method,
                 weights=_vector_or_name(weights), offset=_vector_or_name(offset),
                 na_action=na_action, verbose=bool(verbose), data_name=data_name, **options)
    return parts_for_r(fit)


def fit_from_json(text: str) -> MixedFit:
    """Rebuild the fit from the JSON text R stored (``MixedFit.from_dict``)."""
    return MixedFit.from_dict(json.loads(text))


def call_method(fit_json: str, name: str, **kwargs: Any) -> Any:
    """Rebuild the fit and run one of ``METHODS`` on it; results are plain.

    ``predict`` gives a numeric array; ``simulate`` a dict of arrays (one per
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
        pred = fit.predict(newdata=kwargs.get("newdata"), re_form=re_form,
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
    return plain_for_r(_frame_parts(fit.confint(**kwargs)))
