"""The C++ single-term objective equals the Python blocked-Cholesky path."""

import numpy as np
import pytest

from tabmixr import kernels
from tabmixr.engines.exact.engine import compiled_objective, profiled_objective
from tabmixr.engines.exact.system import build_system

from .simulated import simulated_design


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
@pytest.mark.parametrize("q,levels,p,weights", [(1, 12, 1, False), (2, 15, 2, False),
                                                (3, 20, 3, True), (2, 9, 4, True)])
def test_matches_python_path(q, levels, p, weights, reml):
    system = build_system(simulated_design(terms=((q, levels),), p=p, weights=weights,
                                           offset=weights, seed=q + p))
    rng = np.random.default_rng(q)
    for _ in range(5):
        theta = system.layout.start() * rng.uniform(0.0, 2.0, system.layout.size)
        off = ~system.layout.is_diagonal
        theta[off] = rng.normal(scale=0.5, size=off.sum())
        value, grad = compiled_objective(system, theta, reml)
        ref_value, ref_grad = profiled_objective(system, theta, reml)
        assert value == pytest.approx(ref_value, rel=1e-12)
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-8, atol=1e-8)


def test_not_positive_definite_gives_inf():
    system = build_system(simulated_design(terms=((1, 10),), p=2))
    GRR = system.G_RR.copy()
    GRR[0, 0] = -1.0
    value, _, _ = kernels.single_term_objective(np.array([1.0]), system.G11, system.G_R1, GRR,
                                                system.n, 0.0, True)
    assert value == np.inf


@pytest.mark.parametrize("kwargs,match", [
    (dict(theta=np.ones(2)), "theta"),
    (dict(G11=np.ones((3, 1, 2))), "G11"),
    (dict(GR1=np.ones((2, 4))), "GR1"),
    (dict(GRR=np.ones((2, 3))), "GRR"),
    (dict(theta=np.array([np.nan])), "theta"),
])
def test_bad_shapes_raise(kwargs, match):
    args = dict(theta=np.ones(1), G11=np.ones((3, 1, 1)), GR1=np.ones((2, 3)), GRR=np.eye(2))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        kernels.single_term_objective(args["theta"], args["G11"], args["GR1"], args["GRR"],
                                      20, 0.0, True)
