"""SPDE Matern prior over sites: ``spde(1 | site, coords = c(x, y))``.

The sites' effects are a Gaussian field observed through bilinear
interpolation, ``b = P w``, with ``w`` the field on the nodes of a regular
grid covering the sites (plus a margin against the boundary's variance
inflation) and ``w ~ N(0, Q^-1)`` the SPDE precision of
``tabmixr.spde.SpdeGrid`` for ``alpha = 2`` (Matern smoothness ``nu = 1``):

    Q = tau^2 a (kappa^2 I + L)^2,     a = hx hy,

``L`` the grid's Neumann Laplacian.  The free parameters are the field's
marginal SD ``sd`` and its practical range ``sqrt(8) / kappa`` (log scale);
``tau = 1 / (sqrt(4 pi) kappa sd)``.  ``L`` is diagonalized by the discrete
cosine transform, with eigenvalues

    lambda_jk = 4 / hx^2 sin^2(pi j / (2 nx)) + 4 / hy^2 sin^2(pi k / (2 ny)),

so ``log det Q = N log(tau^2 a) + 2 sum log(kappa^2 + lambda_jk)`` is closed
form and differentiable without a factorization.  The posterior over the
nodes (sparse, refreshed from the data) is
``tabmixr.engines.vi.spde_posterior``; this module gives it ``Q``'s values
on its fixed pattern as torch tensors differentiable in the parameters.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from tabmixr.covariance.base import CovarianceStructure, register_covariance
from tabmixr.errors import EngineError
from tabmixr.spde.grid import SpdeGrid

__all__ = ["SpdeField", "grid_for_sites", "MIN_NODES", "MAX_NODES", "MARGIN"]

#: Default nodes along the longer side of the grid: ``1.5 sqrt(sites)`` within these bounds.
MIN_NODES, MAX_NODES = 30, 150
#: Margin around the sites' bounding box, as a fraction of its longer side.
MARGIN = 0.25
#: Starting range as a fraction of the sites' extent.
START_RANGE = 0.2


def grid_for_sites(coords: np.ndarray, nodes: int | None = None) -> list[float]:
    """The grid of an ``spde`` term as ``[nx, ny, hx, hy, x0, y0]`` (plain data for the config).

    Args:
        coords: ``(n_sites, 2)`` site coordinates.
        nodes: Nodes along the longer side (margin included); default
            ``1.5 sqrt(n_sites)`` clipped to ``[MIN_NODES, MAX_NODES]``.

    Raises:
        EngineError: Not two coordinates, fewer than 3 sites, or all sites on a line
            parallel to an axis... (zero extent).
    """
    coords = np.asarray(coords, dtype=float)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise EngineError(f"spde: needs two coordinates per site, got shape {coords.shape}")
    if coords.shape[0] < 3:
        raise EngineError(f"spde: needs at least 3 sites, got {coords.shape[0]}")
    extent = float(np.max(coords.max(axis=0) - coords.min(axis=0)))
    if not extent > 0:
        raise EngineError("spde: the sites' coordinates have no extent")
    if nodes is None:
        nodes = int(np.clip(round(1.5 * math.sqrt(coords.shape[0])), MIN_NODES, MAX_NODES))
    if int(nodes) < 4:
        raise EngineError(f"spde: nodes must be at least 4, got {nodes}")
    margin = MARGIN * extent
    h = (extent + 2 * margin) / (int(nodes) - 1)
    g = SpdeGrid.covering(coords, h, margin)
    return [g.nx, g.ny, g.hx, g.hy, g.x0, g.y0]


def laplacian_eigenvalues(nx: int, ny: int, hx: float, hy: float) -> np.ndarray:
    """Eigenvalues of the grid's Neumann 5-point Laplacian, node order irrelevant, ``(nx ny,)``."""
    ex = 4.0 / hx ** 2 * np.sin(np.pi * np.arange(nx) / (2 * nx)) ** 2
    ey = 4.0 / hy ** 2 * np.sin(np.pi * np.arange(ny) / (2 * ny)) ** 2
    return (ey[:, None] + ex[None, :]).ravel()


@register_covariance
class SpdeField(CovarianceStructure):
    """Matern field (``nu = 1``) on a grid, seen at the sites through bilinear weights.

    Args:
        q: Effects per site (must be 1).
        n_levels: Sites.
        grid: ``[nx, ny, hx, hy, x0, y0]`` (``grid_for_sites``).
        alpha: SPDE order (2; 1 has no finite variance in 2-D).
    """

    name = "spde"
    level_data = "coords"
    arguments = ("grid", "alpha")

    def __init__(self, q: int, n_levels: int, grid=None, alpha: int = 2):
        super().__init__(q, n_levels)
        if self.q != 1:
            raise EngineError(f"spde: takes one effect per site (a random intercept or one slope "
                              f"column), got {self.q}")
        if int(alpha) != 2:
            raise EngineError(f"spde: alpha = {alpha} gives a field without finite variance in "
                              f"2-D; method 'vi' fits alpha = 2")
        if grid is None:
            raise EngineError("spde: the grid is missing (it is set from the sites' coordinates)")
        nx, ny, hx, hy, x0, y0 = grid
        self.grid = SpdeGrid(int(nx), int(ny), float(hx), float(hy), float(x0), float(y0))
        self.log_sd = nn.Parameter(torch.zeros(()))
        self.log_range = nn.Parameter(torch.zeros(()))
        self.register_buffer("coords", torch.zeros(n_levels, 2), persistent=True)
        self.register_buffer("eigenvalues", torch.as_tensor(
            laplacian_eigenvalues(self.grid.nx, self.grid.ny, self.grid.hx, self.grid.hy)),
            persistent=False)
        self._pattern: dict | None = None

    @property
    def n_nodes(self) -> int:
        """Nodes of the grid."""
        return self.grid.n_nodes

    # -- parameters ------------------------------------------------------------
    def sd(self) -> torch.Tensor:
        """Marginal SD of the field."""
        return torch.exp(self.log_sd)

    def field_range(self) -> torch.Tensor:
        """Practical range ``sqrt(8) / kappa`` (correlation about 0.13)."""
        return torch.exp(self.log_range)

    def kappa_tau(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(kappa, tau)`` of the SPDE."""
        kappa = math.sqrt(8.0) / self.field_range()
        tau = 1.0 / (math.sqrt(4.0 * math.pi) * kappa * self.sd())
        return kappa, tau

    def chol(self) -> torch.Tensor:
        return self.sd().reshape(1, 1)

    def set_scale(self, sd: np.ndarray) -> None:
        with torch.no_grad():
            self.log_sd.fill_(float(np.log(max(float(np.ravel(sd)[0]), 1e-8))))

    def structure_parameters(self) -> list[nn.Parameter]:
        return [self.log_range]

    def start_from_effects(self, b: np.ndarray) -> None:
        """Range at ``START_RANGE`` of the sites' extent; ``sd`` from the per-site means' spread."""
        coords = self.coords.cpu().numpy()
        extent = float(np.max(coords.max(axis=0) - coords.min(axis=0)))
        spread = float(np.std(b))
        with torch.no_grad():
            self.log_range.fill_(math.log(max(START_RANGE * extent, 2.0 * self.grid.hx)))
            if spread > 0:
                self.log_sd.fill_(math.log(spread))

    def extra_parameters(self) -> dict[str, float]:
        """``{"range": ..., "nodes": ...}``."""
        return {"range": float(self.field_range().detach().cpu()), "nodes": float(self.n_nodes)}

    # -- level data ------------------------------------------------------------
    def set_level_data(self, data: np.ndarray | None) -> None:
        """Store the sites' coordinates (they must lie on the grid).

        Raises:
            EngineError: Missing or wrongly shaped coordinates.
        """
        if data is None:
            raise EngineError("spde: needs the sites' coordinates")
        coords = np.asarray(data, dtype=float)
        if coords.shape != (self.n_levels, 2):
            raise EngineError(f"spde: coordinates must have one row per site ({self.n_levels}) "
                              f"and 2 columns, got shape {coords.shape}")
        with torch.no_grad():
            self.coords.copy_(torch.as_tensor(coords, dtype=self.coords.dtype))
        self._pattern = None

    def projector(self, coords: np.ndarray | None = None) -> sp.csr_array:
        """Bilinear weights from the nodes to ``coords`` (default: the fitted sites), CSR."""
        coords = self.coords.detach().cpu().numpy() if coords is None else np.asarray(coords, float)
        return sp.csr_array(self.grid.projector(coords))

    def conditional_mean(self, mu: torch.Tensor, new_data: np.ndarray) -> torch.Tensor:
        raise EngineError("spde: new sites are predicted by the posterior (SpdePosterior)")

    # -- the precision on its pattern ----------------------------------------------
    def pattern(self) -> dict:
        """The fixed pattern of ``Q`` and the per-unit pieces of its values (cached).

        Returns:
            ``{"Q": csc (values at kappa = tau = 1), "rows", "cols", "identity",
            "laplacian", "laplacian2"}``: the last three aligned with the pattern,
            so that ``Q = tau^2 a (kappa^4 I + 2 kappa^2 L + L^2)``.
        """
        if self._pattern is None:
            g = self.grid
            Q1 = g.precision(1.0, 1.0, alpha=1)  # a (I + L), the 5-point pattern
            area = g.hx * g.hy
            L = (sp.csc_array(Q1) / area - sp.identity(g.n_nodes, format="csc")).tocsc()
            L2 = (L @ L).tocsc()
            Q = (sp.identity(g.n_nodes, format="csc") + 2.0 * L + L2).tocsc()
            Q.sum_duplicates()
            Q.sort_indices()
            keys = lambda M: (np.repeat(np.arange(M.shape[1]), np.diff(M.indptr)) * M.shape[0]
                              + M.indices)

            def on_pattern(M) -> np.ndarray:
                M = sp.csc_array(M)
                M.sum_duplicates()
                M.sort_indices()
                out = np.zeros(Q.nnz)
                out[np.searchsorted(keys(Q), keys(M))] = M.data
                return out

            cols = np.repeat(np.arange(Q.shape[1]), np.diff(Q.indptr))
            self._pattern = {"Q": Q, "rows": Q.indices.astype(np.int64), "cols": cols,
                             "identity": on_pattern(sp.identity(g.n_nodes, format="csc")),
                             "laplacian": on_pattern(L), "laplacian2": on_pattern(L2),
                             "keys": keys(Q)}
        return self._pattern

    def precision_values(self) -> torch.Tensor:
        """``Q(kappa, tau)``'s stored entries on ``pattern()``, differentiable."""
        pat = self.pattern()
        kappa, tau = self.kappa_tau()
        dtype, device = self.log_sd.dtype, self.log_sd.device
        I, L, L2 = (torch.as_tensor(pat[k], dtype=dtype, device=device)
                    for k in ("identity", "laplacian", "laplacian2"))
        k2 = kappa * kappa
        return tau * tau * self.grid.hx * self.grid.hy * (k2 * k2 * I + 2.0 * k2 * L + L2)

    def logdet_precision(self) -> torch.Tensor:
        """``log det Q`` in closed form (see the module docstring), differentiable."""
        kappa, tau = self.kappa_tau()
        lam = self.eigenvalues.to(dtype=self.log_sd.dtype)
        N = self.n_nodes
        return N * torch.log(tau * tau * self.grid.hx * self.grid.hy) + \
            2.0 * torch.log(kappa * kappa + lam).sum()

    def logdet(self) -> torch.Tensor:
        """``log det`` of the field's covariance over the nodes, ``-log det Q``."""
        return -self.logdet_precision()
