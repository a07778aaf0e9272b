"""Laplace-t component of the importance proposal: densities, draws, the Newton mode, end to end."""

import numpy as np
import pytest
import torch
from scipy import stats

import tabmixr
from tabmixr.design import build_design
from tabmixr.engines.amortized import laplace as L
from tabmixr.engines.amortized.engine import AmortizedEngine
from tabmixr.engines.amortized.likelihood import group_stats
from tabmixr.engines.amortized.networks import AmortizedModel, ModelConfig
from tabmixr.engines.amortized.parameters import params_to_phi, phi_mask
from tabmixr.engines.amortized.simulator import Simulator, SimulatorConfig
from tabmixr.engines.amortized.standardize import fit_standardization, params_to_standard
from tabmixr.formula import parse_formula


def _gaussian(B=3, D=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    active = torch.ones(B, D, dtype=torch.float64)
    if B == 3:
        active[1, 4:] = 0
        active[2, 1] = 0
    A = torch.randn(B, D, D, generator=g, dtype=torch.float64)
    H = -(A @ A.transpose(1, 2) + D * torch.eye(D, dtype=torch.float64))
    mean = torch.randn(B, D, generator=g, dtype=torch.float64) * active
    return H, mean, active, g


def test_t_density_matches_scipy_on_the_active_coordinates():
    H, mean, active, g = _gaussian()
    evals, evecs = L._precision(H, active)
    x = L.t_sample(5, mean, evals, evecs, g)
    lp = L.t_log_prob(x, mean, evals, evecs)
    for b in range(3):
        a = active[b].bool().numpy()
        P = -H[b].numpy()[np.ix_(a, a)]
        ref = stats.multivariate_t(loc=mean[b].numpy()[a], shape=np.linalg.inv(P), df=L.T_DF)
        np.testing.assert_allclose(lp[:, b].numpy(), ref.logpdf(x[:, b].numpy()[:, a]), rtol=1e-10)
        dead = ~torch.from_numpy(a)
        assert torch.allclose(x[:, b][:, dead], mean[b][dead].expand(5, -1), atol=1e-12)


def test_t_draws_have_the_t_covariance():
    H, mean, active, g = _gaussian(B=1, D=4, seed=1)
    evals, evecs = L._precision(H, active)
    x = L.t_sample(200_000, mean, evals, evecs, g)[:, 0]
    cov = np.cov(x.numpy(), rowvar=False)
    want = np.linalg.inv(-H[0].numpy()) * L.T_DF / (L.T_DF - 2)
    np.testing.assert_allclose(cov, want, atol=0.05 * np.abs(want).max())


def test_eigenvalues_are_floored_and_inactive_directions_dead():
    H, _, active, _ = _gaussian()
    H[0] = torch.diag(torch.tensor([-1.0, 2.0, -3.0, 1e-8, -5.0, -6.0], dtype=torch.float64))
    evals, _ = L._precision(H, active)
    assert torch.isinf(evals[1]).sum() == 2 and torch.isinf(evals[2]).sum() == 1
    assert float(evals[0].min()) == L.MIN_PRECISION
    ab, _ = L._precision(H, active, absolute=True)
    assert sorted(ab[0].tolist()) == [L.MIN_PRECISION, 1.0, 2.0, 3.0, 5.0, 6.0]


def test_scaled_component_density_and_covariance():
    """An equilibrated component (scale S) is the t with precision S^-1 U diag(evals) U^T S^-1."""
    H, mean, active, g = _gaussian()
    H = H * torch.tensor([1e4, 1.0, 0.5, 1.0, 1e2, 1.0], dtype=torch.float64)[None, :, None] \
        * torch.tensor([1e4, 1.0, 0.5, 1.0, 1e2, 1.0], dtype=torch.float64)[None, None, :]
    scale = L.equilibrating_scale(H, active)
    evals, evecs = L._precision(H, active, scale=scale)
    x = L.t_sample(5, mean, evals, evecs, g, scale=scale)
    lp = L.t_log_prob(x, mean, evals, evecs, scale=scale)
    cov = L.component_covariance(evals, evecs, scale)
    for b in range(3):
        a = active[b].bool().numpy()
        P = -H[b].numpy()[np.ix_(a, a)]
        np.testing.assert_allclose(cov[b].numpy()[np.ix_(a, a)], np.linalg.inv(P), rtol=1e-8, atol=1e-14)
        ref = stats.multivariate_t(loc=mean[b].numpy()[a], shape=np.linalg.inv(P), df=L.T_DF)
        np.testing.assert_allclose(lp[:, b].numpy(), ref.logpdf(x[:, b].numpy()[:, a]), rtol=1e-10)
    back = L.precision_from_covariance(cov, active)
    np.testing.assert_allclose(L.component_covariance(*back).numpy(), cov.numpy(), rtol=1e-6, atol=1e-12)


def test_flat_direction_variance_is_capped_in_phi_units():
    """A direction with no curvature gets variance 1 / MIN_PRECISION however it is scaled."""
    H = -torch.diag(torch.tensor([[1e6, 1e-9, 1.0]], dtype=torch.float64)[0])[None]
    active = torch.ones(1, 3, dtype=torch.float64)
    scale = L.equilibrating_scale(H, active)
    cov = L.component_covariance(*L._precision(H, active, scale=scale), scale)
    np.testing.assert_allclose(torch.diagonal(cov[0]).numpy(), [1e-6, 1 / L.MIN_PRECISION, 1.0], rtol=1e-6)


def test_moment_matching_fallback():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(4000, 2, 3, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2.0, 0.5])
    active = torch.ones(2, 3, dtype=torch.float64)
    mean, evals, evecs, scale = L._moment_match(x, active)
    assert torch.allclose(mean, x.mean(0))
    prec = torch.einsum("bik,bk,bjk->bij", evecs, evals, evecs) / (scale[:, :, None] * scale[:, None, :])
    cov = torch.einsum("sbi,sbj->bij", x - mean, x - mean) / 3999
    assert torch.allclose(prec, torch.linalg.inv(cov + 1e-6 * torch.eye(3, dtype=torch.float64)), rtol=1e-6)


@pytest.mark.parametrize("merged_points", [0, 10 ** 9])
def test_newton_finds_the_posterior_mode(monkeypatch, merged_points):
    # both ways of getting the Hessians: a second pass per iteration, or the line search's pass
    monkeypatch.setattr(L, "MERGED_POINTS", merged_points)
    batch = Simulator(SimulatorConfig(groups_range=(20, 40), size_range=(5, 30)), seed=5).sample(6)
    st = fit_standardization(batch)
    stats_ = group_stats(batch)
    active = phi_mask(batch.fixed_mask, batch.re_mask).to(torch.float64)

    def f(phi):
        return L.log_target(phi, batch, st, stats_, batch.prior)

    truth = params_to_phi(params_to_standard(batch.params, st), batch.fixed_mask, batch.re_mask)
    start = (truth + 0.3) * active                            # off the truth, as a rough flow draw
    mode, evals, evecs, scale, ok = L.find_mode(f, start, active)
    assert bool(ok.all())
    with torch.no_grad():
        assert bool((f(mode[None])[0] >= f(start[None])[0]).all())
        assert bool((f(mode[None])[0] >= f(truth[None])[0] - 1e-9).all())   # a mode beats the truth
    g, H, _ = L._gradient_and_hessian(f, mode)
    # Newton decrement: at the mode the gradient is tiny in the local metric
    dec = torch.einsum("bd,bde,be->b", g * active, torch.linalg.pinv(-H * active[:, :, None] * active[:, None, :]),
                       g * active)
    assert float(dec.max()) < 1e-4
    # the Hessian find_mode returns is the one at its mode
    Hs = L.equilibrating_scale(H, active)
    want = L._precision(H, active, scale=Hs)
    live = torch.isfinite(evals)
    assert torch.allclose(evals[live], want[0][live], rtol=1e-3)


def test_hessian_of_several_points_per_data_set_matches_one_at_a_time():
    H, mean, active, _ = _gaussian()

    def f(phi):
        z = (phi - mean) * active
        return 0.5 * torch.einsum("...bd,bde,...be->...b", z, H, z) + (z ** 3).sum(-1)

    pts = mean[None] + torch.randn(4, *mean.shape, dtype=torch.float64)
    g, Hm, v = L._gradient_and_hessian(f, pts, active)
    for c in range(4):
        g1, H1, v1 = L._gradient_and_hessian(f, pts[c], active)
        assert torch.allclose(g[c], g1) and torch.allclose(Hm[c], H1) and torch.allclose(v[c], v1)
    assert g.shape == pts.shape and Hm.shape == (*pts.shape, pts.shape[-1])


@pytest.fixture(scope="module")
def untrained():
    torch.manual_seed(0)
    return AmortizedModel(ModelConfig(dim=16, heads=2, inducing=4, global_depth=1, couplings=2, hidden=16))


def test_mixture_rescues_an_untrained_flow_on_sleepstudy(untrained):
    """An untrained flow alone is useless (k-hat >> 0.7); the mixture matches the REML fit."""
    sleep = tabmixr.datasets.load("sleepstudy")
    f = "Reaction ~ Days + (Days | Subject)"
    design = build_design(parse_formula(f), sleep)
    with pytest.warns(UserWarning, match="k-hat"):
        AmortizedEngine().fit(design, model=untrained, n_draws=1000, seed=1, proposal="flow")
    fit = AmortizedEngine().fit(design, model=untrained, n_draws=1000, seed=1)
    assert fit.extra["pareto_k"] < 0.7 and fit.extra["ess"] > 100
    reml = tabmixr.tabmix(f, sleep)
    draws = fit.extra["draws"]
    for j, name in enumerate(["b_(Intercept)", "b_Days"]):
        x = draws[name]
        assert abs(x.mean() - reml.beta[j]) < 0.25 * x.std()      # weak priors: posterior mean ~ REML
    assert abs(draws["sigma"].mean() / reml.sigma - 1) < 0.05
    with pytest.raises(tabmixr.errors.EngineError, match="proposal"):
        AmortizedEngine().fit(design, model=untrained, proposal="laplace")
