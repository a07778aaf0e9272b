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


def uses_calibrated_intervals(fit) -> bool:
    """Does the summary report the conformally calibrated intervals (k-hat > 0.7)?"""
    return bool(fit.extra.get("intervals")) and not fit.extra.get("pareto_k", float("inf")) <= 0.7


def posterior_summary(fit, level: float = 0.95) -> pd.DataFrame:
    """brms-like table of the global parameters.

    Args:
        fit: A fit holding draws.
        level: Central interval level.

    Returns:
        DataFrame with ``Estimate``, ``Est.Error``, ``l-95% CI``, ``u-95% CI``
        (named after ``level``) and ``ESS`` (the importance-sampling effective
        sample size, the same for every row).  Estimates, errors and intervals
        come from the importance-weighted draws (``extra["weighted_posterior"]``:
        the fixed effects through their exact Gaussian conditionals,
        ``rao_blackwell.py``; a fit without it: the resampled draws), the
        posterior itself, while importance sampling is reliable (Pareto
        k-hat <= 0.7); otherwise, at a
        level the shipped conformal calibration covers (``fit.extra["intervals"]``:
        50, 68, 80, 90 and 95%), the calibrated endpoints, which cover on
        simulated data sets whatever the proposal's quality.

    Raises:
        EngineError: the fit holds no draws.
    """
    draws = _draws(fit)
    calibrated = fit.extra.get("intervals") or {} if uses_calibrated_intervals(fit) else {}
    weighted = fit.extra.get("weighted_posterior")
    table = weighted.table(level) if weighted is not None else {}
    lo_name, hi_name = f"l-{round(100 * level)}% CI", f"u-{round(100 * level)}% CI"
    rows = {}
    for name, x in draws.items():
        if name.startswith("r_"):
            continue
        x = np.asarray(x, dtype=float)
        w = table.get(name) or {"Estimate": x.mean(), "Est.Error": x.std(ddof=1),
                                "lower": np.quantile(x, (1 - level) / 2),
                                "upper": np.quantile(x, (1 + level) / 2)}
        lo, hi = calibrated.get(name, {}).get(round(level, 10)) or (w["lower"], w["upper"])
        rows[name] = {"Estimate": w["Estimate"], "Est.Error": w["Est.Error"], lo_name: lo, hi_name: hi,
                      "ESS": fit.extra.get("ess", float(len(x)))}
    return pd.DataFrame.from_dict(rows, orient="index")


def posterior_predict(fit, newdata=None, allow_new_levels: bool = False, seed=None) -> np.ndarray:
    """Draws of the response from the posterior predictive (brms's ``posterior_predict``).

    Each posterior draw ``s`` gives ``y_rep = X beta_s + Z b_s + sigma_s eps``.
    A level not seen in the fit (``allow_new_levels``) gets fresh effects
    ``b ~ N(0, Sigma_s)`` per draw (brms's ``sample_new_levels = "gaussian"``).

    Args:
        fit: An amortized fit.
        newdata: Rows to predict (``None``: the fitted rows).
        allow_new_levels: Let new grouping levels through.
        seed: Seed or ``numpy.random.Generator`` of the noise.

    Returns:
        ``(n_draws, n_rows)`` array.

    Raises:
        EngineError: the fit holds no draws.
        NewLevelError: new levels while ``allow_new_levels`` is False.
    """
    from tabmixr.errors import NewLevelError

    draws = _draws(fit)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    term = fit.terms[0]
    beta = np.column_stack([draws[f"b_{n}"] for n in fit.fixed_names])
    sigma = np.asarray(draws["sigma"])
    b = np.asarray(draws[f"r_{term.group}"])                       # (S, L, q)
    if newdata is None:
        X, Xt, codes = np.asarray(fit.X, float), np.asarray(term.X, float), np.asarray(term.codes)
    else:
        new = fit._encode_newdata(newdata, [True] * len(fit.terms), allow_new_levels)
        X, Xt = np.asarray(new.X, float), np.asarray(new.terms[0].X, float)
        codes = np.asarray(new.terms[0].codes, dtype=int)
        if (codes < 0).any():
            if not allow_new_levels:
                raise NewLevelError(f"newdata has levels of {term.group!r} that the fit has not seen; "
                                    "pass allow_new_levels=True to draw their effects from the prior")
            sd = np.column_stack([draws[f"sd_{term.group}__{c}"] for c in term.columns])
            R = np.broadcast_to(np.eye(len(term.columns)), (len(sd),) + (len(term.columns),) * 2).copy()
            for i in range(len(term.columns)):
                for j in range(i):
                    R[:, i, j] = R[:, j, i] = draws[f"cor_{term.group}__{term.columns[j]}__{term.columns[i]}"]
            cov = sd[:, :, None] * R * sd[:, None, :]
            L = np.linalg.cholesky(cov + 1e-12 * np.eye(len(term.columns)))
            fresh = np.einsum("sij,sj->si", L, rng.standard_normal(sd.shape))
            b = np.concatenate([b, fresh[:, None, :]], 1)            # index -1: a new level
    mean = beta @ X.T + np.einsum("nq,snq->sn", Xt, b[:, codes, :])
    return mean + sigma[:, None] * rng.standard_normal(mean.shape)


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
