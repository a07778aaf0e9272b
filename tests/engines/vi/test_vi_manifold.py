"""backbone='manifold': latent SPDE fields read at the rows' coordinates, then an MLP."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

import tabmixr
from tabmixr.covariance.spde import grid_for_sites
from tabmixr.engines.vi.manifold import LatentFields
from tabmixr.errors import TabmixError


def _rough_field_data(seed=1, n_sites=250, per=4):
    rng = np.random.default_rng(seed)
    S = rng.uniform(0, 10, (n_sites, 2))
    W = rng.normal(0, 1.0, (50, 2))
    ph = rng.uniform(0, 2 * np.pi, 50)
    site = np.repeat(np.arange(n_sites), per)
    xy = S[site]
    f = np.sqrt(2 / 50) * np.cos(xy @ W.T + ph).sum(1)
    x1 = rng.normal(size=len(site))
    y = 1 + 0.5 * x1 + f * (1 + 0.5 * x1) + rng.normal(0, 0.3, len(site))
    df = pd.DataFrame(dict(y=y, x1=x1, sx=xy[:, 0], sy=xy[:, 1]))
    test = rng.random(len(df)) < 0.2
    return df[~test], df[test]


@pytest.mark.parametrize("knots", [None, [0.0, 1.0, 4]])
def test_kl_matches_dense_gaussian_kl(knots):
    torch.manual_seed(0)
    coords = np.random.default_rng(0).uniform(0, 5, (30, 2))
    F = LatentFields(grid_for_sites(coords, nodes=6), 2, knots, extent=5.0).double()
    with torch.no_grad():
        F.mean.normal_()
        F.log_var.normal_(-1, 0.3)
        F.rho_raw.fill_(0.4)
        F.space[1].log_sd.fill_(-0.2)
    expected = 0.0
    for k in range(2):
        pat = F.space[k].pattern()["Q"]
        vals = F.space[k].precision_values().detach().numpy()
        Qs = sp.csc_array((vals, pat.indices, pat.indptr), shape=pat.shape).toarray()
        K = F.n_knots
        lag = np.abs(np.subtract.outer(np.arange(K), np.arange(K)))
        Qt = np.linalg.inv(np.tanh(0.4) ** lag)
        Q = np.kron(Qs, Qt)  # node-major values: node * K + knot
        m = F.mean[k].detach().numpy()
        s = np.exp(F.log_var[k].detach().numpy())
        expected += 0.5 * (np.sum(np.diag(Q) * s) + m @ Q @ m - np.linalg.slogdet(Q)[1]
                           - np.sum(np.log(s)) - m.size)
    assert float(F.kl()) == pytest.approx(expected, rel=1e-10)


def test_rough_field_beats_linear_and_mlp_and_is_reproducible():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _compare_backbones()
    finally:
        torch.set_num_threads(threads)


def _compare_backbones():
    train, test = _rough_field_data()
    rmse = {}
    for backbone, extra in (("linear", {}), ("mlp", {}), ("manifold", {"coords": ("sx", "sy")})):
        fit = tabmixr.tabmix("y ~ x1 + sx + sy", data=train, method="vi", backbone=backbone,
                             max_epochs=600, **extra)
        pred = np.asarray(fit.predict(test))
        rmse[backbone] = float(np.sqrt(np.mean((pred - test.y.values) ** 2)))
        if backbone == "manifold":
            state = fit.model_state["manifold"]
            again = tabmixr.tabmix("y ~ x1 + sx + sy", data=train, method="vi",
                                   backbone=backbone, max_epochs=600, **extra)
            np.testing.assert_allclose(np.asarray(again.predict(test)), pred, atol=1e-10)
    assert state["columns"] == ["sx", "sy"] and len(state["range"]) == 4
    assert rmse["manifold"] < 0.5 * rmse["linear"]
    assert rmse["manifold"] < rmse["mlp"]


def test_bad_manifold_options_are_refused():
    train, test = _rough_field_data(n_sites=40, per=2)
    with pytest.raises(TabmixError, match="coords=\\(x, y\\)"):
        tabmixr.tabmix("y ~ x1 + sx + sy", data=train, method="vi", backbone="manifold")
    with pytest.raises(TabmixError, match="'lon' is not a fixed-effect column"):
        tabmixr.tabmix("y ~ x1 + sx + sy", data=train, method="vi", backbone="manifold",
                       coords=("lon", "sy"))
    with pytest.raises(TabmixError, match="belong to backbone='manifold'"):
        tabmixr.tabmix("y ~ x1 + sx + sy", data=train, method="vi", backbone="mlp",
                       coords=("sx", "sy"))
    fit = tabmixr.tabmix("y ~ x1 + sx + sy", data=train, method="vi", backbone="manifold",
                         coords=("sx", "sy"), max_epochs=5)
    far = test.head(3).assign(sx=100.0)
    with pytest.raises(TabmixError, match="outside the fitted grid"):
        fit.predict(far)


def test_time_correlation_is_fixed_not_learned():
    from tabmixr.engines.vi.manifold import FIXED_RHO
    coords = np.random.default_rng(0).uniform(0, 5, (30, 2))
    F = LatentFields(grid_for_sites(coords, nodes=6), 3, [0.0, 1.0, 4], extent=5.0)
    assert not F.rho_raw.requires_grad
    assert all(p is not F.rho_raw for p in F.parameters() if p.requires_grad)
    np.testing.assert_allclose(F.rho().detach().numpy(), FIXED_RHO, rtol=1e-6)
