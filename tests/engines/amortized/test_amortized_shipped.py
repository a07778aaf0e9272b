"""The shipped weights: present, small, calibrated, and good on real and simulated data."""

import os
import warnings

import numpy as np
import pytest

import tabmixr
from tabmixr.engines.amortized.calibration import PARAM_NAMES, posterior_intervals, recovery_correlation
from tabmixr.engines.amortized.conformal import DEFAULT_ALPHAS
from tabmixr.engines.amortized.engine import WEIGHTS_FILE, load_shipped_model
from tabmixr.engines.amortized.simulator import Simulator, SimulatorConfig

pytestmark = pytest.mark.skipif(not os.path.exists(WEIGHTS_FILE), reason="no shipped weights")


def test_weights_are_small_and_calibrated():
    assert os.path.getsize(WEIGHTS_FILE) <= 30 * 2 ** 20
    model, cal = load_shipped_model()
    assert cal.names == PARAM_NAMES and cal.alphas == tuple(DEFAULT_ALPHAS)
    assert np.isfinite(cal.q_lower[:, 0]).sum() >= len(PARAM_NAMES) - 1   # every used parameter
    assert set(cal.by_class) == {"reliable", "unreliable"}               # Mondrian by k-hat class
    assert np.isfinite(cal.by_class["unreliable"][0][:, 0]).sum() >= len(PARAM_NAMES) - 2
    assert not model.training


def test_sleepstudy_posterior_matches_the_reml_fit():
    sleep = tabmixr.datasets.load("sleepstudy")
    f = "Reaction ~ Days + (Days | Subject)"
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # no k-hat warning on this data set
        fit = tabmixr.tabmix(f, sleep, method="amortized", seed=0)
    assert fit.extra["pareto_k"] < 0.7
    reml = tabmixr.tabmix(f, sleep)
    draws = fit.extra["draws"]
    for j, name in enumerate(["b_(Intercept)", "b_Days"]):
        assert abs(draws[name].mean() - reml.beta[j]) < 0.25 * draws[name].std()
    lo, hi = fit.extra["intervals"]["b_Days"][0.95]
    assert lo < fit.beta[1] < hi and hi - lo < 12


def test_in_distribution_recovery():
    sim = Simulator(SimulatorConfig(), seed=31_337)
    model, _ = load_shipped_model()
    iv = posterior_intervals(model, sim, n_sets=16, n_draws=400, batch_size=16, seed=1)
    r = recovery_correlation(iv)
    assert r[PARAM_NAMES.index("beta[1]")] > 0.95
    assert r[PARAM_NAMES.index("sigma")] > 0.9
