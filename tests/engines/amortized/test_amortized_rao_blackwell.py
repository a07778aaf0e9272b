"""Rao-Blackwellized fixed effects: the exact conditional of beta, mixture and weighted quantiles."""

import numpy as np
import pytest
import torch
from scipy import stats

import tabmixr
from tabmixr.engines.amortized.likelihood import centered_group_stats, group_stats
from tabmixr.engines.amortized.parameters import GlobalParams
from tabmixr.engines.amortized import rao_blackwell
from tabmixr.engines.amortized.rao_blackwell import (fixed_effects_conditional, mixture_quantile,
                                                     weighted_quantile)


def _dense_conditional(b, i, params):
    """beta | y, theta by dense GLS with the normal prior, for data set i."""
    p = int(b.fixed_mask[i].sum())
    cov = params.cov[i].numpy()
    s2 = params.sigma[i].item() ** 2
    XtVX, XtVy = np.zeros((p, p)), np.zeros(p)
    for g in range(int(b.group_mask[i].sum())):
        m = b.row_mask[i, g]
        Xg, Zg, yg = b.X[i, g][m].numpy()[:, :p], b.Z[i, g][m].numpy(), b.y[i, g][m].numpy()
        Vinv = np.linalg.inv(Zg @ cov @ Zg.T + s2 * np.eye(len(yg)))
        XtVX += Xg.T @ Vinv @ Xg
        XtVy += Xg.T @ Vinv @ yg
    nu, tau = b.prior.nu[i, :p].numpy(), b.prior.tau[i, :p].numpy()
    P = XtVX + np.diag(1 / tau ** 2)
    V = np.linalg.inv(P)
    return V @ (XtVy + nu / tau ** 2), V


@pytest.mark.parametrize("centered", [False, True])
def test_conditional_matches_dense_gls(small_batch, centered):
    b = small_batch
    st = centered_group_stats(b) if centered else group_stats(b)
    params = GlobalParams(*(t[None] for t in (b.params.beta, b.params.sd, b.params.L_corr, b.params.sigma)))
    mean, cov = fixed_effects_conditional(params, st, b.prior, b.fixed_mask)
    assert mean.shape == (1, 32, 8) and cov.shape == (1, 32, 8, 8)
    for i in range(0, 32, 3):
        p = int(b.fixed_mask[i].sum())
        ref_m, ref_v = _dense_conditional(b, i, b.params)
        if not torch.isfinite(mean[0, i]).all():      # extreme sd/sigma: flagged, never silently wrong
            continue
        scale = np.sqrt(np.diag(ref_v))
        np.testing.assert_allclose(mean[0, i, :p].numpy(), ref_m, rtol=0, atol=1e-6 * scale.max() + 1e-9)
        np.testing.assert_allclose(cov[0, i, :p, :p].numpy(), ref_v, rtol=1e-6, atol=1e-9 * scale.max() ** 2)
        assert torch.all(mean[0, i, p:] == 0) and torch.all(cov[0, i, p:] == 0)


def test_conditional_is_the_normal_posterior_of_sleepstudy_at_reml_variances():
    """With a very wide prior, the conditional mean at the REML variances is lme4's GLS estimate."""
    from tabmixr.design import build_design
    from tabmixr.engines.amortized.priors import make_prior
    from tabmixr.engines.amortized.realdata import batch_from_design
    from tabmixr.formula import parse_formula

    data = tabmixr.datasets.load("lme4::sleepstudy")
    f = "Reaction ~ Days + (Days | Subject)"
    fit = tabmixr.tabmix(f, data, method="reml")
    design = build_design(parse_formula(f), data)
    prior = make_prior(design, {"Intercept": (0, 1e5), "b": (0, 1e5)})
    batch = batch_from_design(design, prior)
    cov = fit.terms[0].cov
    sd = np.sqrt(np.diag(cov))
    Lc = np.eye(3)
    Lc[:2, :2] = np.linalg.cholesky(cov / np.outer(sd, sd))
    t = lambda v: torch.tensor(np.asarray(v, float), dtype=torch.float64)[None, None]  # noqa: E731
    params = GlobalParams(beta=t(np.zeros(8)), sd=t(np.r_[sd, 1.0]), L_corr=t(Lc),
                          sigma=torch.tensor([[float(fit.sigma)]], dtype=torch.float64))
    mean, cov_b = fixed_effects_conditional(params, centered_group_stats(batch), batch.prior, batch.fixed_mask)
    np.testing.assert_allclose(mean[0, 0, :2].numpy(), fit.beta, rtol=1e-7)
    np.testing.assert_allclose(cov_b[0, 0, :2, :2].numpy(), fit.vcov(), rtol=1e-5)


@pytest.mark.parametrize("steps", [8, 40])
def test_mixture_quantile_matches_scipy(monkeypatch, steps):
    # Newton from the moment-matched start converges in a few steps (a converged
    # point on a bracket's end must not be bisected away)
    monkeypatch.setattr(rao_blackwell, "QUANTILE_STEPS", steps)
    rng = np.random.default_rng(0)
    w = rng.random(300)
    w /= w.sum()
    mean, sd = rng.normal(size=(300, 3)) * [1, 10, 0.01], rng.random((300, 3)) * [1, 5, 0.01] + 1e-3
    probs = [0.025, 0.5, 0.975]
    got = mixture_quantile(w, mean, sd, probs)
    for k in range(3):
        cdf = lambda x: float(w @ stats.norm.cdf(x, mean[:, k], sd[:, k]))  # noqa: E731
        for j, p in enumerate(probs):
            assert cdf(got[j, k]) == pytest.approx(p, abs=1e-9)


def test_mixture_quantile_of_one_component_is_the_normal_quantile():
    got = mixture_quantile(np.ones(1), np.array([[2.0]]), np.array([[3.0]]), [0.1, 0.9])
    np.testing.assert_allclose(got[:, 0], stats.norm.ppf([0.1, 0.9], 2, 3), rtol=1e-10)


def test_weighted_quantile_equal_weights_and_point_mass():
    x = np.arange(1000.0)
    np.testing.assert_allclose(weighted_quantile(x, np.ones(1000), [0.5]), [499.5])
    w = np.zeros(1000)
    w[123] = 1.0
    np.testing.assert_allclose(weighted_quantile(x, w, [0.05, 0.95]), [123, 123])
