"""Link functions: inverses, stable logs and round trips against SciPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from families_cases import INVERSE_LINKS
from scipy import special

from tabmixr.families import LINKS
from tabmixr.families.links import log1mexp

ETA = {
    "identity": np.linspace(0.01, 50, 40), "log": np.linspace(-30, 30, 40), "inverse": np.linspace(0.01, 50, 40),
    "sqrt": np.linspace(0.01, 20, 40), "logit": np.linspace(-35, 35, 41), "probit": np.linspace(-35, 35, 41),
    "cloglog": np.linspace(-35, 3.5, 41),
}


def _log_cloglog(eta):
    """log(1 - exp(-exp(eta))) in 50-digit arithmetic."""
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(50):
        return np.array([float(mpmath.log1p(-mpmath.exp(-mpmath.exp(mpmath.mpf(float(e)))))) for e in eta])


@pytest.mark.parametrize("name", sorted(LINKS))
def test_inverse_and_log_inverse_match_scipy(name):
    link = LINKS[name]
    eta = ETA[name]
    mu = INVERSE_LINKS[name](eta)
    t = torch.tensor(eta)
    np.testing.assert_allclose(link.inverse(t).numpy(), mu, rtol=1e-12)
    ok = ~(link.unit_interval & (np.abs(mu - 0.5) > 0.5 - 1e-6))  # the round trip is ill-posed at mu ~ 0 or 1
    np.testing.assert_allclose(link.link(mu[ok]), eta[ok], rtol=1e-8, atol=1e-8)
    want_log = {"logit": lambda e: -np.logaddexp(0, -e), "probit": special.log_ndtr,
                "cloglog": lambda e: _log_cloglog(e)}.get(name, lambda e: np.log(INVERSE_LINKS[name](e)))
    np.testing.assert_allclose(link.log_inverse(t).numpy(), want_log(eta), rtol=1e-10)


@pytest.mark.parametrize("name", ["logit", "probit", "cloglog"])
def test_complements_are_exact_in_the_upper_tail(name):
    link = LINKS[name]
    eta = np.linspace(-5, 35 if name != "cloglog" else 3.5, 30)
    t = torch.tensor(eta)
    want = {"logit": lambda e: -np.logaddexp(0, e), "probit": lambda e: special.log_ndtr(-e),
            "cloglog": lambda e: -np.exp(e)}[name](eta)
    np.testing.assert_allclose(link.log_complement(t).numpy(), want, rtol=1e-10)
    np.testing.assert_allclose(link.complement(t).numpy(), np.exp(want), rtol=1e-10)
    assert link.unit_interval


def test_log1mexp_is_accurate_everywhere():
    mpmath = pytest.importorskip("mpmath")  # torch depends on it (through sympy)
    x = torch.tensor(np.logspace(-12, 2.5, 60))
    with mpmath.workdps(50):
        want = np.array([float(mpmath.log1p(-mpmath.exp(-mpmath.mpf(float(v))))) for v in x.numpy()])
    np.testing.assert_allclose(log1mexp(x).numpy(), want, rtol=1e-12)
    x.requires_grad_(True)
    log1mexp(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 1.0 / np.expm1(x.detach().numpy()), rtol=1e-9)
