"""The analytic gradient equals central finite differences of the objective."""

import numpy as np
import pytest

from tabmixr.engines.exact.engine import profiled_objective
from tabmixr.engines.exact.system import build_system

from .simulated import simulated_design

CASES = {
    "one scalar term": dict(terms=((1, 15),)),
    "one vector term": dict(terms=((2, 15),)),
    "crossed scalar": dict(terms=((1, 20), (1, 9))),
    "vector rest term": dict(terms=((1, 25), (2, 8))),
    "three terms, q=3 first": dict(terms=((3, 30), (2, 6), (1, 4))),
    "weights and offset": dict(terms=((2, 20), (1, 5)), weights=True, offset=True),
}


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_gradient_matches_finite_differences(case, reml):
    system = build_system(simulated_design(**CASES[case]))
    rng = np.random.default_rng(1)
    theta = system.layout.start() * rng.uniform(0.3, 1.5, system.layout.size)
    theta[~system.layout.is_diagonal] = rng.normal(scale=0.3, size=(~system.layout.is_diagonal).sum())
    value, grad = profiled_objective(system, theta, reml)
    eps = 1e-6
    numeric = np.array([
        (profiled_objective(system, theta + eps * e, reml, False)
         - profiled_objective(system, theta - eps * e, reml, False)) / (2 * eps)
        for e in np.eye(len(theta))])
    assert np.isfinite(value)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-5 * max(1.0, abs(value)) ** 0.5)


def test_gradient_at_boundary_matches_one_sided_differences():
    system = build_system(simulated_design(terms=((2, 15), (1, 6))))
    theta = np.array([0.0, 0.2, 0.7, 0.5])
    value, grad = profiled_objective(system, theta, True)
    eps = 1e-7
    numeric = np.array([
        (profiled_objective(system, theta + eps * e, True, False) - value) / eps
        for e in np.eye(len(theta))])
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-4)
