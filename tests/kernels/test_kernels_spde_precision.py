"""SPDE Matern precision on a grid against an independent scipy.sparse construction."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spl

from tabmixr.errors import SpdeError, TabmixError
from tabmixr.spde import SpdeGrid, matern_range, matern_variance


def _neumann_1d(n, h):
    """1-D negative Laplacian with zero-flux ends: rows [1 -1], [-1 2 -1], ..., [-1 1] / h^2."""
    if n == 1:
        return sp.csr_array((1, 1))
    main = np.full(n, 2.0)
    main[[0, -1]] = 1.0
    off = -np.ones(n - 1)
    return sp.diags_array([off, main, off], offsets=[-1, 0, 1]) / h**2


def _reference_q(nx, ny, hx, hy, kappa, tau, alpha):
    L = sp.kron(sp.eye_array(ny), _neumann_1d(nx, hx)) + sp.kron(_neumann_1d(ny, hy),
                                                                  sp.eye_array(nx))
    K = kappa**2 * sp.eye_array(nx * ny) + L
    Q = K if alpha == 1 else K @ K
    return (tau**2 * hx * hy * Q).toarray()


GRIDS = [(1, 1, 1.0, 1.0), (5, 1, 0.3, 1.0), (1, 4, 1.0, 0.2), (4, 3, 0.5, 1.0),
         (7, 9, 0.1, 0.25), (2, 2, 2.0, 3.0)]


@pytest.mark.parametrize("alpha", [1, 2])
@pytest.mark.parametrize("nx,ny,hx,hy", GRIDS)
def test_matches_scipy_construction(nx, ny, hx, hy, alpha):
    grid = SpdeGrid(nx, ny, hx, hy)
    kappa, tau = 1.7, 0.6
    Q = grid.precision(kappa, tau, alpha)
    np.testing.assert_allclose(Q.toarray(), _reference_q(nx, ny, hx, hy, kappa, tau, alpha),
                               rtol=1e-12, atol=1e-12 * np.abs(Q.data).max())
    np.testing.assert_allclose(Q.toarray(), Q.toarray().T, rtol=0, atol=0)
    assert np.linalg.eigvalsh(Q.toarray()).min() > 0
    assert Q.has_sorted_indices


@pytest.mark.parametrize("alpha", [1, 2])
def test_pattern_fixed_across_parameters(alpha):
    grid = SpdeGrid(6, 5, 0.2, 0.3)
    Q1 = grid.precision(0.5, 1.0, alpha)
    Q2 = grid.precision(40.0, 3.0, alpha)
    np.testing.assert_array_equal(Q1.indptr, Q2.indptr)
    np.testing.assert_array_equal(Q1.indices, Q2.indices)
    # the 5-point (alpha = 1) or 13-point (alpha = 2) stencil in the interior
    interior = 2 + 6 * 2
    assert np.diff(Q1.indptr)[interior] == (5 if alpha == 1 else 13)


@pytest.mark.parametrize("alpha", [1, 2])
@pytest.mark.parametrize("kappa,tau", [(0.8, 1.3), (5.0, 0.2)])
def test_derivatives_match_finite_differences(alpha, kappa, tau):
    grid = SpdeGrid(5, 4, 0.3, 0.4)
    Q, dk, dt = grid.precision_and_derivatives(kappa, tau, alpha)
    for D in (dk, dt):
        np.testing.assert_array_equal(D.indptr, Q.indptr)
        np.testing.assert_array_equal(D.indices, Q.indices)
    eps = 1e-6
    fd_k = (grid.precision(kappa * (1 + eps), tau, alpha).data
            - grid.precision(kappa * (1 - eps), tau, alpha).data) / (2 * eps * kappa)
    fd_t = (grid.precision(kappa, tau * (1 + eps), alpha).data
            - grid.precision(kappa, tau * (1 - eps), alpha).data) / (2 * eps * tau)
    scale = np.abs(Q.data).max() / min(kappa, tau)
    np.testing.assert_allclose(dk.data, fd_k, atol=1e-7 * scale, rtol=1e-6)
    np.testing.assert_allclose(dt.data, fd_t, atol=1e-7 * scale, rtol=1e-6)


def _marginal_variances(Q, nodes):
    lu = spl.splu(sp.csc_matrix(Q))
    out = []
    for k in nodes:
        e = np.zeros(Q.shape[0])
        e[k] = 1.0
        out.append(lu.solve(e)[k])
    return np.array(out)


def test_interior_variance_matches_matern_formula():
    kappa, tau = 3.0, 0.7
    target = matern_variance(kappa, tau, 2)
    assert target == pytest.approx(1 / (4 * np.pi * kappa**2 * tau**2))
    errors = []
    for n, h in [(41, 0.1), (81, 0.05)]:
        grid = SpdeGrid(n, n, h, h)
        assert (n - 1) * h / 2 > 1.5 * matern_range(kappa)  # centre is a range from the edge
        c = n // 2
        nodes = [c + n * c, c + 3 + n * (c - 2), c - 4 + n * (c + 1)]
        v = _marginal_variances(grid.precision(kappa, tau, 2), nodes)
        np.testing.assert_allclose(v, v[0], rtol=1e-3)  # constant in the interior
        np.testing.assert_allclose(v, target, rtol=0.06)
        errors.append(abs(v[0] / target - 1))
        # zero-flux boundary: variance roughly doubles on an edge and quadruples in a corner
        edge, corner = _marginal_variances(grid.precision(kappa, tau, 2), [c, 0])
        assert 1.8 < edge / v[0] < 2.2 and 3.4 < corner / v[0] < 4.4
    assert errors[1] < errors[0]  # discretization error shrinks with h


@pytest.mark.parametrize("kwargs,match", [
    ({"kappa": 0.0, "tau": 1.0}, "kappa"), ({"kappa": 1.0, "tau": -1.0}, "tau"),
    ({"kappa": np.nan, "tau": 1.0}, "kappa"), ({"kappa": 1.0, "tau": 1.0, "alpha": 3}, "alpha"),
])
def test_bad_parameters_are_refused(kwargs, match):
    with pytest.raises(SpdeError, match=match):
        SpdeGrid(3, 3, 1.0, 1.0).precision(**kwargs)
    assert issubclass(SpdeError, TabmixError)


@pytest.mark.parametrize("args,match", [((0, 3, 1.0, 1.0), "nx"), ((3, 2.5, 1.0, 1.0), "ny"),
                                        ((3, 3, 0.0, 1.0), "hx"), ((3, 3, 1.0, np.inf), "hy")])
def test_bad_grids_are_refused(args, match):
    with pytest.raises(SpdeError, match=match):
        SpdeGrid(*args)


def test_matern_variance_refuses_alpha_one():
    with pytest.raises(SpdeError, match="alpha = 1"):
        matern_variance(1.0, 1.0, 1)
