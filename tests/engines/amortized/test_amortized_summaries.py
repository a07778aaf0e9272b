"""Packed simulation and per-group summaries: exact against the padded path, same model."""

import numpy as np
import pytest
import torch
from scipy import stats

from tabmixr.engines.amortized.likelihood import group_stats
from tabmixr.engines.amortized.networks import AmortizedModel, ModelConfig
from tabmixr.engines.amortized.networks.model import MOMENT_FEATURES, group_moments
from tabmixr.engines.amortized.parameters import P_MAX
from tabmixr.engines.amortized.simulator import FAMILY_PROBS, Simulator, SimulatorConfig
from tabmixr.engines.amortized.standardize import fit_standardization, standardize_batch
from tabmixr.engines.amortized.summaries import sample_packed, sample_summaries, summarize
from tabmixr.engines.amortized.train import batch_loss

SMALL = SimulatorConfig(groups_range=(2, 12), size_range=(1, 15))
MOMENTS_ONLY = ModelConfig(dim=16, heads=2, inducing=4, local_depth=0, global_depth=1, couplings=4,
                           hidden=24)


@pytest.fixture(scope="module")
def packed():
    return sample_packed(Simulator(SMALL, seed=21), 24)


def test_packed_layout(packed):
    r = packed
    B, G = r.sizes.shape
    assert r.X.shape == (int(r.sizes.sum()), P_MAX) and r.y.shape == (r.X.shape[0],)
    assert torch.equal(torch.bincount(r.group, minlength=B * G), r.sizes.reshape(-1))
    assert torch.equal(r.dataset, r.group // G) and bool((r.dataset.diff() >= 0).all())
    assert bool((r.X[:, 0] == 1).all())
    inactive = ~r.fixed_mask[r.dataset]
    assert bool((r.X[inactive] == 0).all())
    assert bool(torch.isfinite(r.X).all() and torch.isfinite(r.y).all())


def test_summaries_equal_the_padded_path(packed):
    """Standardization and cross-products equal those of the same rows padded into a Batch."""
    summary, st = summarize(packed)
    batch = packed.to_batch()
    st_ref = fit_standardization(batch)
    std = standardize_batch(batch, st_ref)
    ref = group_stats(std)
    for name in ("y_center", "y_scale", "x_center", "x_scale", "n"):
        assert torch.allclose(getattr(st, name), getattr(st_ref, name), rtol=1e-12, atol=1e-12), name
    for name in ("n", "XtX", "Xty", "yty", "ZtZ", "ZtX", "Zty"):
        a, b = getattr(summary.stats, name), getattr(ref, name)
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-9), name
    for name in ("beta", "sd", "sigma"):
        assert torch.allclose(getattr(summary.params, name), getattr(std.params, name), rtol=1e-10), name
    torch.manual_seed(0)
    model = AmortizedModel(MOMENTS_ONLY).double()
    assert torch.allclose(model.context(summary, st), model.context(std, st_ref), atol=1e-9)
    assert torch.allclose(batch_loss(model, (summary, st)), batch_loss(model, batch), atol=1e-9)


def test_group_moments_match_numpy(packed):
    summary, _ = summarize(packed)
    m = group_moments(summary.stats)
    assert m.shape[-1] == MOMENT_FEATURES
    batch = packed.to_batch()
    std = standardize_batch(batch, fit_standardization(batch))
    iu = np.triu_indices(P_MAX)
    for i in range(3):
        for g in range(int(batch.group_mask[i].sum())):
            rows = std.row_mask[i, g]
            v = np.column_stack([std.X[i, g][rows][:, 1:].numpy(), std.y[i, g][rows].numpy()])
            want = np.concatenate([v.mean(0), (v.T @ v / len(v))[iu]])
            np.testing.assert_allclose(m[i, g].numpy(), np.arcsinh(want), rtol=1e-9, atol=1e-12)


def test_seeded_and_distinct():
    a = sample_summaries(Simulator(SMALL, seed=5), 6)[0]
    b = sample_summaries(Simulator(SMALL, seed=5), 6)[0]
    c = sample_summaries(Simulator(SMALL, seed=6), 6)[0]
    assert torch.equal(a.stats.XtX, b.stats.XtX) and torch.equal(a.params.beta, b.params.beta)
    assert not torch.equal(a.params.beta, c.params.beta)


def test_packed_data_follow_the_model():
    """Residuals ``y - X beta - Z b`` are N(0, sigma^2); whitened effects are N(0, 1)."""
    r = sample_packed(Simulator(SimulatorConfig(groups_range=(10, 20), size_range=(5, 20)), seed=8), 40)
    Z = torch.gather(r.X, 1, r.re_cols[r.dataset]) * r.re_mask[r.dataset]
    B, G = r.sizes.shape
    resid = r.y - (r.X * r.params.beta[r.dataset]).sum(1) - (Z * r.b.reshape(B * G, -1)[r.group]).sum(1)
    z = (resid / r.params.sigma[r.dataset]).numpy()
    assert stats.kstest(z, "norm").pvalue > 1e-3
    u = torch.linalg.solve_triangular(r.params.L_cov[:, None], r.b[..., None], upper=False)[..., 0]
    u = u[(r.sizes > 0)[..., None] & r.re_mask[:, None, :]].numpy()
    assert stats.kstest(u, "norm").pvalue > 1e-3


def test_packed_predictor_marginals_and_copula():
    """Families in their stated proportions, exact supports, and rank correlation from the copula."""
    cfg = SimulatorConfig(p_range=(P_MAX, P_MAX), groups_range=(30, 30), size_range=(30, 30),
                          predictor_eta=1.0)
    r = sample_packed(Simulator(cfg, seed=9), 400)
    fam = r.families[:, 1:].reshape(-1)
    counts = np.bincount(fam.numpy(), minlength=len(FAMILY_PROBS))
    assert stats.chisquare(counts, np.array(FAMILY_PROBS) * counts.sum()).pvalue > 1e-3
    for i in range(20):
        rows = r.X[r.dataset == i]
        for j in range(1, P_MAX):
            f = int(r.families[i, j])
            if f == 3:
                assert set(rows[:, j].unique().tolist()) <= {0.0, 1.0}
            if f == 4:
                assert bool((rows[:, j] >= 0).all() and (rows[:, j] == rows[:, j].round()).all())
    # LKJ(1) in 7 dimensions: correlations ~ 2 Beta(3.5, 3.5) - 1 (SD 0.35), applied per data set
    rho = []
    for i in range(200):
        rows = r.X[r.dataset == i].numpy()
        rho.append(stats.spearmanr(rows[:, 1], rows[:, 2]).statistic)
    rho = np.array(rho)
    assert np.std(rho) > 0.25 and abs(np.mean(rho)) < 0.1


def test_row_encoder_needs_rows(packed):
    summary, st = summarize(packed)
    with_rows = AmortizedModel(ModelConfig(dim=8, heads=2, inducing=2, local_depth=1, global_depth=1,
                                           couplings=2, hidden=8))
    with pytest.raises(ValueError, match="row encoder"):
        with_rows.context(summary, st)


def test_bucketed_batches_are_consistent():
    sim = Simulator(SMALL, seed=3)
    batches = sim.sample_bucketed(8, 4)
    assert len(batches) == 4
    for b in batches:
        sizes = b.row_mask.sum(-1)
        assert torch.equal(b.group_mask, sizes > 0)
        assert bool(b.group_mask.any(0).all())          # no group column padded for every set
        assert b.row_mask.shape[2] == int(sizes.max())   # padded to this batch's own largest group
        assert bool((b.X[..., 0][b.row_mask] == 1).all())
        assert bool((b.y[~b.row_mask] == 0).all())
