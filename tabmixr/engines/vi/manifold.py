"""Latent spatial(-temporal) fields of the ``manifold`` backbone.

Each of ``channels`` latent fields lives on the nodes of a regular grid
covering the rows' coordinates (``tabmixr.covariance.spde.grid_for_sites``)
and, when the backbone has a time column, on ``K`` equally spaced time
knots.  A row at ``(x, y, t)`` reads each field by bilinear interpolation in
space and linear interpolation in time (8 weights).  The prior of channel
``k`` is Gaussian with the separable precision

    Q_k = Q_time(rho_k) (x) Q_space(kappa_k, tau_k),

``Q_space`` the SPDE Matern precision of ``SpdeField`` (alpha = 2, marginal
SD learned on the log scale, practical range fixed per channel) and
``Q_time`` the AR(1) precision with unit variance between consecutive
knots (``rho_k = FIXED_RHO``; 1 x 1 without time).

The ranges are not learned: under the mean-field posterior the KL of a field
the network barely uses is ``1/2 (sum log Q_ii - log det Q)`` at its optimum,
smallest when ``Q`` is nearly diagonal, so every learned range collapsed to
the grid spacing in our trials.  Instead the channels form a ladder of
resolutions (``range_ladder``: from 3 grid spacings, or 5% of the extent,
doubling per channel), and the MLP combines them.  The AR(1) correlations
are fixed for the same reason: learned, every rho went to about 0 (time
slices independent a priori), and the space-time fit was worse than space
alone (held-out RMSE 0.874 against 0.683 in a trial: 100 sites x 8 rows
over 8 times); fixed at 0.7, 0.8 or 0.9 it matched space alone (0.68; a
ladder 0.5, 0.75, 0.875, 0.94 over the channels gave 0.75).
The variational posterior is mean field, ``q(W_k) = N(M_k, diag(S_k))``, so

    KL_k = 1/2 [ sum diag(Q_space) diag(Q_time)' * S_k + <Q_space M_k Q_time, M_k>
                 - K log det Q_space - N log det Q_time - sum log S_k - N K ],

with ``log det Q_space`` in closed form (cosine-transform eigenvalues) and
``log det Q_time = -(K - 1) log(1 - rho^2)``.  Training draws the rows'
field values by the local reparameterization (their mean and variance under
``q``); evaluation uses the means.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from tabmixr.covariance.spde import SpdeField
from tabmixr.errors import EngineError

#: AR(1) correlation of every field between consecutive time knots (module docstring).
FIXED_RHO = 0.8
#: Starting posterior variance of the node values, as a share of the prior variance.
START_POSTERIOR_VARIANCE = 0.01


def range_ladder(spacing: float, channels: int, extent: float) -> list[float]:
    """Practical ranges ``r0 * 2^k``, ``r0 = max(3 spacing, 0.05 extent)``.

    Args:
        spacing: Grid spacing.
        channels: Number of fields.
        extent: Longer side of the coordinates' bounding box.

    Returns:
        One range per channel.
    """
    r0 = max(3.0 * float(spacing), 0.05 * float(extent))
    return [r0 * 2.0 ** k for k in range(int(channels))]


class LatentFields(nn.Module):
    """``channels`` latent fields on a grid (and time knots) with SPDE (x AR1) priors.

    Args:
        grid: ``[nx, ny, hx, hy, x0, y0]`` (``grid_for_sites``).
        channels: Number of fields.
        knots: ``[t0, dt, K]`` of the time knots, or ``None`` (space only).
        ranges: Practical range of each channel (coordinate units); default
            ``range_ladder(grid, channels, extent)``.
        extent: Longer side of the coordinates' bounding box.
    """

    def __init__(self, grid, channels: int, knots=None, ranges=None, extent: float = 1.0):
        super().__init__()
        self.channels = int(channels)
        self.space = nn.ModuleList(SpdeField(1, 1, grid=grid) for _ in range(self.channels))
        g = self.space[0].grid
        self.grid = g
        self.n_nodes = g.n_nodes
        if knots is None:
            self.t0, self.dt, self.n_knots = 0.0, 1.0, 1
        else:
            self.t0, self.dt, self.n_knots = float(knots[0]), float(knots[1]), int(knots[2])
        size = (self.channels, self.n_nodes * self.n_knots)  # node-major: node * K + knot
        self.mean = nn.Parameter(torch.zeros(size))
        self.log_var = nn.Parameter(torch.full(size, math.log(START_POSTERIOR_VARIANCE)))
        self.rho_raw = nn.Parameter(torch.full((self.channels,), math.atanh(FIXED_RHO)),
                                    requires_grad=False)
        if ranges is None:
            ranges = range_ladder(g.hx, self.channels, extent)
        if len(ranges) != self.channels or not all(float(r) > 0 for r in ranges):
            raise EngineError(f"backbone='manifold': field_ranges must be {self.channels} "
                              f"positive ranges (one per channel), got {list(ranges)!r}")
        with torch.no_grad():
            for field, r in zip(self.space, ranges):
                field.log_range.fill_(math.log(float(r)))
                field.log_range.requires_grad_(False)

    @property
    def has_time(self) -> bool:
        """Whether the fields vary over time knots."""
        return self.n_knots > 1

    # -- interpolation -----------------------------------------------------------
    def weights(self, coords: torch.Tensor, times: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices ``(n, 8)`` into the flattened node-by-knot values and their weights.

        Raises:
            EngineError: a coordinate outside the grid or a time outside the knots.
        """
        g = self.grid
        u = (coords[:, 0] - g.x0) / g.hx
        v = (coords[:, 1] - g.y0) / g.hy
        tol = 1e-9
        outside = (u < -tol) | (u > g.nx - 1 + tol) | (v < -tol) | (v > g.ny - 1 + tol)
        if bool(outside.any()):
            k = int(torch.nonzero(outside)[0])
            raise EngineError(
                f"backbone='manifold': coordinates ({float(coords[k, 0]):g}, "
                f"{float(coords[k, 1]):g}) of row {k} lie outside the fitted grid "
                f"[{g.x0:g}, {g.x0 + g.hx * (g.nx - 1):g}] x [{g.y0:g}, "
                f"{g.y0 + g.hy * (g.ny - 1):g}]; refit with these rows' coordinates")
        i = torch.clamp(torch.floor(u), 0, g.nx - 2)
        j = torch.clamp(torch.floor(v), 0, g.ny - 2)
        fu, fv = (u - i).clamp(0, 1), (v - j).clamp(0, 1)
        i, j = i.long(), j.long()
        corners = torch.stack([i + g.nx * j, i + 1 + g.nx * j, i + g.nx * (j + 1),
                               i + 1 + g.nx * (j + 1)], dim=1)
        wc = torch.stack([(1 - fu) * (1 - fv), fu * (1 - fv), (1 - fu) * fv, fu * fv], dim=1)
        K = self.n_knots
        if K == 1:
            return corners, wc
        s = (times - self.t0) / self.dt
        late = (s < -tol) | (s > K - 1 + tol)
        if bool(late.any()):
            k = int(torch.nonzero(late)[0])
            raise EngineError(
                f"backbone='manifold': time {float(times[k]):g} of row {k} lies outside the "
                f"fitted time range [{self.t0:g}, {self.t0 + self.dt * (K - 1):g}]; the fields "
                "interpolate between time knots and do not extrapolate")
        a = torch.clamp(torch.floor(s), 0, K - 2)
        fa = (s - a).clamp(0, 1)
        a = a.long()
        index = torch.cat([corners * K + a[:, None], corners * K + a[:, None] + 1], dim=1)
        weight = torch.cat([wc * (1 - fa)[:, None], wc * fa[:, None]], dim=1)
        return index, weight

    def forward(self, coords: torch.Tensor, times: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Field values ``(n, channels)`` at the rows: a draw under ``q`` when training,
        the posterior means otherwise."""
        index, weight = self.weights(coords, times)
        means = (self.mean[:, index] * weight).sum(-1).T
        if not self.training:
            return means
        var = (torch.exp(self.log_var)[:, index] * weight * weight).sum(-1).T
        noise = torch.randn(means.shape, dtype=means.dtype, device=means.device,
                            generator=generator)
        return means + torch.sqrt(var) * noise

    # -- prior and KL --------------------------------------------------------------
    def rho(self) -> torch.Tensor:
        """AR(1) correlation between consecutive knots, per channel."""
        return torch.tanh(self.rho_raw)

    def _time_precision(self, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(diagonal, off-diagonal value, log det)`` of channel k's ``Q_time``."""
        K = self.n_knots
        dtype = self.mean.dtype
        if K == 1:
            one = torch.ones(1, dtype=dtype, device=self.mean.device)
            return one, torch.zeros((), dtype=dtype), torch.zeros((), dtype=dtype)
        r = self.rho()[k]
        c = 1.0 - r * r
        inner = torch.ones(K, dtype=dtype, device=self.mean.device)
        inner[1:-1] = 0.0
        diag = (inner + (1.0 - inner) * (1.0 + r * r)) / c  # 1 at the ends, 1 + rho^2 inside
        return diag, -r / c, -(K - 1) * torch.log(c)

    def _pattern_tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``Q_space``'s (row, col) indices, its diagonal entries' mask and their columns;
        one grid, so one pattern for every channel (cached)."""
        device = self.mean.device
        cached = getattr(self, "_pattern_cache", None)
        if cached is None or cached[0].device != device:
            pat = self.space[0].pattern()
            on_diag = pat["rows"] == pat["cols"]
            cached = (torch.as_tensor(np.vstack([pat["rows"], pat["cols"]]), device=device),
                      torch.as_tensor(on_diag, device=device),
                      torch.as_tensor(pat["cols"][on_diag], device=device))
            self._pattern_cache = cached
        return cached

    def _space_precision(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Channel k's ``Q_space`` as a sparse tensor and its diagonal, differentiable."""
        index, on_diag, diag_cols = self._pattern_tensors()
        values = self.space[k].precision_values().to(self.mean.dtype)
        Q = torch.sparse_coo_tensor(index, values, (self.n_nodes, self.n_nodes),
                                    check_invariants=False)
        diag = torch.zeros(self.n_nodes, dtype=values.dtype, device=values.device).index_add(
            0, diag_cols, values[on_diag])
        return Q, diag

    def kl(self) -> torch.Tensor:
        """``KL(q || prior)`` summed over the channels (see the module docstring)."""
        N, K = self.n_nodes, self.n_knots
        total = torch.zeros((), dtype=self.mean.dtype, device=self.mean.device)
        for k, field in enumerate(self.space):
            Qs, qs_diag = self._space_precision(k)
            qt_diag, qt_off, logdet_t = self._time_precision(k)
            M = self.mean[k].reshape(N, K)
            S = torch.exp(self.log_var[k]).reshape(N, K)
            QsM = torch.sparse.mm(Qs, M)
            MQt = M * qt_diag[None, :]
            if K > 1:
                MQt = MQt + qt_off * torch.nn.functional.pad(M[:, 1:], (0, 1)) + \
                    qt_off * torch.nn.functional.pad(M[:, :-1], (1, 0))
            trace = (qs_diag[:, None] * qt_diag[None, :] * S).sum()
            quad = (QsM * MQt).sum()
            logdet = K * field.logdet_precision().to(self.mean.dtype) + N * logdet_t
            total = total + 0.5 * (trace + quad - logdet - self.log_var[k].sum() - N * K)
        return total

    def summary(self) -> dict:
        """Plain data: per channel range, SD and (with time) rho; the grid and knots."""
        out = {"range": [float(f.field_range().detach()) for f in self.space],
               "sd": [float(f.sd().detach()) for f in self.space],
               "nodes": int(self.n_nodes), "grid": [self.grid.nx, self.grid.ny]}
        if self.has_time:
            out["rho"] = [float(r) for r in self.rho().detach()]
            out["knots"] = int(self.n_knots)
        return out
