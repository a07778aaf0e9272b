"""SPDE precision on a triangle mesh against an independent dense numpy FEM assembly."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spl
from scipy.spatial import Delaunay

from tabmixr.errors import SpdeError
from tabmixr.spde import SpdeGrid, SpdeMesh, matern_variance


def _dense_fem(vertices, triangles):
    """P1 mass and stiffness from the gradients of the barycentric basis functions."""
    n = len(vertices)
    C, G, Ct = np.zeros((n, n)), np.zeros((n, n)), np.zeros(n)
    for tri in triangles:
        P = np.column_stack([np.ones(3), vertices[tri]])  # rows (1, x, y)
        coef = np.linalg.inv(P)  # column a: coefficients of basis function a
        grads = coef[1:, :]  # 2 x 3
        area = abs(np.linalg.det(P)) / 2
        G[np.ix_(tri, tri)] += area * grads.T @ grads
        C[np.ix_(tri, tri)] += area / 12 * (np.ones((3, 3)) + np.eye(3))
        Ct[tri] += area / 3
    return C, G, Ct


def _random_mesh(n_points, seed):
    pts = np.random.default_rng(seed).uniform(0, 3, size=(n_points, 2))
    return pts, Delaunay(pts).simplices


MESHES = [_random_mesh(10, 0), _random_mesh(40, 1),
          (np.array([[0.0, 0.0], [1.0, 0.0], [0.2, 0.9]]), np.array([[0, 2, 1]]))]


@pytest.mark.parametrize("vertices,triangles", MESHES)
def test_fem_matrices_match_dense_assembly(vertices, triangles):
    C, G, Ct = SpdeMesh(vertices, triangles).fem_matrices()
    C_ref, G_ref, Ct_ref = _dense_fem(vertices, triangles)
    np.testing.assert_allclose(C.toarray(), C_ref, atol=1e-13)
    np.testing.assert_allclose(G.toarray(), G_ref, atol=1e-11)
    np.testing.assert_allclose(Ct, Ct_ref, atol=1e-13)
    np.testing.assert_allclose(G.toarray() @ np.ones(len(vertices)), 0, atol=1e-11)


@pytest.mark.parametrize("alpha", [1, 2])
@pytest.mark.parametrize("vertices,triangles", MESHES)
def test_precision_and_derivatives(vertices, triangles, alpha):
    mesh = SpdeMesh(vertices, triangles)
    kappa, tau = 1.3, 0.8
    Q, dk, dt = mesh.precision_and_derivatives(kappa, tau, alpha)
    _, G, Ct = _dense_fem(vertices, triangles)
    K = kappa**2 * np.diag(Ct) + G
    Q_ref = tau**2 * (K if alpha == 1 else K @ np.diag(1 / Ct) @ K)
    np.testing.assert_allclose(Q.toarray(), Q_ref, atol=1e-10 * np.abs(Q_ref).max())
    assert np.linalg.eigvalsh(Q.toarray()).min() > 0
    for D in (dk, dt):
        np.testing.assert_array_equal(D.indptr, Q.indptr)
        np.testing.assert_array_equal(D.indices, Q.indices)
    eps = 1e-6
    fd_k = (mesh.precision(kappa + eps, tau, alpha).data
            - mesh.precision(kappa - eps, tau, alpha).data) / (2 * eps)
    fd_t = (mesh.precision(kappa, tau + eps, alpha).data
            - mesh.precision(kappa, tau - eps, alpha).data) / (2 * eps)
    scale = np.abs(Q.data).max()
    np.testing.assert_allclose(dk.data, fd_k, atol=1e-7 * scale)
    np.testing.assert_allclose(dt.data, fd_t, atol=1e-7 * scale)
    Q2 = mesh.precision(7.0, 0.1, alpha)
    np.testing.assert_array_equal(Q2.indices, Q.indices)


def test_grid_mesh_interior_agrees_with_the_grid_stencil():
    nx, ny, h = 9, 7, 0.5
    mesh = SpdeMesh.from_grid(nx, ny, h, h)
    grid = SpdeGrid(nx, ny, h, h)
    np.testing.assert_allclose(mesh.vertices, grid.nodes)
    Qm = mesh.precision(1.5, 0.9, 2).toarray()
    Qg = grid.precision(1.5, 0.9, 2).toarray()
    interior = [i + nx * j for j in range(2, ny - 2) for i in range(2, nx - 2)]
    np.testing.assert_allclose(Qm[interior], Qg[interior], atol=1e-12 * np.abs(Qg).max())


def test_interior_variance_matches_matern_formula():
    kappa, tau, n, h = 3.0, 0.7, 41, 0.1
    Q = SpdeMesh.from_grid(n, n, h, h).precision(kappa, tau, 2)
    c = n // 2 + n * (n // 2)
    e = np.zeros(n * n)
    e[c] = 1.0
    v = spl.splu(sp.csc_matrix(Q)).solve(e)[c]
    assert v == pytest.approx(matern_variance(kappa, tau), rel=0.06)


@pytest.mark.parametrize("vertices,triangles,match", [
    ([[0, 0], [1, 0], [2, 0]], [[0, 1, 2]], "triangle 0 has zero area"),
    ([[0, 0], [1, 0], [0, 1]], [[0, 1, 3]], "vertex 3"),
    ([[0, 0], [1, 0], [0, 1]], [[0, 1, 1]], "repeats"),
    ([[0, 0], [1, 0], [0, 1], [5, 5]], [[0, 1, 2]], "vertex 3 belongs to no triangle"),
    ([[0, 0], [1, 0], [np.nan, 1]], [[0, 1, 2]], "vertex 2"),
    ([[0, 0, 0]], [[0, 1, 2]], "shape"),
    ([[0, 0], [1, 0], [0, 1]], [[0, 1]], "shape"),
    ([[0, 0], [1, 0], [0, 1]], [[0.0, 1.0, 2.0]], "integer"),
])
def test_bad_meshes_are_refused(vertices, triangles, match):
    with pytest.raises(SpdeError, match=match):
        SpdeMesh(np.array(vertices, dtype=float), np.array(triangles))


@pytest.mark.parametrize("kwargs,match", [({"kappa": -1, "tau": 1}, "kappa"),
                                          ({"kappa": 1, "tau": 0}, "tau"),
                                          ({"kappa": 1, "tau": 1, "alpha": 3}, "alpha")])
def test_bad_parameters_are_refused(kwargs, match):
    with pytest.raises(SpdeError, match=match):
        SpdeMesh(*MESHES[2]).precision(**kwargs)
