"""Posterior draws of an amortized fit as plain arrays, a brms-like table, arviz.

An amortized ``MixedFit`` keeps, in ``fit.extra["draws"]``, a dict of arrays
with one row per draw (after importance resampling, so the draws are
unweighted): ``b_<name>`` for fixed effects, ``sd_<group>__<column>``,
``cor_<group>__<col1>__<col2>``, ``sigma``, and ``r_<group>`` with shape
``(S, n_levels, q)`` for the random effects - brms's names.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tabmixr.errors import EngineError


def _draws(fit) -> dict[str, np.ndarray]:
    draws = fit.extra.get("draws")
    if draws is None:
        raise EngineError(f"this fit (method={fit.method!r}) holds no posterior draws; "
                          "use method='amortized'")
    return draws


def posterior_summary(fit, level: float = 0.95) -> pd.DataFrame:
    """brms-like table of the global parameters.

    Args:
        fit: A fit holding draws.
        level: Central interval level.

    Returns:
        DataFrame with ``Estimate``, ``Est.Error``, ``l-95% CI``, ``u-95% CI``
        (named after ``level``) and ``ESS`` (the importance-sampling effective
        sample size, the same for every row).

    Raises:
        EngineError: the fit holds no draws.
    """
    draws = _draws(fit)
    lo_name, hi_name = f"l-{round(100 * level)}% CI", f"u-{round(100 * level)}% CI"
    rows = {}
    for name, x in draws.items():
        if name.startswith("r_"):
            continue
        x = np.asarray(x, dtype=float)
        rows[name] = {"Estimate": x.mean(), "Est.Error": x.std(ddof=1),
                      lo_name: np.quantile(x, (1 - level) / 2), hi_name: np.quantile(x, (1 + level) / 2),
                      "ESS": fit.extra.get("ess", float(len(x)))}
    return pd.DataFrame.from_dict(rows, orient="index")


def to_arviz(fit):
    """``arviz.InferenceData`` of the draws (one chain).

    Raises:
        EngineError: the fit holds no draws.
    """
    import arviz as az

    draws = _draws(fit)
    posterior = {name: np.asarray(x)[None] for name, x in draws.items()}
    dims, coords = {}, {}
    for term in fit.terms:
        key = f"r_{term.group}"
        if key in posterior:
            dims[key] = [f"{term.group}_level", f"{term.group}_coef"]
            coords[f"{term.group}_level"] = list(term.levels)
            coords[f"{term.group}_coef"] = list(term.columns)
    return az.from_dict(posterior=posterior, dims=dims, coords=coords)
