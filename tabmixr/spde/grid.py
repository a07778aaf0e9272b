"""SpdeGrid: a regular 2-D grid carrying the SPDE Matern precision and its projector.

The Gaussian field x solving ``(kappa^2 - Laplacian)^(alpha/2) (tau x) = W``
(Lindgren, Rue & Lindstrom 2011) is discretized by finite volumes on the grid
cells: with L the 5-point negative Laplacian under zero-flux (Neumann)
boundaries and cell area ``a = hx hy``,

    alpha = 1:  Q = tau^2 a (kappa^2 I + L)
    alpha = 2:  Q = tau^2 a (kappa^2 I + L)^2     (lumped mass matrix a I)

For alpha = 2 the interior marginal variance approaches the Matern value
``1 / (4 pi kappa^2 tau^2)`` (smoothness nu = 1, range ``sqrt(8) / kappa``) as
``kappa h -> 0``; near the boundary the Neumann condition inflates it (up to 2x
on an edge, 4x in a corner), so give the grid a margin of about one range
around the data.  The pattern of Q depends only on the grid and alpha, so a
Cholesky factor can be refactorized for new (kappa, tau).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from tabmixr import _kernels
from tabmixr.errors import SpdeError

__all__ = ["SpdeGrid", "matern_variance", "matern_range"]


def matern_variance(kappa: float, tau: float, alpha: int = 2) -> float:
    """Marginal variance of the 2-D SPDE field (Lindgren et al. 2011, eq. 2).

    ``sigma^2 = Gamma(nu) / (Gamma(alpha) 4 pi kappa^(2 nu) tau^2)`` with ``nu = alpha - 1``.

    Args:
        kappa: Inverse range parameter (> 0).
        tau: Precision scaling (> 0).
        alpha: SPDE order; nu = alpha - 1 must be positive (alpha = 2 in practice).

    Returns:
        The variance.

    Raises:
        SpdeError: alpha <= 1 (nu <= 0: the field has infinite variance in 2-D).
    """
    nu = alpha - 1.0
    if nu <= 0:
        raise SpdeError(f"alpha = {alpha} gives smoothness nu = {nu} <= 0 in 2-D: the field has "
                        f"no finite marginal variance; use alpha = 2")
    return math.gamma(nu) / (math.gamma(alpha) * 4.0 * math.pi * kappa ** (2 * nu) * tau ** 2)


def matern_range(kappa: float, alpha: int = 2) -> float:
    """Practical range ``sqrt(8 nu) / kappa`` (correlation about 0.13), nu = alpha - 1."""
    return math.sqrt(8.0 * (alpha - 1.0)) / kappa


def _positive(name: str, value) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise SpdeError(f"{name} must be positive and finite, got {value!r}")
    return value


@dataclass(frozen=True)
class SpdeGrid:
    """A regular ``nx x ny`` grid with nodes at ``(x0 + i hx, y0 + j hy)``.

    Nodes are numbered x-fastest: node ``k = i + nx * j``.

    Attributes:
        nx, ny: Number of nodes along x and y (>= 1 each).
        hx, hy: Spacings (> 0).
        x0, y0: Coordinates of node 0 (the lower-left corner).
    """

    nx: int
    ny: int
    hx: float
    hy: float
    x0: float = 0.0
    y0: float = 0.0

    def __post_init__(self):
        for name in ("nx", "ny"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise SpdeError(f"{name} must be a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        object.__setattr__(self, "hx", _positive("hx", self.hx))
        object.__setattr__(self, "hy", _positive("hy", self.hy))
        for name in ("x0", "y0"):
            value = float(getattr(self, name))
            if not math.isfinite(value):
                raise SpdeError(f"{name} must be finite, got {value!r}")
            object.__setattr__(self, name, value)

    @classmethod
    def covering(cls, coords, h: float, margin: float = 0.0) -> "SpdeGrid":
        """The smallest grid of spacing ``h`` covering ``coords`` plus ``margin`` on each side.

        Args:
            coords: ``(n, 2)`` array of (x, y) points.
            h: Spacing in both directions (> 0).
            margin: Extra distance beyond the data's bounding box (>= 0);
                about one :func:`matern_range` keeps boundary effects off the data.

        Returns:
            An SpdeGrid.

        Raises:
            SpdeError: coords is not (n, 2) with n >= 1 and finite, h <= 0 or margin < 0.
        """
        coords = np.asarray(coords, dtype=np.float64)
        if coords.ndim != 2 or coords.shape[1] != 2 or coords.shape[0] < 1:
            raise SpdeError(f"coords must have shape (n, 2) with n >= 1, got {coords.shape}")
        if not np.all(np.isfinite(coords)):
            row = int(np.flatnonzero(~np.all(np.isfinite(coords), axis=1))[0])
            raise SpdeError(f"coords row {row} holds NaN or Inf")
        h = _positive("h", h)
        margin = float(margin)
        if not (math.isfinite(margin) and margin >= 0):
            raise SpdeError(f"margin must be >= 0, got {margin!r}")
        lo = coords.min(axis=0) - margin
        hi = coords.max(axis=0) + margin
        n = np.maximum(np.ceil((hi - lo) / h - 1e-9).astype(np.int64) + 1, 2)
        return cls(int(n[0]), int(n[1]), h, h, float(lo[0]), float(lo[1]))

    @property
    def n_nodes(self) -> int:
        """Number of nodes ``nx * ny``."""
        return self.nx * self.ny

    @property
    def nodes(self) -> np.ndarray:
        """``(n_nodes, 2)`` node coordinates, x-fastest."""
        xs = self.x0 + self.hx * np.arange(self.nx)
        ys = self.y0 + self.hy * np.arange(self.ny)
        X, Y = np.meshgrid(xs, ys)  # shape (ny, nx): row j, column i -> node i + nx j
        return np.column_stack([X.ravel(), Y.ravel()])

    def _assemble(self, kappa, tau, alpha):
        kappa, tau = _positive("kappa", kappa), _positive("tau", tau)
        if alpha not in (1, 2):
            raise SpdeError(f"alpha must be 1 or 2, got {alpha!r}")
        indptr, indices, Q, dk, dt = _kernels.spde_grid_precision(
            self.nx, self.ny, self.hx, self.hy, kappa, tau, int(alpha))
        shape = (self.n_nodes, self.n_nodes)
        return [sp.csc_array((values, indices, indptr), shape=shape) for values in (Q, dk, dt)]

    def precision(self, kappa: float, tau: float, alpha: int = 2) -> sp.csc_array:
        """The precision Q(kappa, tau) (see the module docstring).

        Args:
            kappa: Inverse range (> 0).
            tau: Precision scaling (> 0).
            alpha: 1 or 2.

        Returns:
            Symmetric ``n_nodes x n_nodes`` CSC array, both triangles, sorted rows,
            with a pattern that depends only on the grid and alpha.

        Raises:
            SpdeError: kappa or tau not positive and finite, alpha not 1 or 2.
        """
        return self._assemble(kappa, tau, alpha)[0]

    def precision_and_derivatives(self, kappa: float, tau: float, alpha: int = 2
                                  ) -> tuple[sp.csc_array, sp.csc_array, sp.csc_array]:
        """``(Q, dQ/dkappa, dQ/dtau)`` on one shared pattern.

        Args:
            kappa: Inverse range (> 0).
            tau: Precision scaling (> 0).
            alpha: 1 or 2.

        Returns:
            Three CSC arrays with identical ``indptr``/``indices``.

        Raises:
            SpdeError: as :meth:`precision`.
        """
        Q, dk, dt = self._assemble(kappa, tau, alpha)
        return Q, dk, dt

    def projector(self, coords) -> sp.csc_array:
        """Bilinear interpolation weights from the nodes to ``coords``.

        Row p of the result holds the weights of point p on the corners of its
        cell (summing to 1), so ``A @ field`` interpolates a node field and is
        exact for functions linear in x and y.

        Args:
            coords: ``(n_points, 2)`` array of (x, y).

        Returns:
            ``n_points x n_nodes`` CSC array.

        Raises:
            SpdeError: coords has the wrong shape, or a point is non-finite or
                outside the grid (the message names the point).
        """
        coords = np.asarray(coords, dtype=np.float64)
        if coords.ndim != 2 or coords.shape[1] != 2:
            raise SpdeError(f"coords must have shape (n, 2), got {coords.shape}")
        try:
            indptr, indices, data = _kernels.spde_grid_projector(
                np.ascontiguousarray(coords[:, 0]), np.ascontiguousarray(coords[:, 1]),
                self.x0, self.y0, self.hx, self.hy, self.nx, self.ny)
        except ValueError as exc:
            raise SpdeError(f"projector: {exc}") from None
        return sp.csc_array((data, indices, indptr), shape=(coords.shape[0], self.n_nodes))
