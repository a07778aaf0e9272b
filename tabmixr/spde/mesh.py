"""SpdeMesh: the SPDE Matern precision on a triangulated mesh (P1 finite elements).

Lindgren, Rue & Lindstrom (2011): with stiffness G, consistent mass C and
lumped (diagonal) mass Ct of the piecewise-linear elements,

    alpha = 1:  Q = tau^2 (kappa^2 Ct + G)
    alpha = 2:  Q = tau^2 (kappa^4 Ct + 2 kappa^2 G + G Ct^-1 G)

with natural (zero-flux) boundary conditions, so -- as on the grid -- extend the
mesh about one range beyond the data.  The pattern depends only on the mesh.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tabmixr import _kernels
from tabmixr.errors import SpdeError

__all__ = ["SpdeMesh"]


class SpdeMesh:
    """A 2-D triangle mesh carrying the FEM SPDE precision.

    Args:
        vertices: ``(n, 2)`` vertex coordinates.
        triangles: ``(m, 3)`` integer vertex indices (any orientation).

    Raises:
        SpdeError: wrong shapes, non-finite coordinates, a triangle with an
            out-of-range or repeated vertex or zero area, or a vertex in no
            triangle (the message names it).
    """

    def __init__(self, vertices, triangles):
        vertices = np.ascontiguousarray(vertices, dtype=np.float64)
        triangles = np.asarray(triangles)
        if vertices.ndim != 2 or vertices.shape[1] != 2:
            raise SpdeError(f"vertices must have shape (n, 2), got {vertices.shape}")
        if triangles.ndim != 2 or triangles.shape[1] != 3:
            raise SpdeError(f"triangles must have shape (m, 3), got {triangles.shape}")
        if triangles.size and not np.issubdtype(triangles.dtype, np.integer):
            raise SpdeError(f"triangles must hold integer vertex indices, got {triangles.dtype}")
        self.vertices = vertices
        self.triangles = np.ascontiguousarray(triangles, dtype=np.int64)
        self.fem_matrices()  # validates the mesh now, not at the first precision

    @classmethod
    def from_grid(cls, nx: int, ny: int, hx: float, hy: float, x0: float = 0.0,
                  y0: float = 0.0) -> "SpdeMesh":
        """A regular grid cut into right triangles (each cell split along its diagonal).

        Vertices are numbered x-fastest like :class:`tabmixr.spde.SpdeGrid`'s nodes.

        Args:
            nx, ny: Nodes per axis (>= 2).
            hx, hy: Spacings.
            x0, y0: Lower-left corner.

        Returns:
            An SpdeMesh with ``2 (nx - 1) (ny - 1)`` triangles.

        Raises:
            SpdeError: nx or ny < 2.
        """
        if nx < 2 or ny < 2:
            raise SpdeError(f"a grid mesh needs nx, ny >= 2, got {nx} x {ny}")
        xs, ys = x0 + hx * np.arange(nx), y0 + hy * np.arange(ny)
        X, Y = np.meshgrid(xs, ys)
        i, j = np.meshgrid(np.arange(nx - 1), np.arange(ny - 1))
        k = (i + nx * j).ravel()
        lower = np.column_stack([k, k + 1, k + nx + 1])
        upper = np.column_stack([k, k + nx + 1, k + nx])
        return cls(np.column_stack([X.ravel(), Y.ravel()]), np.vstack([lower, upper]))

    @property
    def n_vertices(self) -> int:
        """Number of vertices (= size of Q)."""
        return int(self.vertices.shape[0])

    def fem_matrices(self) -> tuple[sp.csc_array, sp.csc_array, np.ndarray]:
        """``(C, G, Ct)``: consistent mass, stiffness (CSC, one pattern) and lumped mass diagonal.

        Raises:
            SpdeError: the mesh is invalid (see the class docstring).
        """
        try:
            indptr, indices, C, G, Ct = _kernels.spde_mesh_fem(self.vertices, self.triangles)
        except ValueError as exc:
            raise SpdeError(f"mesh: {exc}") from None
        n = self.n_vertices
        return (sp.csc_array((C, indices, indptr), shape=(n, n)),
                sp.csc_array((G, indices, indptr), shape=(n, n)), Ct)

    def precision_and_derivatives(self, kappa: float, tau: float, alpha: int = 2
                                  ) -> tuple[sp.csc_array, sp.csc_array, sp.csc_array]:
        """``(Q, dQ/dkappa, dQ/dtau)`` on one shared pattern (see the module docstring).

        Args:
            kappa: Inverse range (> 0).
            tau: Precision scaling (> 0).
            alpha: 1 or 2.

        Returns:
            Three symmetric CSC arrays with identical ``indptr``/``indices``.

        Raises:
            SpdeError: kappa or tau not positive and finite, alpha not 1 or 2.
        """
        if alpha not in (1, 2):
            raise SpdeError(f"alpha must be 1 or 2, got {alpha!r}")
        try:
            indptr, indices, Q, dk, dt = _kernels.spde_mesh_precision(
                self.vertices, self.triangles, float(kappa), float(tau), int(alpha))
        except ValueError as exc:
            raise SpdeError(f"mesh precision: {exc}") from None
        n = self.n_vertices
        return tuple(sp.csc_array((v, indices, indptr), shape=(n, n)) for v in (Q, dk, dt))

    def precision(self, kappa: float, tau: float, alpha: int = 2) -> sp.csc_array:
        """The precision Q(kappa, tau); see :meth:`precision_and_derivatives`."""
        return self.precision_and_derivatives(kappa, tau, alpha)[0]
