"""Conformal calibration of a trained model on simulated calibration sets.

Draws ``n_sets`` data sets from the simulator (a seed not used in training;
packed rows, ``summaries.sample_packed``, padded per batch afterwards),
computes each set's posterior (flow draws, optionally importance-weighted
with PSIS as in a fit, the fixed effects then Rao-Blackwellized as in a fit:
``rao_blackwell.py``), and learns per-parameter endpoint corrections with
``conformal.calibrate``.  Parameters are named on the data scale::

    beta[0..P_MAX-1]   sd[0..Q_MAX-1]   cor[0..K_MAX-1]   sigma

(``cor`` in ``torch.tril_indices(Q_MAX, Q_MAX, -1)`` order); a parameter
absent from a set (masked) does not enter its corrections.

Command line (after training; writes the shipped file)::

    python -m tabmixr.engines.amortized.calibration --checkpoint runs/v1/checkpoint.pt \
        --n-sets 5000 --n-test 2000 --n-draws 1000 --out tabmixr/engines/amortized/weights/amortized.pt

It prints, on fresh test sets, the acceptance numbers of issue 7: recovery
correlation of posterior means with the truth per parameter, and coverage
error before and after calibration averaged over the alphas.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from tabmixr.engines.amortized.conformal import DEFAULT_ALPHAS, ConformalCalibration, calibrate
from tabmixr.engines.amortized.importance import log_weights, psis, reliability_class
from tabmixr.engines.amortized.networks.model import AmortizedModel
from tabmixr.engines.amortized.parameters import K_MAX, P_MAX, Q_MAX, GlobalParams, phi_mask
from tabmixr.engines.amortized.laplace import sample_mixture_posterior
from tabmixr.engines.amortized.posterior import sample_posterior
from tabmixr.engines.amortized.rao_blackwell import (fixed_effects_conditional, mixture_summary,
                                                     weighted_quantile)
from tabmixr.engines.amortized.simulator import Simulator
from tabmixr.engines.amortized.summaries import sample_packed

PARAM_NAMES = tuple([f"beta[{j}]" for j in range(P_MAX)] + [f"sd[{k}]" for k in range(Q_MAX)]
                    + [f"cor[{k}]" for k in range(K_MAX)] + ["sigma"])


def theta_vector(params: GlobalParams) -> torch.Tensor:
    """``(..., D)`` data-scale vector ``[beta, sd, cor, sigma]`` in ``PARAM_NAMES`` order."""
    rows, cols = torch.tril_indices(Q_MAX, Q_MAX, offset=-1)
    return torch.cat([params.beta, params.sd, params.corr[..., rows, cols], params.sigma[..., None]], -1)


def posterior_intervals(model: AmortizedModel, simulator: Simulator, n_sets: int,
                        n_draws: int = 1000, batch_size: int = 32, alphas=DEFAULT_ALPHAS,
                        importance: bool = True, seed: int = 0,
                        proposal: str = "mixture") -> dict[str, np.ndarray]:
    """Central posterior intervals of ``model`` on simulated sets, with the truth.

    Args:
        model: The model to evaluate.
        simulator: Source of data sets (use a seed unseen in training).
        n_sets: Number of data sets.
        n_draws: Posterior draws per set.
        batch_size: Sets simulated at once.
        alphas: Interval levels.
        importance: Weight the draws by PSIS, as a fit does.
        seed: Seed of the posterior draws.
        proposal: ``"mixture"`` (flow + Laplace-t, as a fit) or ``"flow"``.

    Returns:
        Dict of arrays: ``truth``, ``mean``, ``sd``, ``active`` ``(n_sets, D)``,
        ``lower``, ``upper`` ``(n_sets, D, n_alphas)``, ``D = len(PARAM_NAMES)``,
        and ``pareto_k`` ``(n_sets,)`` (NaN without importance sampling).
    """
    g = torch.Generator().manual_seed(seed)
    probs = [a / 2 for a in alphas] + [1 - a / 2 for a in alphas]
    truth, lower, upper, sds, means, active, khat = [], [], [], [], [], [], []
    done = 0
    while done < n_sets:
        batch = sample_packed(simulator, min(batch_size, n_sets - done)).to_batch()
        draws = sample_mixture_posterior(model, batch, n_draws, g) if proposal == "mixture" \
            else sample_posterior(model, batch, n_draws, g, with_effects=False)
        lw = log_weights(draws, batch.prior) if importance else None
        x = theta_vector(draws.params)
        if importance:                           # the fixed effects' exact conditionals, as a fit uses
            cond_mean, cond_cov = fixed_effects_conditional(draws.params, draws.stats, batch.prior,
                                                            batch.fixed_mask)
            cond_sd = torch.sqrt(torch.diagonal(cond_cov, dim1=-2, dim2=-1).clamp(min=0))
        for i in range(x.shape[1]):
            finite = torch.isfinite(x[:, i]).all(-1)          # overflowed draws: no weight
            res = psis(lw[:, i]) if importance else None
            khat.append(res.pareto_k if importance else float("nan"))
            w = torch.exp(res.log_weights) if importance else finite.to(x.dtype)
            w = torch.where(finite, w, torch.zeros_like(w))
            w = w / w.sum()
            xi = torch.where(finite[:, None], x[:, i], torch.zeros_like(x[:, i]))
            mean = (w[:, None] * xi).sum(0)
            means.append(mean)
            sds.append(torch.sqrt((w[:, None] * (xi - mean) ** 2).sum(0)))
            qs = torch.as_tensor(np.stack([weighted_quantile(xi[:, d].numpy(), w.numpy(), probs)
                                           for d in range(xi.shape[1])]), dtype=xi.dtype)
            if importance:
                _rao_blackwellize(i, w, cond_mean, cond_sd, batch.fixed_mask, probs, means[-1], sds[-1], qs)
            lower.append(qs[:, :len(alphas)])
            upper.append(qs[:, len(alphas):])
        truth.append(theta_vector(batch.params))
        active.append(phi_mask(batch.fixed_mask, batch.re_mask))
        done += batch.X.shape[0]
    return {"truth": torch.cat(truth).numpy(), "lower": torch.stack(lower).numpy(),
            "upper": torch.stack(upper).numpy(), "sd": torch.stack(sds).numpy(),
            "mean": torch.stack(means).numpy(), "active": torch.cat(active).numpy(),
            "pareto_k": np.asarray(khat)}


def _rao_blackwellize(i, w, cond_mean, cond_sd, fixed_mask, probs, mean, sd, qs) -> None:
    """Overwrite data set ``i``'s fixed-effect mean, SD and quantiles (in place) by their
    Rao-Blackwellized values (``rao_blackwell.py``), unless a weighted conditional is not finite."""
    cols = fixed_mask[i].nonzero()[:, 0]
    used = w > 0
    m, s_ = cond_mean[:, i][:, cols], cond_sd[:, i][:, cols]
    if not (torch.isfinite(m[used]).all() and torch.isfinite(s_[used]).all()):
        return
    m, s_ = torch.where(used[:, None], m, 0.0), torch.where(used[:, None], s_, 0.0)
    rb_mean, rb_sd, rb_q = mixture_summary(w.numpy(), m.numpy(), s_.numpy(), probs)
    mean[cols] = torch.as_tensor(rb_mean, dtype=mean.dtype)
    sd[cols] = torch.as_tensor(rb_sd, dtype=sd.dtype)
    qs[cols] = torch.as_tensor(rb_q.T, dtype=qs.dtype)


def calibrate_model(model: AmortizedModel, simulator: Simulator, n_sets: int, n_draws: int = 1000,
                    batch_size: int = 32, alphas=DEFAULT_ALPHAS, importance: bool = True,
                    seed: int = 0, proposal: str = "mixture") -> ConformalCalibration:
    """Conformal endpoint corrections of ``model``'s central intervals.

    Arguments as ``posterior_intervals``.

    Returns:
        ``ConformalCalibration`` over ``PARAM_NAMES``.
    """
    iv = posterior_intervals(model, simulator, n_sets, n_draws, batch_size, alphas, importance, seed,
                             proposal)
    return calibrate(PARAM_NAMES, iv["truth"], iv["lower"], iv["upper"], iv["sd"], alphas,
                     iv["active"], meta={"n_draws": n_draws, "importance": importance, "seed": seed},
                     classes=set_classes(iv) if importance else None)


def set_classes(intervals: dict) -> np.ndarray:
    """Each set's Mondrian class from its k-hat (``importance.reliability_class``)."""
    return np.array([reliability_class(float(k)) for k in intervals["pareto_k"]])


def calibrated_coverage(calibration: ConformalCalibration, intervals: dict) -> np.ndarray:
    """Coverage ``(D, n_alphas)`` of the calibrated intervals (NaN where never active).

    Args:
        calibration: Corrections from ``calibrate_model``.
        intervals: Output of ``posterior_intervals`` on other (test) sets.
    """
    truth, sd, active = intervals["truth"], intervals["sd"], intervals["active"]
    classes = set_classes(intervals) if "pareto_k" in intervals else np.full(len(truth), "reliable")
    out = np.full((len(calibration.names), len(calibration.alphas)), np.nan)
    for i, name in enumerate(calibration.names):
        use = active[:, i]
        if not use.any():
            continue
        for j, alpha in enumerate(calibration.alphas):
            inside = np.zeros(int(use.sum()), bool)
            for c in np.unique(classes[use]):
                m = classes[use] == c
                rows = np.flatnonzero(use)[m]
                lo, hi = calibration.adjust(name, alpha, intervals["lower"][rows, i, j],
                                            intervals["upper"][rows, i, j], sd[rows, i], klass=str(c))
                inside[m] = (lo <= truth[rows, i]) & (truth[rows, i] <= hi)
            out[i, j] = np.mean(inside)
    return out


def fit_coverage(calibration: ConformalCalibration, intervals: dict) -> np.ndarray:
    """Coverage ``(D, n_alphas)`` of the intervals a fit reports (NaN where never active).

    A fit's summary reports the importance-weighted posterior's own intervals
    when k-hat <= 0.7 and the calibrated ones (its class's corrections)
    otherwise (``draws.uses_calibrated_intervals``); this is their coverage.
    """
    reliable = set_classes(intervals) == "reliable"
    out = np.full((len(calibration.names), len(calibration.alphas)), np.nan)
    t, a = intervals["truth"][..., None], intervals["active"]
    inside_raw = (intervals["lower"] <= t) & (t <= intervals["upper"])
    for i, name in enumerate(calibration.names):
        use = a[:, i]
        if not use.any():
            continue
        for j, alpha in enumerate(calibration.alphas):
            bad = use & ~reliable
            lo, hi = calibration.adjust(name, alpha, intervals["lower"][bad, i, j],
                                        intervals["upper"][bad, i, j], intervals["sd"][bad, i],
                                        klass="unreliable")
            inside = inside_raw[:, i, j].copy()
            inside[bad] = (lo <= t[bad, i, 0]) & (t[bad, i, 0] <= hi)
            out[i, j] = np.mean(inside[use])
    return out


def recovery_correlation(intervals: dict) -> np.ndarray:
    """Pearson correlation of posterior means with the truth per parameter (NaN if unused)."""
    out = np.full(intervals["truth"].shape[1], np.nan)
    for i in range(len(out)):
        use = intervals["active"][:, i]
        if use.sum() > 2:
            out[i] = np.corrcoef(intervals["mean"][use, i], intervals["truth"][use, i])[0, 1]
    return out


def raw_coverage(intervals: dict) -> np.ndarray:
    """Coverage ``(D, n_alphas)`` of the uncalibrated intervals (NaN where never active)."""
    t, a = intervals["truth"][..., None], intervals["active"]
    inside = (intervals["lower"] <= t) & (t <= intervals["upper"])
    n = a.sum(0)[:, None]
    with np.errstate(invalid="ignore"):
        return np.where(n > 0, (inside * a[..., None]).sum(0) / np.maximum(n, 1), np.nan)


def main(argv=None) -> str:
    """Calibrate a checkpoint, report acceptance numbers, export the shipped file."""
    from tabmixr.engines.amortized.engine import WEIGHTS_FILE, export_weights
    from tabmixr.engines.amortized.networks.model import ModelConfig
    from tabmixr.engines.amortized.simulator import SimulatorConfig

    ap = argparse.ArgumentParser(prog="python -m tabmixr.engines.amortized.calibration")
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--n-sets", type=int, default=5000)
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--n-draws", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=10_000, help="simulator seed (not the training seed)")
    ap.add_argument("--no-importance", action="store_true")
    ap.add_argument("--proposal", default="mixture", choices=("mixture", "flow"))
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--out", default=WEIGHTS_FILE)
    ap.add_argument("--save-intervals", default=None,
                    help="also write the test sets' intervals, means and truth here (.npz)")
    a = ap.parse_args(argv)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    state = torch.load(a.checkpoint, map_location="cpu", weights_only=False)
    model = AmortizedModel(ModelConfig(**state["model_config"]))
    model.load_state_dict(state["model"])
    model.eval()
    sim_cfg = SimulatorConfig(**{k: tuple(v) if isinstance(v, list) else v
                                 for k, v in state["simulator_config"].items()})
    imp = not a.no_importance
    cal_iv = posterior_intervals(model, Simulator(sim_cfg, seed=a.seed), a.n_sets, a.n_draws,
                                 importance=imp, seed=a.seed, proposal=a.proposal)
    cal = calibrate(PARAM_NAMES, cal_iv["truth"], cal_iv["lower"], cal_iv["upper"], cal_iv["sd"],
                    DEFAULT_ALPHAS, cal_iv["active"],
                    meta={"n_draws": a.n_draws, "importance": imp, "seed": a.seed,
                          "proposal": a.proposal}, classes=set_classes(cal_iv) if imp else None)
    test_iv = posterior_intervals(model, Simulator(sim_cfg, seed=a.seed + 1), a.n_test, a.n_draws,
                                  importance=imp, seed=a.seed + 1, proposal=a.proposal)
    if a.save_intervals:
        np.savez(a.save_intervals, names=np.array(PARAM_NAMES), **test_iv)
    r = recovery_correlation(test_iv)
    nominal = 1 - np.asarray(DEFAULT_ALPHAS)[None, :]
    ce_raw = np.nanmean(raw_coverage(test_iv) - nominal, axis=1)
    ce_cal = np.nanmean(calibrated_coverage(cal, test_iv) - nominal, axis=1)
    ce_fit = np.nanmean(fit_coverage(cal, test_iv) - nominal, axis=1) if imp else ce_cal
    if imp:
        print(f"unreliable (k-hat > 0.7): {np.mean(set_classes(cal_iv) == 'unreliable'):.3f} of the "
              f"calibration sets, {np.mean(set_classes(test_iv) == 'unreliable'):.3f} of the test sets")
    print("CE fit: the intervals fits report (raw when k-hat <= 0.7, calibrated otherwise)")
    print(f"{'parameter':<10} {'r':>7} {'CE raw':>8} {'CE cal':>8} {'CE fit':>8}")
    for i, name in enumerate(PARAM_NAMES):
        if not np.isnan(r[i]):
            print(f"{name:<10} {r[i]:7.4f} {ce_raw[i]:8.4f} {ce_cal[i]:8.4f} {ce_fit[i]:8.4f}")
    meta = {"recovery_r": dict(zip(PARAM_NAMES, map(float, r))),
            "ce_calibrated": dict(zip(PARAM_NAMES, map(float, ce_cal))),
            "ce_fit": dict(zip(PARAM_NAMES, map(float, ce_fit)))}
    out = export_weights(a.checkpoint, cal, a.out, meta=meta)
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    main()
