"""Plain values for reticulate: the parts of a fit R builds its S3 object from.

reticulate 1.28 cannot convert numpy 2 arrays (they stay Python objects), so
every array crosses as a flat Python list in column-major (R) order; lists of
floats become R numeric vectors in one C-level pass.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from tabmixr.errors import FamilyError, TabmixError


def plain_for_r(obj: Any) -> Any:
    """Numpy arrays as flat lists in column-major order (R's matrix order).

    Args:
        obj: Nested dicts/lists/tuples holding numpy arrays, numpy scalars
            and plain Python values.

    Returns:
        The same structure with only plain Python values.
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


def restore_factors(data: pd.DataFrame, factors: dict[str, Any] | None) -> pd.DataFrame:
    """Turn R factors sent as 0-based codes (-1 for NA) back into categoricals.

    reticulate converts factor columns one by one through pandas calls made
    from R, which costs more than the fit on small data; R sends the codes
    as integers and the levels here, in one call.

    Args:
        data: The frame reticulate built (factor columns hold codes).
        factors: Column name -> ``{"levels": [...], "ordered": bool}``.

    Returns:
        The frame with those columns as ``pd.Categorical`` (levels kept in
        R's order).
    """
    if not factors:
        return data
    data = data.copy(deep=False)
    for name, spec in factors.items():
        levels = spec.get("levels") or []
        levels = [levels] if isinstance(levels, str) else list(levels)
        codes = np.asarray(data[name], dtype=np.int64)
        data[name] = pd.Categorical.from_codes(codes, categories=levels,
                                               ordered=bool(spec.get("ordered", False)))
    return data


def vector_or_name(value: Any) -> Any:
    """R scalars arrive as Python scalars: keep a column name, make numbers an array."""
    if value is None or isinstance(value, str):
        return value
    return np.atleast_1d(np.asarray(value, dtype=float))


def family_for_python(family: Any) -> Any:
    """R's family, sent as ``list(family = , link = )``, for ``tabmix(family=)``.

    The canonical Gaussian family (identity link) goes as the name
    ``"gaussian"``, which every engine accepts; any other family goes on as
    the dict ``{"family": name, "link": link}`` for the engine to validate.

    Args:
        family: A family name or a dict with keys ``family`` and ``link``.

    Returns:
        A name or a dict.

    Raises:
        FamilyError: a dict without a ``family`` name.
    """
    if family is None or isinstance(family, str):
        return family or "gaussian"
    if isinstance(family, dict):
        name = family.get("family")
        if not isinstance(name, str) or not name:
            raise FamilyError(f"family must name a family, got {family!r}")
        link = family.get("link")
        if name == "gaussian" and link in (None, "identity"):
            return "gaussian"
        return {"family": name, "link": link}
    return family


def _vec(value: Any) -> np.ndarray:
    if value is None:
        return np.zeros(0)
    return np.asarray(value, dtype=float).reshape(-1)


def _matrix(value: Any, nrow: int) -> np.ndarray:
    if value is None:
        return np.zeros((nrow, 0))
    return np.asarray(value, dtype=float).reshape(nrow, -1)


def _term_parts(term: Any, n: int) -> dict[str, Any]:
    q = len(term.columns)
    levels = [str(level) for level in term.levels]
    cond_var = term.cond_var
    if cond_var is None:
        cv = np.full((len(levels), q, q), np.nan)
    else:
        cv = np.asarray(cond_var, dtype=float).reshape(len(levels), q, q)
    cond_sd = np.sqrt(np.clip(np.diagonal(cv, axis1=1, axis2=2), 0.0, None))
    return {"group": str(term.group), "columns": [str(c) for c in term.columns],
            "levels": levels,
            "cov": np.atleast_2d(np.asarray(term.cov, dtype=float)).reshape(q, q),
            "b": _matrix(term.b, len(levels)), "cond_sd": cond_sd,
            "cond_var": np.transpose(cv, (1, 2, 0)),
            "X": _matrix(term.X, n), "codes": np.asarray(term.codes, dtype=np.int64) + 1}


def _loglik(fit: Any) -> dict[str, Any] | None:
    try:
        ll = fit.loglik()
    except TabmixError:
        return None
    return {"value": float(ll), "df": int(ll.df), "nobs": int(ll.nobs)}


def _summary_text(fit: Any) -> str:
    try:
        return str(fit.summary())
    except TabmixError as err:
        return f"{type(err).__name__}: {err}"


def fit_parts(fit: Any, summary_text: bool = True) -> dict[str, Any]:
    """The parts of a ``MixedFit`` the R object is built from (arrays kept numpy).

    Keys: ``json`` (``to_dict()`` as text), ``method``, ``family``, ``reml``,
    ``formula``, ``response_name``, ``data_name``, ``nobs``,
    ``fixed_names``, ``beta``, ``vcov``, ``sigma``, ``theta``,
    ``criterion``, ``loglik`` (``value, df, nobs`` or ``None``), ``terms``
    (per term: ``group, columns, levels, cov, b, cond_sd, cond_var``
    (``q x q x levels``), ``X, codes`` with 1-based codes), ``X``, ``fitted``,
    ``y``, ``weights``, ``offset``,
    ``singular``, ``messages``, ``fit_time``, ``summary_text``,
    ``optimizer`` (``converged``, ``optimizer``, ``feval``).

    Args:
        fit: A ``MixedFit``.
        summary_text: Format ``fit.summary()`` (the R package formats the
            summary of exact-engine fits itself and skips this).

    Returns:
        Dict of plain values and numpy arrays (pass it to ``plain_for_r``).
    """
    n = int(fit.nobs)
    names = [str(c) for c in fit.fixed_names]
    p = len(names)
    opt = fit.optimizer or {}
    return {
        "json": json.dumps(fit.to_dict()),
        "schema_version": 2,
        "method": str(fit.method), "family": str(fit.family), "reml": bool(fit.reml),
        "formula": str(fit.formula), "response_name": str(fit.response_name),
        "data_name": fit.extra.get("data_name"),
        "weights_name": fit.extra.get("weights_name"),
        "offset_name": fit.extra.get("offset_name"),
        "nobs": n, "fixed_names": names,
        "beta": _vec(fit.beta),
        "vcov": _matrix(fit.vcov_beta, p) if fit.vcov_beta is not None else np.full((p, p), np.nan),
        "sigma": float(fit.sigma) if fit.sigma is not None else float("nan"),
        "theta": _vec(fit.theta),
        "criterion": float(fit.criterion) if fit.criterion is not None else float("nan"),
        "loglik": _loglik(fit),
        "terms": [_term_parts(t, n) for t in fit.terms],
        "X": _matrix(fit.X, n),
        "fitted": _vec(fit.fitted), "y": _vec(fit.y),
        "weights": None if fit.weights is None else _vec(fit.weights),
        "offset": None if fit.offset is None else _vec(fit.offset),
        "singular": bool(fit.singular),
        "messages": [str(m) for m in fit.messages],
        "fit_time": float(fit.fit_time),
        "summary_text": _summary_text(fit) if summary_text else "",
        "optimizer": {"converged": bool(opt.get("converged", True)),
                      "optimizer": str(opt.get("optimizer", "")),
                      "feval": int(opt.get("feval", opt.get("n_evaluations", 0)) or 0)},
    }
