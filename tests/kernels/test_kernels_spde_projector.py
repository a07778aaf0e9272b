"""Bilinear projector of SpdeGrid against scipy's RegularGridInterpolator."""

import numpy as np
import pytest
from scipy.interpolate import RegularGridInterpolator

from tabmixr.errors import SpdeError
from tabmixr.spde import SpdeGrid


@pytest.mark.parametrize("nx,ny,hx,hy,x0,y0", [(5, 4, 0.5, 0.25, -1.0, 2.0), (2, 2, 1.0, 1.0, 0, 0),
                                               (30, 17, 0.1, 0.3, 10.0, -5.0)])
def test_matches_regular_grid_interpolator(nx, ny, hx, hy, x0, y0):
    grid = SpdeGrid(nx, ny, hx, hy, x0, y0)
    rng = np.random.default_rng(nx)
    xs = x0 + hx * np.arange(nx)
    ys = y0 + hy * np.arange(ny)
    pts = np.column_stack([rng.uniform(xs[0], xs[-1], 50), rng.uniform(ys[0], ys[-1], 50)])
    pts = np.vstack([pts, grid.nodes[[0, -1, nx - 1]], [[xs[-1], ys[0] + hy / 3]]])
    A = grid.projector(pts)
    assert A.shape == (len(pts), nx * ny)
    field = rng.normal(size=nx * ny)
    reference = RegularGridInterpolator((xs, ys), field.reshape(ny, nx).T)(pts)
    np.testing.assert_allclose(A @ field, reference, atol=1e-12)
    np.testing.assert_allclose(A.sum(axis=1), 1.0, atol=1e-14)
    assert A.data.min() > 0 and np.all(np.diff(A.tocsr().indptr) <= 4)
    # linear functions are reproduced exactly
    a, b, c = 0.3, -1.7, 2.0
    lin = a + b * grid.nodes[:, 0] + c * grid.nodes[:, 1]
    np.testing.assert_allclose(A @ lin, a + b * pts[:, 0] + c * pts[:, 1], atol=1e-11)


def test_single_row_grid_interpolates_along_x():
    grid = SpdeGrid(4, 1, 1.0, 1.0)
    A = grid.projector([[0.25, 0.0], [3.0, 0.0]])
    np.testing.assert_allclose(A.toarray(), [[0.75, 0.25, 0, 0], [0, 0, 0, 1]])


def test_covering_grid_contains_points_with_margin():
    rng = np.random.default_rng(0)
    coords = rng.uniform([0, 10], [3, 12], size=(40, 2))
    grid = SpdeGrid.covering(coords, h=0.2, margin=0.5)
    nodes = grid.nodes
    assert nodes[:, 0].min() <= coords[:, 0].min() - 0.5 + 1e-12
    assert nodes[:, 0].max() >= coords[:, 0].max() + 0.5 - 1e-9
    assert nodes[:, 1].max() >= coords[:, 1].max() + 0.5 - 1e-9
    assert grid.projector(coords).shape == (40, grid.n_nodes)


@pytest.mark.parametrize("point,match", [([[0.5, 0.5], [2.5, 0.5]], "point 1 .*x = 2.5"),
                                         ([[0.5, -0.1]], "point 0 .*y = -0.1"),
                                         ([[np.nan, 0.5]], "point 0 .*non-finite x")])
def test_points_outside_the_grid_are_refused(point, match):
    with pytest.raises(SpdeError, match=match):
        SpdeGrid(3, 3, 1.0, 1.0).projector(point)


@pytest.mark.parametrize("coords,kwargs,match", [(np.ones((3, 3)), {"h": 1.0}, "shape"),
                                                 (np.ones((3, 2)), {"h": 0.0}, "h must"),
                                                 ([[0, 0], [np.inf, 1]], {"h": 1.0}, "row 1"),
                                                 (np.ones((3, 2)), {"h": 1, "margin": -1},
                                                  "margin")])
def test_covering_refuses_bad_input(coords, kwargs, match):
    with pytest.raises(SpdeError, match=match):
        SpdeGrid.covering(coords, **kwargs)
