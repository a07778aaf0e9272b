"""ARMA(p, q) structure: autocorrelations, stationary/invertible parametrization, parameters."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tabmixr.covariance import get_covariance
from tabmixr.covariance.arma import ARMA, arma_autocorrelation, pacf_to_coefficients


def _acf_from_psi_weights(phi, theta, max_lag, n_terms=4000):
    """Reference: gamma(h) = sum_j psi_j psi_{j+h} from the MA(infinity) weights."""
    psi = np.zeros(n_terms)
    psi[0] = 1.0
    for j in range(1, n_terms):
        value = theta[j - 1] if j <= len(theta) else 0.0
        for i in range(1, min(j, len(phi)) + 1):
            value += phi[i - 1] * psi[j - i]
        psi[j] = value
    gamma = np.array([psi[:n_terms - h] @ psi[h:] for h in range(max_lag + 1)])
    return gamma / gamma[0]


@pytest.mark.parametrize("phi, theta", [([0.7], [0.4]), ([0.5, -0.3], []), ([], [0.6, 0.2]),
                                        ([0.9], []), ([0.3, 0.2, 0.1], [0.5]), ([0.5], [0.3, 0.2, -0.1]),
                                        ([-0.6], [0.3])])
def test_autocorrelation_matches_psi_weights(phi, theta):
    ours = arma_autocorrelation(torch.tensor(phi, dtype=torch.float64),
                                torch.tensor(theta, dtype=torch.float64), 60).numpy()
    np.testing.assert_allclose(ours, _acf_from_psi_weights(phi, theta, 60), atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_pacf_map_gives_stationary_and_invertible_polynomials(seed):
    rng = np.random.default_rng(seed)
    prior = ARMA(1, 5, ar_order=3, ma_order=2).double()
    with torch.no_grad():
        prior.ar_raw.copy_(torch.as_tensor(rng.normal(0, 2, 3)))
        prior.ma_raw.copy_(torch.as_tensor(rng.normal(0, 2, 2)))
    phi = prior.ar_coefficients().detach().numpy()
    theta = prior.ma_coefficients().detach().numpy()
    assert np.all(np.abs(np.roots(np.r_[-phi[::-1], 1.0])) > 1.0)      # 1 - phi_1 z - ... stationary
    assert np.all(np.abs(np.roots(np.r_[theta[::-1], 1.0])) > 1.0)      # 1 + theta_1 z + ... invertible


def test_pacf_of_an_ar1_is_its_coefficient():
    assert pacf_to_coefficients(torch.tensor([0.4])).tolist() == pytest.approx([0.4])
    # AR(2) with partial autocorrelations (r1, r2): phi = (r1 (1 - r2), r2)
    phi = pacf_to_coefficients(torch.tensor([0.5, -0.2], dtype=torch.float64)).numpy()
    np.testing.assert_allclose(phi, [0.5 * 1.2, -0.2])


def test_registry_builds_orders_from_wrapper_arguments_and_reports_them():
    prior = get_covariance("arma", 1, 4, args={"p": 2, "q": 1})
    assert (prior.ar_order, prior.ma_order) == (2, 1)
    assert set(prior.extra_parameters()) == {"phi1", "phi2", "theta1"}
    assert prior.structure_parameters()[0] is prior.ar_raw


def test_gradients_reach_the_coefficients():
    prior = ARMA(1, 6, ar_order=1, ma_order=1).double()
    prior.set_level_data(np.arange(6.0))
    with torch.no_grad():
        prior.ar_raw.fill_(0.5)
        prior.ma_raw.fill_(-0.3)
    mu = torch.randn(6, 1, dtype=torch.float64)
    L = torch.full((6, 1, 1), 0.5, dtype=torch.float64)
    prior.kl(mu, L).backward()
    assert float(prior.ar_raw.grad.abs().sum()) > 0 and float(prior.ma_raw.grad.abs().sum()) > 0
