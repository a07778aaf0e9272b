"""Marginal likelihood against the exact engine and dense normals; exact effect conditionals."""

import numpy as np
import pytest
import torch
from scipy import stats

import tabmixr
from tabmixr.design import build_design
from tabmixr.engines.amortized.likelihood import GroupStats, group_stats, marginal_loglik
from tabmixr.engines.amortized.parameters import GlobalParams, Q_MAX
from tabmixr.engines.amortized.posterior import effects_moments, sample_effects
from tabmixr.engines.amortized.realdata import batch_from_design, default_prior
from tabmixr.formula import parse_formula


def _params_from_fit(fit, p):
    cov = fit.terms[0].cov
    q = len(cov)
    sd = np.sqrt(np.diag(cov))
    Lc = np.eye(Q_MAX)
    Lc[:q, :q] = np.linalg.cholesky(cov / np.outer(sd, sd))
    beta = np.zeros(8)
    beta[:p] = fit.beta
    t = lambda v: torch.tensor(np.asarray(v, dtype=float), dtype=torch.float64)[None]  # noqa: E731
    return GlobalParams(beta=t(beta), sd=t(np.r_[sd, np.ones(Q_MAX - q)]), L_corr=t(Lc),
                        sigma=torch.tensor([float(fit.sigma)], dtype=torch.float64))


@pytest.mark.parametrize("formula", ["Reaction ~ Days + (Days | Subject)",
                                     "Reaction ~ Days + (1 | Subject)",
                                     "Reaction ~ Days + (0 + Days | Subject)"])
def test_matches_exact_engine_ml_deviance(formula):
    data = tabmixr.datasets.load("lme4::sleepstudy")
    fit = tabmixr.tabmix(formula, data, method="ml")
    design = build_design(parse_formula(formula), data)
    batch = batch_from_design(design, default_prior(design))
    ll = marginal_loglik(_params_from_fit(fit, design.p), group_stats(batch))
    assert -2 * ll.item() == pytest.approx(fit.deviance(), rel=1e-8)


def test_matches_dense_multivariate_normal(small_batch):
    b = small_batch
    ll = marginal_loglik(b.params, group_stats(b), per_group=True)
    Z = b.Z
    for i in range(0, b.X.shape[0], 3):
        cov = b.params.cov[i].numpy()
        for g in range(int(b.group_mask[i].sum())):
            m = b.row_mask[i, g]
            Xg, Zg, yg = b.X[i, g][m].numpy(), Z[i, g][m].numpy(), b.y[i, g][m].numpy()
            V = Zg @ cov @ Zg.T + b.params.sigma[i].item() ** 2 * np.eye(len(yg))
            ref = stats.multivariate_normal(Xg @ b.params.beta[i].numpy(), V).logpdf(yg)
            assert ll[i, g].item() == pytest.approx(ref, rel=1e-7, abs=1e-6)
    assert torch.all(ll[~b.group_mask] == 0)


def test_effect_conditionals_are_the_gaussian_posterior(small_batch):
    b = small_batch
    stats_ = group_stats(b)
    params = GlobalParams(*(t[None] for t in (b.params.beta, b.params.sd, b.params.L_corr, b.params.sigma)))
    mean, cov = effects_moments(params, stats_)
    i, g = 0, 0
    q = int(b.re_mask[i].sum())
    m = b.row_mask[i, g]
    Zg = b.Z[i, g][m][:, :q].numpy()
    r = (b.y[i, g][m] - b.X[i, g][m] @ b.params.beta[i]).numpy()
    S = b.params.cov[i, :q, :q].numpy()
    s2 = b.params.sigma[i].item() ** 2
    prec = np.linalg.inv(S) + Zg.T @ Zg / s2                 # dense Bayes: b | y ~ N(P^-1 Z'r/s2, P^-1)
    assert np.allclose(cov[0, i, g, :q, :q].numpy(), np.linalg.inv(prec), rtol=1e-7, atol=1e-10)
    assert np.allclose(mean[0, i, g, :q].numpy(), np.linalg.solve(prec, Zg.T @ r / s2), rtol=1e-7, atol=1e-9)
    # draws have these moments
    one = GroupStats(*(getattr(stats_, f)[i:i + 1, g:g + 1] for f in
                       ("n", "XtX", "Xty", "yty", "ZtZ", "ZtX", "Zty", "group_mask")))
    many = GlobalParams(*(t[:, i:i + 1].expand(4000, 1, *t.shape[2:]) for t in
                          (params.beta, params.sd, params.L_corr, params.sigma)))
    draws = sample_effects(many, one, torch.Generator().manual_seed(0))[:, 0, 0, :q].numpy()
    z = np.linalg.solve(np.linalg.cholesky(np.linalg.inv(prec)), (draws - mean[0, i, g, :q].numpy()).T)
    assert stats.kstest(z.ravel(), "norm").pvalue > 1e-3


def test_centered_stats_give_the_same_likelihood_and_survive_a_tiny_residual_sd():
    """y - X beta0 cross-products: equal log-likelihood, and no cancellation blow-up at small sigma."""
    from tabmixr.engines.amortized.likelihood import centered_group_stats
    from tabmixr.engines.amortized.parameters import GlobalParams
    from tabmixr.engines.amortized.simulator import Simulator, SimulatorConfig
    import dataclasses  # noqa: E401
    b = Simulator(SimulatorConfig(groups_range=(5, 20), size_range=(3, 30)), seed=4).sample(6)
    np.testing.assert_allclose(marginal_loglik(b.params, centered_group_stats(b)).numpy(),
                               marginal_loglik(b.params, group_stats(b)).numpy(), rtol=1e-9)
    # a residual SD of 1e-6 under the simulated effects, no random effects, evaluated at the truth
    g = torch.Generator().manual_seed(1)
    beta = b.params.beta
    noisy = dataclasses.replace(b, y=torch.einsum("bgnp,bp->bgn", b.X, beta) + 1e-6 * torch.randn(
        b.y.shape, generator=g, dtype=b.y.dtype))
    params = GlobalParams(beta=beta, sd=torch.zeros_like(b.params.sd), L_corr=b.params.L_corr,
                          sigma=torch.full_like(b.params.sigma, 1e-6))
    ll = marginal_loglik(params, centered_group_stats(noisy))
    n = noisy.row_mask.sum((-1, -2)).to(ll.dtype)
    # log N(e; 0, s^2 I) with e ~ N(0, s^2 I): -n/2 log(2 pi s^2) - chi2_n / 2, chi2_n ~ n
    expect = -0.5 * n * torch.log(torch.tensor(2 * np.pi * 1e-12, dtype=ll.dtype)) - 0.5 * n
    assert bool((torch.abs(ll - expect) < 6 * torch.sqrt(n)).all())
