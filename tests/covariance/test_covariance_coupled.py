"""Coupled priors (ar1, arma, gp): every KL piece, the precision and kriging against dense algebra.

The dense reference builds ``Cov(vec b) = R kron Sigma`` in level order and
evaluates the Gaussian KL and the conditional mean with numpy.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tabmixr.covariance import get_covariance
from tabmixr.covariance.ar1 import AR1
from tabmixr.covariance.arma import ARMA
from tabmixr.engines.vi.posterior import JointFactor, TermPosterior
from tabmixr.engines.vi.structured import StructuredPosterior
from tabmixr.errors import EngineError, LevelDataError


def _dense_correlation(prior) -> np.ndarray:
    """``R`` (level order) from the structure's own covariance definition."""
    if isinstance(prior, AR1):
        t = prior.times.numpy()
        rho, step = float(prior.rho().detach()), float(prior.step)
        order = np.argsort(t)
        R = np.eye(len(t))
        for a in range(len(t)):        # Markov chain: products of consecutive correlations
            for b in range(a + 1, len(t)):
                gaps = np.diff(t[order][a:b + 1]) / step
                r = np.prod([rho ** g if abs(g - round(g)) < 1e-9 else np.sign(rho) * abs(rho) ** g
                             for g in gaps])
                R[order[a], order[b]] = R[order[b], order[a]] = r
        return R
    return prior.correlation().detach().numpy()


def _dense_cov(prior) -> np.ndarray:
    return np.kron(_dense_correlation(prior), prior.cov().detach().numpy())


def _make(name: str, q: int, n: int, rng) -> torch.nn.Module:
    if name == "ar1":
        prior = AR1(q, n).double()
        times = np.sort(rng.choice(np.arange(3 * n), n, replace=False)).astype(float) * 0.5
        prior.set_level_data(rng.permutation(times))
        with torch.no_grad():
            prior.rho_raw.fill_(0.9)
    elif name == "arma":
        prior = ARMA(q, n, ar_order=2, ma_order=1).double()
        prior.set_level_data(rng.permutation(np.sort(rng.choice(np.arange(2 * n), n, replace=False))))
        with torch.no_grad():
            prior.ar_raw.copy_(torch.tensor([0.8, -0.3]))
            prior.ma_raw.copy_(torch.tensor([-0.5]))
    else:
        prior = get_covariance("gp", q, n, args={"kernel": "matern32", "coords": ("x", "y")}).double()
        prior.set_level_data(rng.uniform(0, 4, size=(n, 2)))
    with torch.no_grad():
        prior.log_diag.copy_(torch.as_tensor(rng.normal(0, 0.3, q)))
        prior.lower.copy_(torch.as_tensor(rng.normal(0, 0.5, q * (q - 1) // 2)))
    return prior


def _gauss_kl(m: np.ndarray, S: np.ndarray, V: np.ndarray) -> float:
    Vi = np.linalg.inv(V)
    return 0.5 * (np.trace(Vi @ S) + m @ Vi @ m - len(m) + np.linalg.slogdet(V)[1]
                  - np.linalg.slogdet(S)[1])


NAMES = ["ar1", "arma", "gp"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("q", [1, 2])
def test_precision_and_logdet_match_dense(name, q):
    prior = _make(name, q, 8, np.random.default_rng(1))
    V = _dense_cov(prior)
    np.testing.assert_allclose(prior.precision_matrix().detach().numpy(), np.linalg.inv(V),
                               rtol=1e-6, atol=1e-6)
    _, logdet = prior.precision_pieces()
    assert float(logdet.detach()) == pytest.approx(np.linalg.slogdet(V)[1], rel=1e-9)
    assert float(prior.logdet().detach()) == pytest.approx(np.linalg.slogdet(V)[1], rel=1e-9)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("q", [1, 2])
def test_mean_field_kl_matches_dense(name, q):
    rng = np.random.default_rng(2)
    n = 7
    prior = _make(name, q, n, rng)
    mu = torch.as_tensor(rng.normal(size=(n, q)))
    L = torch.as_tensor(np.tril(rng.normal(0, 0.3, size=(n, q, q))))
    L.diagonal(dim1=-2, dim2=-1).copy_(torch.as_tensor(rng.uniform(0.2, 1.0, size=(n, q))))
    S = np.zeros((n * q, n * q))
    for g in range(n):
        S[g * q:(g + 1) * q, g * q:(g + 1) * q] = (L[g] @ L[g].T).numpy()
    kl = prior.kl(mu, L)
    assert float(kl) == pytest.approx(_gauss_kl(mu.numpy().ravel(), S, _dense_cov(prior)), rel=1e-7)
    kl.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in prior.structure_parameters()
               if p.numel())


@pytest.mark.parametrize("name", NAMES)
def test_joint_posterior_kl_counts_cross_level_covariance(name):
    """A joint factor's cross-level blocks meet the coupled precision (``trace_joint``)."""
    rng = np.random.default_rng(3)
    n, q = 6, 1
    post = TermPosterior(q, n, "us").double()
    post.prior = _make(name, q, n, rng)
    factor = JointFactor([(n, q)]).double()
    with torch.no_grad():
        post.mu_raw.copy_(torch.as_tensor(rng.normal(size=(n, q))))
        factor.lower.copy_(torch.as_tensor(rng.normal(0, 0.4, factor.lower.shape)))
        factor.log_diag.copy_(torch.as_tensor(rng.normal(0, 0.2, factor.log_diag.shape)))
    Lf = factor.L().detach().numpy()
    expected = _gauss_kl(post.mu.detach().numpy().ravel(), Lf @ Lf.T, _dense_cov(post.prior))
    assert float(factor.kl([post])) == pytest.approx(expected, rel=1e-8)
    # the per-level trace would miss the off-diagonal blocks: the pieces differ
    rows = factor.term_rows(factor.L(), 0)
    assert float(post.prior.trace_joint(rows)) != pytest.approx(float(post.prior.trace(rows)), rel=1e-3)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("q", [1, 2])
def test_structured_posterior_kl_and_marginals_match_dense(name, q):
    rng = np.random.default_rng(4)
    n = 6
    post = StructuredPosterior(q, n, "us").double()
    post.prior = _make(name, q, n, rng)
    post.start(np.full(q, 0.7), post_fraction=0.4)
    with torch.no_grad():
        post.mu_raw.copy_(torch.as_tensor(rng.normal(size=(n, q))))
        post.log_diag.add_(torch.as_tensor(rng.normal(0, 0.3, size=(n, q))))
        post.lower.copy_(torch.as_tensor(rng.normal(0, 0.3, post.lower.shape)))
    V = _dense_cov(post.prior)
    W = np.zeros_like(V)
    for g, block in enumerate(post.data_precision().detach().numpy()):
        W[g * q:(g + 1) * q, g * q:(g + 1) * q] = block
    S = np.linalg.inv(np.linalg.inv(V) + W)
    kl = post.kl()
    assert float(kl) == pytest.approx(_gauss_kl(post.mu.detach().numpy().ravel(), S, V), rel=1e-7)
    blocks = (post.L_post() @ post.L_post().transpose(1, 2)).detach().numpy()
    for g in range(n):
        np.testing.assert_allclose(blocks[g], S[g * q:(g + 1) * q, g * q:(g + 1) * q], rtol=1e-7)
    kl.backward()
    assert torch.isfinite(post.log_diag.grad).all()


def test_structured_posterior_start_gives_the_asked_fraction():
    post = StructuredPosterior(1, 5, "us").double()
    post.prior = _make("ar1", 1, 5, np.random.default_rng(5))
    post.start(np.array([2.0]), post_fraction=0.3)  # rho reset to 0: independent levels
    L = post.L_post().detach()
    sd = torch.sqrt(torch.diagonal(L @ L.transpose(1, 2), dim1=1, dim2=2)).numpy().ravel()
    np.testing.assert_allclose(sd, 0.6, rtol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_conditional_mean_is_kriging(name):
    rng = np.random.default_rng(6)
    n, q = 9, 2
    prior = _make(name, q, n, rng)
    mu = torch.as_tensor(rng.normal(size=(n, q)))
    if name == "gp":
        new = rng.uniform(0, 4, size=(3, 2))
        all_data = np.vstack([prior.coords.numpy(), new])
        full = get_covariance("gp", q, n + 3, args={"kernel": "matern32"}).double()
        full.set_level_data(all_data)
        full.log_ell.data.copy_(prior.log_ell.data)
        R = full.correlation().detach().numpy()
    elif name == "arma":
        grid = set(prior.times.numpy().tolist())
        new = np.array([t for t in range(-3, 2 * n + 4) if t not in grid][:3], dtype=float)
        lags = np.abs(np.r_[prior.times.numpy(), new][:, None] - np.r_[prior.times.numpy(), new][None])
        R = prior.autocorrelation(int(lags.max())).detach().numpy()[lags.astype(int)]
        R[:n, :n] = prior.correlation().detach().numpy()
    else:
        t = prior.times.numpy()
        new = np.array([t.min() - 1.25, (np.sort(t)[2] + np.sort(t)[3]) / 2, t.max() + 2.0])
        ext = AR1(q, n + 3).double()
        ext.set_level_data(np.r_[t, new])
        ext.step.fill_(float(prior.step))
        ext.rho_raw.data.copy_(prior.rho_raw.data)
        R = _dense_correlation(ext)
    weights = R[n:, :n] @ np.linalg.inv(R[:n, :n])
    expected = weights @ mu.numpy()
    got = prior.conditional_mean(mu, new).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)


def test_ar1_conditional_mean_at_a_fitted_time_returns_that_level():
    prior = AR1(1, 4).double()
    prior.set_level_data(np.array([0.0, 1.0, 2.0, 3.0]))
    mu = torch.tensor([[1.0], [2.0], [3.0], [4.0]], dtype=torch.float64)
    assert prior.conditional_mean(mu, np.array([2.0])).item() == pytest.approx(3.0)


def test_ar1_gaps_count_as_missing_steps():
    prior = AR1(1, 3).double()
    prior.set_level_data(np.array([0.0, 1.0, 3.0]))
    with torch.no_grad():
        prior.rho_raw.fill_(float(np.arctanh(0.5)))
    r = prior.consecutive().detach().numpy()
    np.testing.assert_allclose(r, [0.5 * (1 - 1e-6), (0.5 * (1 - 1e-6)) ** 2], rtol=1e-12)


def test_ar1_refuses_shared_times():
    with pytest.raises(EngineError, match="share one time"):
        AR1(1, 3).set_level_data(np.array([1.0, 2.0, 2.0]))


def test_arma_refuses_times_off_the_grid():
    with pytest.raises(LevelDataError, match="not on the grid"):
        ARMA(1, 3).set_level_data(np.array([0.0, 1.0, 2.5]))
    prior = ARMA(1, 3)
    prior.set_level_data(np.array([0.0, 1.0, 3.0]))
    with pytest.raises(LevelDataError, match="not on the fitted time grid"):
        prior.conditional_mean(torch.zeros(3, 1), np.array([1.5]))
