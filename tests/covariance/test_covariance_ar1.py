"""AR(1) prior: KL pieces against the dense R(rho) kron Sigma."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.linalg import toeplitz

from tabmixr.covariance.ar1 import AR1, time_order
from tabmixr.errors import EngineError


def _dense_prior(prior: AR1) -> np.ndarray:
    """Covariance of the effects stacked level by level in the design's level order."""
    n, rho = prior.n_levels, float(prior.rho().detach())
    R_time = toeplitz(rho ** np.arange(n))
    order = prior.order.numpy()
    R = np.empty_like(R_time)
    R[np.ix_(order, order)] = R_time
    sigma = prior.cov().detach().double().numpy()
    return np.kron(R, sigma)


def _dense_kl(prior: AR1, mu: torch.Tensor, L_post: torch.Tensor) -> float:
    cov_prior = _dense_prior(prior)
    blocks = [(L @ L.T).numpy() for L in L_post.detach().double()]
    n_dim = cov_prior.shape[0]
    cov_post = np.zeros((n_dim, n_dim))
    q = prior.q
    for g, block in enumerate(blocks):
        cov_post[g * q:(g + 1) * q, g * q:(g + 1) * q] = block
    m = mu.detach().double().numpy().ravel()
    inv = np.linalg.inv(cov_prior)
    return 0.5 * (np.trace(inv @ cov_post) + m @ inv @ m - n_dim
                  + np.linalg.slogdet(cov_prior)[1] - np.linalg.slogdet(cov_post)[1])


@pytest.mark.parametrize("q, n_levels, rho_raw", [(1, 1, 0.3), (1, 2, -0.4), (1, 12, 1.1), (2, 7, 0.6),
                                                  (3, 5, -1.5)])
def test_kl_matches_dense(q, n_levels, rho_raw):
    torch.manual_seed(q * 100 + n_levels)
    with torch.no_grad():
        prior = AR1(q, n_levels).double()
        prior.log_diag.copy_(torch.randn(q) * 0.3)
        prior.lower.copy_(torch.randn(q * (q - 1) // 2) * 0.5)
        prior.rho_raw.fill_(rho_raw)
    levels = tuple(str(v) for v in np.random.default_rng(n_levels).permutation(n_levels) * 3 + 1)
    prior.set_levels(levels)
    mu = torch.randn(n_levels, q, dtype=torch.float64)
    L_post = torch.tril(torch.randn(n_levels, q, q, dtype=torch.float64) * 0.3)
    L_post.diagonal(dim1=-2, dim2=-1).copy_(torch.rand(n_levels, q, dtype=torch.float64) + 0.2)
    kl = prior.kl(mu, L_post)
    assert kl.item() == pytest.approx(_dense_kl(prior, mu, L_post), rel=1e-9, abs=1e-9)
    kl.backward()
    assert prior.rho_raw.grad is not None and torch.isfinite(prior.rho_raw.grad)


def test_logdet_matches_dense():
    prior = AR1(2, 6).double()
    with torch.no_grad():
        prior.rho_raw.fill_(0.8)
        prior.log_diag.copy_(torch.tensor([0.2, -0.5]))
    assert float(prior.logdet()) == pytest.approx(np.linalg.slogdet(_dense_prior(prior))[1], rel=1e-10)


def test_time_order_numeric_and_labels():
    assert list(time_order(("10", "2", "1"))) == [2, 1, 0]
    assert list(time_order(("b", "a", "c"))) == [0, 1, 2]


def test_level_count_mismatch_is_refused():
    with pytest.raises(EngineError, match="ar1"):
        AR1(1, 3).set_levels(("1", "2"))


def test_rho_stays_inside_unit_interval():
    prior = AR1(1, 4)
    with torch.no_grad():
        prior.rho_raw.fill_(50.0)
    assert -1 < float(prior.rho()) < 1
    assert torch.isfinite(prior.logdet())
    prior.set_scale(np.array([2.0]))
    assert float(prior.rho()) == 0.0
    assert prior.extra_parameters() == {"rho": 0.0}
