"""Importance sampling: exact weights when proposal = target, PSIS k-hat on known tails, LMM target."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from tabmixr.engines.amortized.importance import gpd_fit, log_prior, log_weights, psis
from tabmixr.engines.amortized.networks import AmortizedModel, ModelConfig
from tabmixr.engines.amortized.posterior import sample_posterior
from tabmixr.engines.amortized.simulator import Simulator, SimulatorConfig

S = 4000


def _normal_logpdf(x, mu, sd):
    return -0.5 * ((x - mu) / sd) ** 2 - math.log(sd) - 0.5 * math.log(2 * math.pi)


def test_proposal_equal_to_target_gives_full_ess():
    g = torch.Generator().manual_seed(0)
    x = 1.5 + 2.0 * torch.randn(S, generator=g, dtype=torch.float64)
    log_target = -0.5 * ((x - 1.5) / 2.0) ** 2 + 7.0          # unnormalized, other code path
    log_q = torch.distributions.Normal(1.5, 2.0).log_prob(x)
    res = psis(log_target - log_q)
    assert res.ess == pytest.approx(S, rel=1e-6)
    assert res.pareto_k < 0.5 and res.reliable
    assert torch.allclose(res.log_weights, torch.full_like(res.log_weights, -math.log(S)), atol=1e-9)


def test_wider_proposal_is_reliable_and_narrow_one_is_not():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(S, generator=g, dtype=torch.float64)
    wide = psis(_normal_logpdf(1.5 * z, 0, 1) - _normal_logpdf(1.5 * z, 0, 1.5))
    assert wide.pareto_k < 0.5 and wide.ess > 0.5 * S
    # w = exp(c x^2) with x ~ N(0, s^2): P(w > t) ~ t^(-1 / (1 - s^2)), so k = 1 - s^2 = 0.91
    narrow = psis(_normal_logpdf(0.3 * z, 0, 1) - _normal_logpdf(0.3 * z, 0, 0.3))
    assert narrow.pareto_k > 0.7 and not narrow.reliable
    assert narrow.ess < 0.2 * S


@pytest.mark.parametrize("xi", [0.3, 0.6, 0.9])
def test_khat_on_a_known_pareto_tail(xi):
    g = torch.Generator().manual_seed(2)
    k_hats = [psis(-xi * torch.log(torch.rand(20000, generator=g, dtype=torch.float64))).pareto_k
              for _ in range(4)]                    # w = U^-xi has a Pareto tail with k = xi
    assert abs(np.mean(k_hats) - xi) < 0.1          # one k-hat has SD ~ 0.06 here


def test_psis_agrees_with_arviz():
    az = pytest.importorskip("arviz")
    g = torch.Generator().manual_seed(4)
    for lw in (-0.7 * torch.log(torch.rand(3000, generator=g, dtype=torch.float64)),
               2 * torch.randn(3000, generator=g, dtype=torch.float64)):
        ours = psis(lw)
        with np.errstate(all="ignore"):
            ref_lw, ref_k = az.psislw(lw.numpy().copy())
        assert ours.pareto_k == pytest.approx(float(ref_k), abs=1e-10)
        assert np.allclose(ours.log_weights.numpy(), ref_lw, atol=1e-10)


def test_gpd_fit_recovers_parameters():
    k, sigma = 0.4, 2.0
    x = stats.genpareto.rvs(k, scale=sigma, size=5000, random_state=np.random.default_rng(3))
    k_hat, s_hat = gpd_fit(torch.from_numpy(x))
    assert abs(k_hat - k) < 0.06 and abs(s_hat / sigma - 1) < 0.08


def test_log_prior_matches_scipy(small_batch):
    b = small_batch
    lp = log_prior(b.params, b.prior, b.fixed_mask, b.re_mask)
    for i in range(4):
        p, q = int(b.fixed_mask[i].sum()), int(b.re_mask[i].sum())
        ref = stats.norm.logpdf(b.params.beta[i, :p], b.prior.nu[i, :p], b.prior.tau[i, :p]).sum()
        ref += stats.halfnorm.logpdf(b.params.sd[i, :q], scale=b.prior.tau_s[i, :q]).sum()
        ref += stats.halfnorm.logpdf(b.params.sigma[i], scale=b.prior.tau_e[i])
        R = b.params.corr[i, :q, :q].numpy()
        ref += (b.prior.eta[i].item() - 1) * np.linalg.slogdet(R)[1]
        assert lp[i].item() == pytest.approx(ref, rel=1e-10)


def test_lmm_weights_are_finite_and_use_every_piece():
    """Untrained flow on simulated sets: weights finite; importance mean moves toward the truth."""
    sim = Simulator(SimulatorConfig(groups_range=(15, 20), size_range=(8, 12), p_range=(2, 3),
                                    q_range=(1, 2)), seed=5)
    batch = sim.sample(2)
    torch.manual_seed(0)
    model = AmortizedModel(ModelConfig(dim=16, heads=2, inducing=4, local_depth=1, global_depth=1,
                                       couplings=2, hidden=16))
    draws = sample_posterior(model, batch, 3000, torch.Generator().manual_seed(1), with_effects=False)
    lw = log_weights(draws, batch.prior)
    assert torch.isfinite(lw).all()
    for i in range(2):
        res = psis(lw[:, i])
        w = torch.exp(res.log_weights)
        s = draws.params.sigma[:, i]
        truth = batch.params.sigma[i]
        err_is = abs((w * s).sum() - truth) / truth
        err_q = abs(s.mean() - truth) / truth
        assert err_is < err_q


def test_overflowing_draws_get_zero_weight_not_an_error(small_batch):
    from tabmixr.engines.amortized.parameters import params_to_phi, phi_to_params
    from tabmixr.engines.amortized.standardize import (fit_standardization, params_to_original,
                                                       standardize_batch)
    from tabmixr.engines.amortized.likelihood import group_stats
    from tabmixr.engines.amortized.posterior import PosteriorDraws

    b = small_batch
    st = fit_standardization(b)
    phi = params_to_phi(standardize_batch(b, st).params, b.fixed_mask, b.re_mask)
    phi = torch.stack([phi, phi.clone()])
    phi[1, :, 8] = 800.0                             # exp overflows: sd = inf
    phi[1, :, -1] = -800.0                           # sigma underflows to 0
    ps, j1 = phi_to_params(phi, b.fixed_mask, b.re_mask)
    par, j2 = params_to_original(ps, st)
    draws = PosteriorDraws(phi=phi, log_q=torch.zeros(2, phi.shape[1], dtype=torch.float64),
                           params_std=ps, params=par, log_jac=j1 + j2, b=None, standardization=st,
                           stats=group_stats(b))
    lw = log_weights(draws, b.prior)
    assert torch.isfinite(lw[0]).all() and not torch.isfinite(lw[1]).any()
    assert psis(torch.full((50,), float("nan"), dtype=torch.float64)).ess == 0
