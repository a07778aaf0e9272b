"""GP prior: kernels against scipy, KL pieces against the dense K kron Sigma."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from scipy.special import gamma, kv

from tabmixr.covariance.gp import KERNELS, GaussianProcess, MAX_LEVELS
from tabmixr.errors import EngineError


def _matern_scipy(d: np.ndarray, nu: float) -> np.ndarray:
    """Matern correlation with scale parametrization sqrt(2 nu) d, by Bessel functions."""
    s = np.sqrt(2 * nu) * np.maximum(d, 1e-12)
    return (2 ** (1 - nu) / gamma(nu)) * s ** nu * kv(nu, s)


@pytest.mark.parametrize("name, nu", [("matern12", 0.5), ("matern32", 1.5), ("matern52", 2.5)])
def test_matern_kernels_match_bessel_form(name, nu):
    d = np.linspace(0.01, 4, 50)
    ours = KERNELS[name](torch.as_tensor(d)).numpy()
    assert ours == pytest.approx(_matern_scipy(d, nu), rel=1e-7)


def test_rbf_kernel():
    d = np.linspace(0, 3, 7)
    assert KERNELS["rbf"](torch.as_tensor(d)).numpy() == pytest.approx(np.exp(-d ** 2 / 2))


@pytest.mark.parametrize("kernel", sorted(KERNELS))
@pytest.mark.parametrize("q", [1, 2])
def test_kl_matches_dense(kernel, q):
    rng = np.random.default_rng(7)
    n = 9
    coords = rng.uniform(0, 5, size=(n, 2))
    prior = GaussianProcess(q, n, kernel).double()
    prior.set_coordinates(coords)
    with torch.no_grad():
        prior.log_diag.copy_(torch.as_tensor(rng.normal(0, 0.3, q)))
        prior.lower.copy_(torch.as_tensor(rng.normal(0, 0.5, q * (q - 1) // 2)))
    ell = float(prior.length_scale().detach())
    assert ell == pytest.approx(np.median(cdist(coords, coords)[cdist(coords, coords) > 0]))
    K = KERNELS[kernel](torch.as_tensor(cdist(coords, coords) / ell)).numpy() + 1e-6 * np.eye(n)
    sigma = prior.cov().detach().numpy()
    cov_prior = np.kron(K, sigma)
    mu = torch.as_tensor(rng.normal(size=(n, q)))
    L_post = torch.as_tensor(np.tril(rng.normal(0, 0.3, size=(n, q, q))))
    L_post.diagonal(dim1=-2, dim2=-1).copy_(torch.as_tensor(rng.uniform(0.2, 1.2, size=(n, q))))
    cov_post = np.zeros_like(cov_prior)
    for g in range(n):
        block = (L_post[g] @ L_post[g].T).numpy()
        cov_post[g * q:(g + 1) * q, g * q:(g + 1) * q] = block
    m = mu.numpy().ravel()
    inv = np.linalg.inv(cov_prior)
    expected = 0.5 * (np.trace(inv @ cov_post) + m @ inv @ m - n * q
                      + np.linalg.slogdet(cov_prior)[1] - np.linalg.slogdet(cov_post)[1])
    kl = prior.kl(mu, L_post)
    assert kl.item() == pytest.approx(expected, rel=1e-7)
    kl.backward()
    assert torch.isfinite(prior.log_ell.grad)


def test_too_many_levels_point_to_spde():
    with pytest.raises(EngineError, match="spde"):
        GaussianProcess(1, MAX_LEVELS + 1)


def test_bad_inputs():
    with pytest.raises(EngineError, match="unknown kernel 'cubic'"):
        GaussianProcess(1, 3, "cubic")
    with pytest.raises(EngineError, match="one row per level"):
        GaussianProcess(1, 3).set_coordinates(np.zeros((2, 2)))
    prior = GaussianProcess(1, 3)
    with pytest.raises(EngineError, match="finite"):
        prior.set_coordinates(np.array([[0, 0], [1, np.nan], [2, 2]]))
