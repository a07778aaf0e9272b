"""Simulator: shapes and masks, prior ranges, seeding, and that data follow the stated model."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from tabmixr.engines.amortized import sampling as rs
from tabmixr.engines.amortized.parameters import P_MAX, Q_MAX
from tabmixr.engines.amortized.simulator import Simulator, SimulatorConfig

from .conftest import SMALL


def test_shapes_and_masks(small_batch):
    b = small_batch
    B, G, N, P = b.X.shape
    assert P == P_MAX and b.y.shape == (B, G, N) and b.row_mask.shape == (B, G, N)
    assert torch.equal(b.X[..., 0], b.row_mask.double())          # intercept on real rows only
    p, q = b.fixed_mask.sum(1), b.re_mask.sum(1)
    assert torch.all((p >= 1) & (p <= P_MAX) & (q >= 1) & (q <= torch.clamp(p, max=Q_MAX)))
    assert torch.equal(b.fixed_mask, torch.arange(P_MAX)[None] < p[:, None])   # first p active
    assert torch.equal(b.re_mask, torch.arange(Q_MAX)[None] < q[:, None])
    for i in range(B):
        cols = b.re_cols[i, :q[i]].tolist()
        assert len(set(cols)) == len(cols) and max(cols) < p[i]      # distinct active columns
        assert torch.all(b.X[i][..., p[i]:] == 0)                     # inactive columns empty
    # rows are a prefix of each group; group sizes in range; padded groups have no rows
    sizes = b.row_mask.sum(-1)
    assert torch.equal(b.row_mask, torch.arange(N)[None, None] < sizes[..., None])
    assert torch.equal(b.group_mask, sizes > 0)
    G_real = b.group_mask.sum(1)
    assert torch.all((G_real >= SMALL.groups_range[0]) & (G_real <= SMALL.groups_range[1]))
    assert torch.all(sizes[b.group_mask] <= SMALL.size_range[1])
    assert torch.all(b.y[~b.row_mask] == 0) and torch.all(b.b[~b.group_mask] == 0)


def test_slopes_can_be_random_without_intercept():
    b = Simulator(SimulatorConfig(groups_range=(2, 3), size_range=(1, 2), p_random_intercept=0.0,
                                  p_range=(4, 4)), seed=3).sample(64)
    assert torch.all(b.re_cols[:, 0] > 0)                              # columns anywhere in X
    assert len(set(b.re_cols[:, 0].tolist())) > 1


def test_prior_ranges(small_batch):
    pr = small_batch.prior
    assert torch.all(pr.nu.abs() <= 20)
    assert torch.all((pr.tau[:, 0] >= 0.1) & (pr.tau[:, 0] <= 30))
    assert torch.all((pr.tau[:, 1:] >= 0.1) & (pr.tau[:, 1:] <= 20))
    assert torch.all((pr.tau_s >= 0.1) & (pr.tau_s <= 10))
    assert torch.all((pr.tau_e >= 0.001) & (pr.tau_e <= 10))


def test_seeded_reproducibility():
    a = Simulator(SMALL, seed=5).sample(4)
    b = Simulator(SMALL, seed=5).sample(4)
    c = Simulator(SMALL, seed=6).sample(4)
    assert torch.equal(a.y, b.y) and torch.equal(a.X, b.X) and torch.equal(a.params.beta, b.params.beta)
    assert not torch.equal(a.params.beta, c.params.beta)
    sim = Simulator(SMALL, seed=5)
    state = sim.get_state()
    first = sim.sample(3)
    sim.set_state(state)
    assert torch.equal(sim.sample(3).y, first.y)


def test_parameter_moments_match_priors():
    b = Simulator(SimulatorConfig(groups_range=(2, 2), size_range=(1, 1)), seed=2).sample(4000)
    pr, par = b.prior, b.params
    z = ((par.beta - pr.nu) / pr.tau)[b.fixed_mask].numpy()
    assert stats.kstest(z, "norm").pvalue > 1e-3
    hn = (par.sd / pr.tau_s)[b.re_mask].numpy()
    assert stats.kstest(hn, "halfnorm").pvalue > 1e-3
    assert stats.kstest((par.sigma / pr.tau_e).numpy(), "halfnorm").pvalue > 1e-3
    # LKJ(1) in 3 dimensions: each correlation is 2 Beta(3/2, 3/2) - 1
    full = b.re_mask.sum(1) == 3
    r = par.corr[full][:, 1, 0].numpy()
    assert stats.kstest((r + 1) / 2, "beta", args=(1.5, 1.5)).pvalue > 1e-3


@pytest.mark.parametrize("eta,dim", [(1.0, 3), (10.0, 7)])
def test_lkj_marginals(eta, dim):
    g = torch.Generator().manual_seed(0)
    L = rs.lkj_cholesky(dim, torch.full((5000,), eta, dtype=torch.float64), g)
    R = L @ L.transpose(1, 2)
    assert torch.allclose(torch.diagonal(R, dim1=1, dim2=2), torch.ones(5000, dim, dtype=torch.float64))
    a = eta - 1 + dim / 2                        # marginal of LKJ(eta, dim): Beta(a, a) on (-1, 1)
    r = R[:, dim - 1, 0].numpy()
    assert stats.kstest((r + 1) / 2, "beta", args=(a, a)).pvalue > 1e-3


def test_variate_moments():
    g = torch.Generator().manual_seed(1)
    n = 200_000
    gam = rs.standard_gamma(torch.full((n,), 0.4, dtype=torch.float64), g)
    assert abs(gam.mean().item() - 0.4) < 0.01 and abs(gam.var().item() - 0.4) < 0.02
    t = rs.student_t(torch.full((n,), 6.0, dtype=torch.float64), g)
    assert abs(t.var().item() - 1.5) < 0.06
    nb = rs.negative_binomial(torch.full((n,), 3.0, dtype=torch.float64),
                              torch.full((n,), 0.4, dtype=torch.float64), g)
    assert abs(nb.mean().item() - 4.5) < 0.05 and abs(nb.var().item() - 4.5 / 0.4) < 0.3
    two, five = (torch.full((n,), v, dtype=torch.float64) for v in (2.0, 5.0))
    be = rs.beta_variates(two, five, g)
    assert abs(be.mean().item() - 2 / 7) < 0.003


def test_predictor_families(small_batch):
    b = small_batch
    for i in range(b.X.shape[0]):
        rows = b.X[i][b.row_mask[i]]
        for j in range(1, int(b.fixed_mask[i].sum())):
            col, fam = rows[:, j], int(b.families[i, j])
            if fam == 3:
                assert set(col.unique().tolist()) <= {0.0, 1.0}
            if fam == 4:
                assert torch.all(col >= 0) and torch.all(col == col.round())


def test_data_follow_the_model():
    """Known parameters: residuals are N(0, sigma^2) and OLS recovers beta."""
    b = Simulator(SimulatorConfig(groups_range=(20, 30), size_range=(20, 30)), seed=4).sample(24)
    zb = (b.Z * b.b[:, :, None, :]).sum(-1)
    for i in range(24):
        m = b.row_mask[i]
        p = int(b.fixed_mask[i].sum())
        X, y = b.X[i][m][:, :p].numpy(), (b.y[i] - zb[i])[m].numpy()
        resid = y - X @ b.params.beta[i, :p].numpy()
        n, s = len(resid), b.params.sigma[i].item()
        chi2 = np.sum(resid ** 2) / s ** 2                       # ~ chi2_n exactly
        assert stats.chi2.cdf(chi2, n) > 1e-5 and stats.chi2.sf(chi2, n) > 1e-5
        beta_hat, *_ = np.linalg.lstsq(X, y, rcond=None)
        se = s * np.sqrt(np.diag(np.linalg.inv(X.T @ X)))
        assert np.all(np.abs(beta_hat - b.params.beta[i, :p].numpy()) < 5 * se)
    # random effects: whitened by their true covariance factor they are iid N(0, 1)
    u = torch.linalg.solve_triangular(b.params.L_cov[:, None], b.b[..., None], upper=False)[..., 0]
    u = u[b.group_mask[..., None] & b.re_mask[:, None, :]].numpy()
    assert stats.kstest(u, "norm").pvalue > 1e-3
    assert math.isfinite(float(b.y.abs().max()))
