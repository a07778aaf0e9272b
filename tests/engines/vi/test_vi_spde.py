"""spde(1 | site, coords = c(x, y)) in the neural engine: prior pieces, the profiled
ELBO against the exact Gaussian marginal likelihood, recovery of a Matern field,
kriging of new sites, non-Gaussian responses and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from scipy.special import kv

import tabmixr
from tabmixr.covariance.spde import SpdeField, grid_for_sites
from tabmixr.errors import TabmixError
from tabmixr.linalg.sparse_cholesky import SparseCholesky


def matern_field(coords: np.ndarray, sd: float, field_range: float, rng) -> np.ndarray:
    """A draw of the Matern (nu = 1) field at ``coords``, exactly (dense Cholesky)."""
    D = np.sqrt(((coords[:, None] - coords[None]) ** 2).sum(-1))
    kappa = np.sqrt(8.0) / field_range
    with np.errstate(invalid="ignore"):
        C = np.where(D > 0, kappa * D * kv(1, kappa * np.maximum(D, 1e-300)), 1.0)
    L = np.linalg.cholesky(sd ** 2 * C + 1e-8 * np.eye(len(coords)))
    return L @ rng.standard_normal(len(coords))


def field_data(n_sites: int, reps: int, seed: int, sd=1.0, field_range=3.0, noise=0.5,
               side=10.0, family="gaussian"):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, side, (n_sites, 2))
    b = matern_field(xy, sd, field_range, rng)
    site = np.tile(np.arange(n_sites), reps)
    z = rng.standard_normal(len(site))
    eta = 1.0 + 0.5 * z + b[site]
    if family == "gaussian":
        y = eta + noise * rng.standard_normal(len(site))
    else:
        y = rng.poisson(np.exp(eta))
    df = pd.DataFrame({"x": xy[site, 0], "y": xy[site, 1], "site": [f"s{k}" for k in site],
                       "z": z, "resp": y})
    return df, b


FORMULA = "resp ~ z + spde(1 | site, coords = c(x, y))"


def test_precision_values_and_closed_form_logdet_match_the_kernels():
    rng = np.random.default_rng(0)
    coords = rng.uniform(0, 3, (40, 2)) * [1.0, 0.6]
    field = SpdeField(1, 40, grid=grid_for_sites(coords, 14)).double()
    field.set_level_data(coords)
    with torch.no_grad():
        field.log_range.fill_(np.log(0.8))
        field.log_sd.fill_(np.log(1.7))
    kappa, tau = (float(v.detach()) for v in field.kappa_tau())
    Q = field.grid.precision(kappa, tau, alpha=2)
    pat = field.pattern()
    mine = sp.csc_array((field.precision_values().detach().numpy(), pat["Q"].indices,
                         pat["Q"].indptr), shape=Q.shape)
    assert abs(mine - Q).max() <= 1e-12 * abs(Q).max()
    assert float(field.logdet_precision().detach()) == pytest.approx(SparseCholesky(Q).logdet(), rel=1e-12)
    # the gradient of the closed form is tr(Q^-1 dQ) (selected inversion)
    field.logdet_precision().backward()
    _, dk, dt = field.grid.precision_and_derivatives(kappa, tau, alpha=2)
    chol = SparseCholesky(Q)
    d_kappa, d_tau = chol.trace_inv_product(dk), chol.trace_inv_product(dt)
    # log_range -> kappa = sqrt8 / range; log_sd -> tau = 1 / (sqrt(4 pi) kappa sd)
    expect_range = d_kappa * (-kappa) + d_tau * tau  # dtau/dlog_range = +tau (tau ~ 1/kappa)
    expect_sd = d_tau * (-tau)
    assert float(field.log_range.grad) == pytest.approx(expect_range, rel=1e-8)
    assert float(field.log_sd.grad) == pytest.approx(expect_sd, rel=1e-8)


@pytest.fixture(scope="module")
def small_fit():
    df, b = field_data(300, 2, seed=1)
    fit = tabmixr.tabmix(FORMULA, data=df, method="vi", seed=1)
    return df, b, fit


def _field_prior(fit, df):
    params = fit.extra["structures"][0]["parameters"]
    coords = df.drop_duplicates("site")
    levels = list(fit.ranef()["site"].index)
    coords = coords.set_index("site").loc[levels, ["x", "y"]].to_numpy()
    from tabmixr.engines.vi.predict import cached_model
    field = cached_model(fit).posteriors[0][0].prior
    kappa, tau = (float(v.detach()) for v in field.kappa_tau())
    assert params["range"] == pytest.approx(np.sqrt(8) / kappa)
    Q = field.grid.precision(kappa, tau, alpha=2).toarray()
    P = field.projector(coords).toarray()
    return levels, P, Q


def test_gaussian_elbo_is_the_exact_marginal_likelihood(small_fit):
    df, _, fit = small_fit
    levels, P, Q = _field_prior(fit, df)
    code = pd.Categorical(df["site"], categories=levels).codes
    Z = P[code]
    V = fit.sigma ** 2 * np.eye(len(df)) + Z @ np.linalg.solve(Q, Z.T)
    X = np.column_stack([np.ones(len(df)), df["z"]])
    r = df["resp"].to_numpy() - X @ fit.fixef().to_numpy()
    sign, logdet = np.linalg.slogdet(V)
    exact = -0.5 * (len(df) * np.log(2 * np.pi) + logdet + r @ np.linalg.solve(V, r))
    assert fit.loglik() == pytest.approx(exact, rel=1e-6)
    # and the fixed effects' SEs are the GLS ones at these parameters
    gls = np.linalg.inv(X.T @ np.linalg.solve(V, X))
    se = np.sqrt(np.diag(fit.vcov_beta() if callable(fit.vcov_beta) else fit.vcov_beta))
    assert se == pytest.approx(np.sqrt(np.diag(gls)), rel=1e-3)


def test_new_sites_are_kriged_from_the_fitted_field(small_fit):
    df, b, fit = small_fit
    rng = np.random.default_rng(5)
    new = pd.DataFrame({"x": rng.uniform(1, 9, 30), "y": rng.uniform(1, 9, 30),
                        "site": [f"new{k}" for k in range(30)], "z": 0.0})
    krige = fit.predict(new, allow_new_levels=True)
    zero = fit.predict(new, new_levels="zero")
    assert np.ptp(krige) > 0.5 and np.allclose(zero, zero[0])
    outside = new.iloc[:1].assign(x=1e3)
    with pytest.raises(TabmixError, match="grid"):
        fit.predict(outside, allow_new_levels=True)


def test_matern_field_recovered_and_beats_iid_on_held_out_rows():
    df, b = field_data(2500, 2, seed=3, sd=1.0, field_range=3.0, noise=0.5)
    rng = np.random.default_rng(0)
    test = rng.random(len(df)) < 0.2
    train, held = df[~test], df[test]
    fit = tabmixr.tabmix(FORMULA, data=train, method="vi", seed=1)
    params = fit.extra["structures"][0]["parameters"]
    assert params["range"] == pytest.approx(3.0, rel=0.2)
    iid = tabmixr.tabmix("resp ~ z + (1 | site)", data=train, method="vi", seed=1)
    rmse = lambda pred: float(np.sqrt(np.mean((held["resp"].to_numpy() - pred) ** 2)))
    spde_rmse = rmse(fit.predict(held, allow_new_levels=True))
    iid_rmse = rmse(iid.predict(held, allow_new_levels=True))
    assert spde_rmse < 0.8 * iid_rmse


def test_poisson_field_runs_newton_and_recovers_the_sd():
    df, b = field_data(400, 3, seed=4, sd=0.7, field_range=4.0, family="poisson")
    fit = tabmixr.tabmix(FORMULA, data=df, method="vi", family="poisson", seed=1)
    est = np.asarray(fit.ranef()["site"]).ravel()
    levels = list(fit.ranef()["site"].index)
    truth = b[[int(s[1:]) for s in levels]]
    assert np.corrcoef(est, truth)[0, 1] > 0.8
    assert fit.fixef()["z"] == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("formula, match", [
    ("resp ~ z + spde(1 + z | site, coords = c(x, y))", "one effect per site"),
    ("resp ~ z + spde(1 | site, coords = c(x, y), alpha = 1)", "alpha = 1"),
])
def test_bad_spde_terms_raise_clear_errors(formula, match):
    df, _ = field_data(50, 1, seed=2)
    with pytest.raises(TabmixError, match=match):
        tabmixr.tabmix(formula, data=df, method="vi", seed=1)


def test_linear_spde_model_is_fitted_full_batch_beyond_full_batch_max():
    df, _ = field_data(120, 2, seed=6)
    fit = tabmixr.tabmix(FORMULA, data=df, method="vi", seed=1, full_batch_max=50)
    assert fit.optimizer["optimizer"] == "lbfgs"
