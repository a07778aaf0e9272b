"""simulate (moments, reproducibility) and autograd at extreme linear predictors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from families_cases import CASES, aux_tensors

from tabmixr.families import get_family

M = 15000  # draws per distinct eta
TRIALS = 7.0


def _distinct_eta(case, rng):
    return case.draw_eta(rng, 4)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_simulated_moments_match_mean_and_variance(case):
    rng = np.random.default_rng(3)
    family = get_family(case.family, case.link)
    aux = aux_tensors(case)
    eta0 = torch.tensor(_distinct_eta(case, rng))
    eta = eta0.repeat_interleave(M, dim=0)
    generator = torch.Generator().manual_seed(11)
    trials = torch.full((len(eta),), TRIALS, dtype=torch.float64) if case.family == "binomial" else None
    draws = family.simulate(eta, aux, generator=generator, trials=trials).double().reshape(4, M)
    mean = family.mean(eta0, aux).double()
    var = family.variance(eta0, aux).double()
    if case.kind == "classes":
        K = mean.shape[1]
        freq = torch.stack([(draws == k).double().mean(dim=1) for k in range(K)], dim=1)
        se = torch.sqrt(var / M)
        assert torch.all(torch.abs(freq - mean) < 5 * se + 1e-12), (freq, mean)
        return
    if case.family == "binomial":
        mean, var = TRIALS * mean, TRIALS * var
    sample_mean = draws.mean(dim=1)
    sample_var = draws.var(dim=1)
    assert torch.all(torch.abs(sample_mean - mean) < 5 * torch.sqrt(var / M)), (sample_mean, mean)
    centred = draws - sample_mean[:, None]
    m4 = (centred ** 4).mean(dim=1)
    se_var = torch.sqrt((m4 - sample_var ** 2) / M)
    assert torch.all(torch.abs(sample_var - var) < 6 * se_var), (sample_var, var)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_simulate_is_reproducible_and_leaves_global_rng_alone(case):
    family = get_family(case.family, case.link)
    eta = torch.tensor(case.draw_eta(np.random.default_rng(0), 50))
    aux = aux_tensors(case)
    state = torch.get_rng_state()
    a = family.simulate(eta, aux, generator=torch.Generator().manual_seed(5))
    b = family.simulate(eta, aux, generator=torch.Generator().manual_seed(5))
    c = family.simulate(eta, aux, generator=torch.Generator().manual_seed(6))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert a.shape == (50,)
    # draws lie in the support: prepare accepts them
    family.prepare(a.numpy() if case.kind != "classes" else a.numpy(), "draws")


EXTREMES = {
    "identity": [-1e4, 1e-6, 1e4], "log": [-30.0, 0.0, 30.0], "inverse": [-1.0, 1e-6, 1e4],
    "sqrt": [-1e3, 1e-6, 1e3], "logit": [-40.0, 0.0, 40.0], "probit": [-40.0, 0.0, 40.0],
    "cloglog": [-40.0, 0.0, 40.0],
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_log_lik_and_gradients_finite_at_extreme_eta(case, dtype):
    rng = np.random.default_rng(4)
    family = get_family(case.family, case.link)
    y = case.draw_y(rng, case.draw_eta(rng, 6), np.full(6, 3.0) if case.family == "binomial" else None)
    raw = np.column_stack([y, 3.0 - y]) if case.family == "binomial" else y
    prepared = family.prepare(raw, "y")
    extremes = EXTREMES[case.link]
    rows = np.repeat(np.arange(6), len(extremes))
    values = np.tile(extremes, 6)
    eta = torch.tensor(np.repeat(values[:, None], case.n_eta, axis=1), dtype=dtype, requires_grad=True)
    if case.n_eta > 1:  # categorical: push one logit up, keep the others at 0
        eta = torch.tensor(np.column_stack([values, np.zeros((len(values), case.n_eta - 1))]),
                           dtype=dtype, requires_grad=True)
    aux = {k: v.to(dtype).requires_grad_(True) for k, v in aux_tensors(case).items()}
    ll = family.log_lik(prepared.y[torch.as_tensor(rows)], eta, aux)
    assert torch.isfinite(ll).all(), ll
    ll.sum().backward()
    assert torch.isfinite(eta.grad).all(), eta.grad
    for key, tensor in aux.items():
        assert torch.isfinite(tensor.grad).all(), (key, tensor.grad)


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_binomial_tails_are_exact(link):
    """At eta = +-30 the log-likelihood keeps its tail value instead of log(0) or log(1) = 0."""
    from scipy import special

    family = get_family("binomial", link)
    eta = torch.tensor([[-30.0], [30.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 1.0], [0.0, 1.0]], dtype=torch.float64)  # the unlikely outcome on each row
    got = family.log_lik(y, eta, {}).numpy()
    if link == "logit":
        want = [-np.log1p(np.exp(30.0)), -np.log1p(np.exp(30.0))]
    elif link == "probit":
        want = [special.log_ndtr(-30.0), special.log_ndtr(-30.0)]
    else:
        want = [np.log(-np.expm1(-np.exp(-30.0))), -np.exp(30.0)]
    np.testing.assert_allclose(got, want, rtol=1e-10)


@pytest.mark.parametrize("case", [c for c in CASES if c.kind != "classes"], ids=lambda c: c.id)
def test_simulated_distribution_matches_reference(case):
    """Whole distribution, not just two moments: KS against scipy (continuous), pmf vs log_lik (discrete)."""
    from scipy import stats

    family = get_family(case.family, case.link)
    aux = aux_tensors(case)
    eta = np.full((20000, case.n_eta), float(np.mean(case.eta_range)))
    trials = np.full(len(eta), TRIALS) if case.family == "binomial" else None
    draws = family.simulate(torch.tensor(eta), aux, generator=torch.Generator().manual_seed(21),
                            trials=None if trials is None else torch.tensor(trials)).double().numpy()
    if case.family in ("gaussian", "student_t", "gamma", "lognormal", "beta", "exponential", "weibull"):
        assert stats.kstest(draws, case.scipy_dist(eta[:1]).cdf).pvalue > 1e-3
        return
    values = np.arange(0.0, 13.0)
    y = np.column_stack([values, np.full_like(values, TRIALS)])[: int(TRIALS) + 1] if trials is not None else values
    pmf = np.exp(family.log_lik(torch.tensor(y), torch.tensor(eta[: len(y)]), aux).numpy())
    freq = np.array([(draws == v).mean() for v in values[: len(y)]])
    assert np.all(np.abs(freq - pmf) < 5 * np.sqrt(pmf * (1 - pmf) / len(draws)) + 1e-4), (freq, pmf)
