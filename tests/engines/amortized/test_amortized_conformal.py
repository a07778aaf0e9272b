"""Split-conformal endpoint calibration: coverage on a synthetic problem, round trip."""

import numpy as np
import pytest
from scipy import stats

from tabmixr.engines.amortized.conformal import (DEFAULT_ALPHAS, ConformalCalibration, calibrate,
                                                 conformal_quantile, coverage)
from tabmixr.errors import SerializationError


def _synthetic(n, rng):
    """Posteriors that are too narrow (sd reported 0.6x the truth) and biased upward."""
    center = rng.normal(0, 3, size=(n, 2))
    true_sd = np.exp(rng.normal(0, 0.5, size=(n, 2)))
    truth = center + true_sd * rng.standard_normal((n, 2))
    mean = center + 0.3 * true_sd
    sd = 0.6 * true_sd
    z = stats.norm.ppf(1 - np.asarray(DEFAULT_ALPHAS) / 2)
    lower = mean[..., None] - z * sd[..., None]
    upper = mean[..., None] + z * sd[..., None]
    return truth, lower, upper, sd


def test_calibrated_intervals_reach_nominal_coverage():
    rng = np.random.default_rng(0)
    cal = calibrate(["beta[0]", "sigma"], *_synthetic(4000, rng))
    truth, lower, upper, sd = _synthetic(20000, rng)
    for j, alpha in enumerate(DEFAULT_ALPHAS):
        raw = coverage(truth, lower[..., j], upper[..., j])
        assert np.all(raw < 1 - alpha - 0.05)                     # the raw intervals undercover
        for i, name in enumerate(["beta[0]", "sigma"]):
            lo, hi = cal.adjust(name, alpha, lower[:, i, j], upper[:, i, j], sd[:, i])
            cov = coverage(truth[:, i], lo, hi)
            assert abs(cov - (1 - alpha)) < 0.02, (name, alpha, cov)


def test_mondrian_classes_cover_within_each_class():
    """Two classes, one far more overconfident: pooled corrections miss per class, Mondrian ones do not."""
    rng = np.random.default_rng(3)

    def mixed(n):
        truth, lower, upper, sd = _synthetic(n, rng)
        bad = rng.random(n) < 0.2
        mid = 0.5 * (lower + upper)
        lower = np.where(bad[:, None, None], mid - 0.3 * (mid - lower), lower)   # bad: 3x too narrow
        upper = np.where(bad[:, None, None], mid + 0.3 * (upper - mid), upper)
        return truth, lower, upper, sd, np.where(bad, "unreliable", "reliable")

    truth, lower, upper, sd, classes = mixed(6000)
    cal = calibrate(["a", "b"], truth, lower, upper, sd, classes=classes)
    assert set(cal.by_class) == {"reliable", "unreliable"}
    back = ConformalCalibration.from_dict(cal.to_dict())
    assert np.array_equal(back.by_class["unreliable"][0], cal.by_class["unreliable"][0])
    truth, lower, upper, sd, classes = mixed(30000)
    j, alpha = 0, DEFAULT_ALPHAS[0]
    for klass in ("reliable", "unreliable"):
        m = classes == klass
        lo, hi = back.adjust("a", alpha, lower[m, 0, j], upper[m, 0, j], sd[m, 0], klass=klass)
        assert abs(coverage(truth[m, 0], lo, hi) - (1 - alpha)) < 0.015, klass
    lo, hi = back.adjust("a", alpha, lower[m, 0, j], upper[m, 0, j], sd[m, 0])     # pooled
    assert coverage(truth[m, 0], lo, hi) < 1 - alpha - 0.03                       # the bad class undercovers


def test_conformal_quantile_definition():
    s = np.arange(1, 20, dtype=float)                            # n = 19
    assert conformal_quantile(s, 0.9) == 18.0                    # ceil(20 * 0.9) = 18th smallest
    assert conformal_quantile(s, 0.99) == float("inf")           # beyond n: cannot calibrate


def test_round_trip_and_errors():
    rng = np.random.default_rng(1)
    cal = calibrate(["a", "b"], *_synthetic(200, rng), meta={"seed": 1})
    back = ConformalCalibration.from_dict(cal.to_dict())
    assert back.names == cal.names and np.array_equal(back.q_lower, cal.q_lower)
    assert back.meta == {"seed": 1}
    with pytest.raises(KeyError, match="'zz'"):
        cal.adjust("zz", 0.05, 0, 1, 1)
    with pytest.raises(SerializationError, match="schema"):
        ConformalCalibration.from_dict({**cal.to_dict(), "schema": 99})


def test_calibrate_model_pipeline():
    """Simulated calibration sets through flow draws, PSIS and calibration (untrained model).

    Conformal corrections guarantee coverage >= 1 - alpha on the calibration
    sets themselves (each endpoint misses at most a fraction alpha / 2).
    """
    import torch

    from tabmixr.engines.amortized.calibration import (PARAM_NAMES, calibrated_coverage,
                                                       posterior_intervals)
    from tabmixr.engines.amortized.networks import AmortizedModel, ModelConfig
    from tabmixr.engines.amortized.simulator import Simulator, SimulatorConfig

    torch.manual_seed(0)
    model = AmortizedModel(ModelConfig(dim=8, heads=2, inducing=2, local_depth=1, global_depth=1,
                                       couplings=2, hidden=8))
    sim = Simulator(SimulatorConfig(groups_range=(3, 6), size_range=(2, 5), p_range=(2, 3),
                                    q_range=(1, 2)), seed=9)
    weighted = posterior_intervals(model, sim, n_sets=4, n_draws=200, importance=True)
    assert np.all(np.isfinite(weighted["lower"])) and np.all(weighted["sd"] >= 0)
    iv = posterior_intervals(model, sim, n_sets=40, n_draws=200, batch_size=20, importance=False)
    assert iv["lower"].shape == (40, len(PARAM_NAMES), len(DEFAULT_ALPHAS))
    assert np.all(iv["lower"] <= iv["upper"] + 1e-12)
    cal = calibrate(PARAM_NAMES, iv["truth"], iv["lower"], iv["upper"], iv["sd"],
                    active=iv["active"])
    cov = calibrated_coverage(cal, iv)
    seen = ~np.isnan(cov[:, 0])
    assert seen[PARAM_NAMES.index("sigma")] and not seen[PARAM_NAMES.index("beta[7]")]
    assert np.all(cov[seen] >= 1 - np.asarray(DEFAULT_ALPHAS)[None, :] - 1e-12)


def test_fit_coverage_uses_raw_intervals_where_reliable():
    """A fit reports the weighted posterior's own interval at k-hat <= 0.7, the calibrated one above."""
    from tabmixr.engines.amortized.calibration import fit_coverage
    rng = np.random.default_rng(5)
    truth, lower, upper, sd = _synthetic(4000, rng)
    k = np.where(rng.random(4000) < 0.5, 0.3, 0.9)
    cal = calibrate(["a", "b"], truth, lower, upper, sd,
                    classes=np.where(k > 0.7, "unreliable", "reliable"))
    iv = {"truth": truth, "lower": lower, "upper": upper, "sd": sd, "active": np.ones(truth.shape, bool),
          "pareto_k": k}
    got = fit_coverage(cal, iv)
    rel = k <= 0.7
    raw_rel = coverage(truth[rel][..., None], lower[rel], upper[rel])       # (params, alphas)
    for i, name in enumerate(["a", "b"]):
        for j, alpha in enumerate(DEFAULT_ALPHAS):
            lo, hi = cal.adjust(name, alpha, lower[~rel, i, j], upper[~rel, i, j], sd[~rel, i],
                                klass="unreliable")
            bad = coverage(truth[~rel, i], lo, hi)
            want = (raw_rel[i, j] * rel.sum() + bad * (~rel).sum()) / len(k)
            assert abs(got[i, j] - want) < 1e-12
