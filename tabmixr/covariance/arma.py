"""Stationary ARMA(p, q) prior over time-ordered levels: ``arma(x | time, p = 1, q = 1)``.

Along the time grid (``step`` = smallest gap between the fitted levels'
times; every time must lie on it) the effects follow

    b_t = phi_1 b_{t-1} + ... + phi_p b_{t-p} + e_t + theta_1 e_{t-1} + ... + theta_q e_{t-q},

so ``Cov(vec b) = K kron Sigma`` with ``K_st = acf(|pos_s - pos_t|)`` the
autocorrelation function (a Toeplitz matrix on equally spaced levels;
missing grid points are simply left out) and ``Sigma`` the marginal
covariance of one level's effects.  The autocovariance is exact: the first
``p + 1`` values solve the linear system of Brockwell & Davis (1991, eq.
3.3.8), later ones follow the AR recursion, computed for all lags at once
by repeated squaring of the companion matrix.

Stationarity and invertibility hold by construction (Jones 1980; Monahan
1984): the AR coefficients come from partial autocorrelations
``tanh(a_k)`` through the Durbin-Levinson recursion, the MA coefficients
from ``tanh(m_k)`` the same way, negated (``1 + theta_1 z + ...`` then has
its roots outside the unit circle).  KL pieces and interpolation of new
levels (simple kriging at grid times): ``tabmixr.covariance.dense``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tabmixr.covariance.ar1 import START_RHO_MAX, lag_one_correlation, time_step
from tabmixr.covariance.base import register_covariance
from tabmixr.covariance.dense import JITTER, DenseCorrelation
from tabmixr.errors import EngineError, LevelDataError

#: Largest lag (in steps) between two levels.
MAX_LAG = 100_000
#: Partial autocorrelations are kept this far inside (-1, 1).
PACF_MARGIN = 1e-4
#: A position within this many steps of a whole number counts as on the grid.
GRID_TOL = 1e-6


def pacf_to_coefficients(r: torch.Tensor) -> torch.Tensor:
    """AR coefficients of a stationary AR(k) with partial autocorrelations ``r`` (Durbin-Levinson).

    ``phi^(1) = (r_1)``; ``phi^(k)_k = r_k``, ``phi^(k)_j = phi^(k-1)_j - r_k phi^(k-1)_{k-j}``.
    Every ``r`` in ``(-1, 1)`` gives a stationary AR polynomial and back.
    """
    phi = r[:0]
    for k in range(r.shape[0]):
        phi = torch.cat([phi - r[k] * torch.flip(phi, [0]), r[k:k + 1]])
    return phi


def arma_autocorrelation(phi: torch.Tensor, theta: torch.Tensor, max_lag: int) -> torch.Tensor:
    """Autocorrelations ``acf(0..max_lag)`` of a stationary ARMA(p, q), ``(max_lag + 1,)``.

    Args:
        phi: AR coefficients ``(p,)`` (stationary).
        theta: MA coefficients ``(q,)``.
        max_lag: Largest lag wanted (>= 0).

    Returns:
        ``gamma(h) / gamma(0)``, differentiable in ``phi`` and ``theta``.
    """
    p, q = phi.shape[0], theta.shape[0]
    one = torch.ones(1, dtype=phi.dtype, device=phi.device)
    th = torch.cat([one, theta])                                  # theta_0 = 1
    psi = [one[0]]
    for j in range(1, q + 1):
        psi.append(th[j] + sum(phi[i - 1] * psi[j - i] for i in range(1, min(j, p) + 1)))
    c = [sum(th[j] * psi[j - k] for j in range(k, q + 1)) for k in range(q + 1)]
    if p == 0:
        gamma = torch.stack(c)
    else:
        E = torch.zeros((p, p + 1, p + 1), dtype=phi.dtype, device=phi.device)
        for i in range(1, p + 1):
            for k in range(p + 1):
                E[i - 1, k, abs(k - i)] += 1.0
        A = torch.eye(p + 1, dtype=phi.dtype, device=phi.device) - torch.einsum("i,ikl->kl", phi, E)
        rhs = torch.stack([c[k] if k <= q else 0.0 * one[0] for k in range(p + 1)])
        head = list(torch.linalg.solve(A, rhs).unbind())
        for k in range(p + 1, q + 1):                            # MA terms still acting
            head.append(sum(phi[i - 1] * head[k - i] for i in range(1, p + 1)) + c[k])
        gamma = torch.stack(head)
        gamma = torch.cat([gamma, _ar_tail(phi, gamma, max_lag)])
    gamma = torch.cat([gamma, torch.zeros(max(0, max_lag + 1 - gamma.shape[0]),
                                          dtype=phi.dtype, device=phi.device)])
    return gamma[:max_lag + 1] / gamma[0]


def _ar_tail(phi: torch.Tensor, gamma: torch.Tensor, max_lag: int) -> torch.Tensor:
    """``gamma(k)`` for ``k > len(gamma) - 1`` up to ``max_lag`` by the AR recursion.

    States ``s_k = (gamma(k), ..., gamma(k - p + 1))`` obey ``s_{k+1} = A s_k``
    (companion matrix ``A``); all of them come from ``[S, A^m S]`` doublings.
    """
    p, k0 = phi.shape[0], gamma.shape[0] - 1
    needed = max_lag - k0
    if needed <= 0:
        return gamma[:0]
    lower = torch.cat([torch.eye(p - 1, dtype=phi.dtype, device=phi.device),
                       torch.zeros((p - 1, 1), dtype=phi.dtype, device=phi.device)], dim=1)
    A = torch.cat([phi[None, :], lower], dim=0)
    S = torch.flip(gamma[k0 - p + 1:k0 + 1], [0])[:, None]       # s_{k0}
    S = A @ S                                                      # s_{k0 + 1}
    M = A
    while S.shape[1] < needed:
        S = torch.cat([S, M @ S], dim=1)
        M = M @ M
    return S[0, :needed]


@register_covariance
class ARMA(DenseCorrelation):
    """``Cov(vec b) = acf(|pos_s - pos_t|) kron Sigma`` for a stationary, invertible ARMA(p, q).

    Args:
        q: Effects per level.
        n_levels: Levels (time points).
        ar_order: ``p`` of the wrapper.
        ma_order: ``q`` of the wrapper.
    """

    name = "arma"
    level_data = "time"

    def __init__(self, q: int, n_levels: int, ar_order: int = 1, ma_order: int = 0):
        super().__init__(q, n_levels)
        self.ar_order, self.ma_order = int(ar_order), int(ma_order)
        self.ar_raw = nn.Parameter(torch.zeros(self.ar_order))
        self.ma_raw = nn.Parameter(torch.zeros(self.ma_order))
        self.register_buffer("times", torch.arange(n_levels, dtype=torch.get_default_dtype()),
                             persistent=True)
        self.register_buffer("step", torch.ones((), dtype=torch.get_default_dtype()), persistent=True)
        self._lags: tuple | None = None

    @classmethod
    def build(cls, q: int, n_levels: int, args: dict) -> "ARMA":
        """From wrapper arguments ``p`` (default 1) and ``q`` (default 0)."""
        return cls(q, n_levels, ar_order=int(args.get("p", 1)), ma_order=int(args.get("q", 0)))

    # -- level data --------------------------------------------------------------
    def set_level_data(self, data: np.ndarray | None) -> None:
        """Set the levels' times ``(n_levels,)`` (level order); they must lie on one grid.

        Raises:
            EngineError: Missing data, wrong length, shared times or lags over ``MAX_LAG``.
            LevelDataError: A time off the grid of the smallest gap.
        """
        if data is None:
            raise EngineError("arma: needs the levels' times")
        times = np.asarray(data, dtype=float).reshape(-1)
        if len(times) != self.n_levels:
            raise EngineError(f"arma: got {len(times)} times for {self.n_levels} levels")
        step = time_step(times)
        positions = (times - times.min()) / step
        off = np.abs(positions - np.round(positions)) > GRID_TOL
        if off.any():
            raise LevelDataError(f"arma: time {times[np.argmax(off)]:g} is not on the grid of the "
                                 f"smallest gap between times ({step:g}); arma() needs equally "
                                 f"spaced times (gaps may be missing)")
        if positions.max(initial=0.0) > MAX_LAG:
            raise EngineError(f"arma: times span {positions.max():.0f} steps of {step:g} "
                              f"(at most {MAX_LAG})")
        with torch.no_grad():
            self.times.copy_(torch.as_tensor(times, dtype=self.times.dtype))
            self.step.fill_(step)

    def grid_positions(self, times: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Whole grid positions of ``times`` relative to the first fitted time.

        Raises:
            LevelDataError: A time off the fitted grid.
        """
        t = torch.as_tensor(np.asarray(times, dtype=float), dtype=self.times.dtype)
        u = (t - self.times.min().cpu()) / self.step.cpu()
        off = (u - torch.round(u)).abs() > GRID_TOL
        if bool(off.any()):
            raise LevelDataError(f"arma: time {float(t[off][0]):g} is not on the fitted time grid "
                                 f"(step {float(self.step):g} from {float(self.times.min()):g})")
        return torch.round(u).to(torch.long)

    def lags(self) -> torch.Tensor:
        """``|pos_s - pos_t|`` between fitted levels, ``(n_levels, n_levels)`` (cached)."""
        key = (id(self.times), self.times._version, self.times.device)
        if self._lags is None or self._lags[0] != key:
            pos = self.grid_positions(self.times.detach().cpu().numpy()).to(self.times.device)
            self._lags = (key, (pos[:, None] - pos[None, :]).abs())
        return self._lags[1]

    # -- the process --------------------------------------------------------------
    def ar_coefficients(self) -> torch.Tensor:
        """AR coefficients ``phi`` ``(p,)`` (stationary)."""
        return pacf_to_coefficients(torch.tanh(self.ar_raw) * (1.0 - PACF_MARGIN))

    def ma_coefficients(self) -> torch.Tensor:
        """MA coefficients ``theta`` ``(q,)`` (invertible; ``theta()`` is lme4's, of ``Sigma``)."""
        return -pacf_to_coefficients(torch.tanh(self.ma_raw) * (1.0 - PACF_MARGIN))

    def autocorrelation(self, max_lag: int) -> torch.Tensor:
        """``acf(0..max_lag)``."""
        return arma_autocorrelation(self.ar_coefficients(), self.ma_coefficients(), int(max_lag))

    def correlation(self) -> torch.Tensor:
        lags = self.lags()
        acf = self.autocorrelation(int(lags.max()) if lags.numel() else 0)
        K = acf[lags]
        return K + JITTER * torch.eye(self.n_levels, dtype=K.dtype, device=K.device)

    def cross_correlation(self, new_data: np.ndarray) -> torch.Tensor:
        u = self.grid_positions(new_data).to(self.times.device)
        pos = self.grid_positions(self.times.detach().cpu().numpy()).to(self.times.device)
        lags = (u[:, None] - pos[None, :]).abs()
        return self.autocorrelation(int(lags.max()) if lags.numel() else 0)[lags]

    # -- starting values and reporting ---------------------------------------------
    def set_scale(self, sd: np.ndarray) -> None:
        super().set_scale(sd)
        with torch.no_grad():
            self.ar_raw.zero_()
            self.ma_raw.zero_()

    def structure_parameters(self) -> list[nn.Parameter]:
        return [self.ar_raw, self.ma_raw]

    def start_from_effects(self, b: np.ndarray) -> None:
        """Start from the lag-one correlation ``r`` of ``b``: the first partial
        autocorrelation at ``r`` (AR part), else ``theta_1 = r`` (pure MA)."""
        positions = self.grid_positions(self.times.detach().cpu().numpy()).numpy()
        r = float(np.clip(lag_one_correlation(b, positions), -START_RHO_MAX, START_RHO_MAX))
        with torch.no_grad():
            if self.ar_order:
                self.ar_raw[0] = float(np.arctanh(r / (1.0 - PACF_MARGIN)))
            elif self.ma_order:
                self.ma_raw[0] = float(np.arctanh(-r / (1.0 - PACF_MARGIN)))

    def extra_parameters(self) -> dict[str, float]:
        """``{"phi1": ..., ..., "theta1": ...}``."""
        out = {f"phi{k + 1}": float(v) for k, v in enumerate(self.ar_coefficients().detach().cpu())}
        out.update({f"theta{k + 1}": float(v) for k, v in enumerate(self.ma_coefficients().detach().cpu())})
        return out
