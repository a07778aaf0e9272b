"""AR(1) prior over the time-ordered levels of a grouping factor: ``ar1(x | time)``.

The effects of level ``t`` (a ``q``-vector) follow a stationary first-order
autoregression along time, with a ``q x q`` innovation scale:

    Cov(vec b) = R(rho) kron Sigma,   R_st = corr(b_s, b_t),

a Markov chain whose consecutive levels ``s < t`` (in time order) are
``d = (time_t - time_s) / step`` steps apart and correlated ``r = rho^d``;
``step`` is the smallest gap between the fitted levels' times.  For equally
spaced times this is glmmTMB's ``ar1()`` (``R_st = rho^|s - t|``); a dropped
time point counts as a missing step, so a gap of two steps has correlation
``rho^2``.  A gap that is not a whole number of steps gets
``r = sign(rho) |rho|^d`` (for ``rho > 0`` an Ornstein-Uhlenbeck process).
``rho = tanh(a)`` keeps it in ``(-1, 1)``; ``Sigma = L L^T`` as the
unstructured IID prior.

R's precision is tridiagonal, so every KL piece is closed form (O(n q^2)),
with ``r_i`` the correlation between the ``i``-th and ``(i+1)``-th level in
time order and ``a_t = L^-1 mu_t``:

* ``log det(R kron Sigma) = q sum_i log(1 - r_i^2) + n log det Sigma``;
* ``quad = sum_j [a_1j^2 + sum_i (a_{i+1,j} - r_i a_ij)^2 / (1 - r_i^2)]``;
* ``trace = sum_t P_tt tr(Sigma^-1 S_t)`` (mean field), with
  ``P_tt = [t > 1] / (1 - r_{t-1}^2) + [t < n] r_t^2 / (1 - r_t^2) + [t = 1]``;
  for a joint posterior ``trace_joint`` is ``quad`` of each factor column;
  ``correlation_precision`` gives the tridiagonal ``R^-1`` itself (for the
  structured posterior of ``tabmixr.engines.vi.structured``).

A level never seen when fitting gets the conditional mean given its two
neighbours in time (the chain is Markov): kriging from the bracketing
levels, ``r * b_end`` beyond the ends.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tabmixr.covariance.base import register_covariance
from tabmixr.covariance.dense import autograd_correlation_and_gradient
from tabmixr.covariance.iid import Unstructured
from tabmixr.errors import EngineError

#: A gap within this many steps of a whole number counts as whole.
WHOLE_TOL = 1e-9
#: ``|rho|`` stays this far below 1.
RHO_MARGIN = 1e-6
#: Largest ``|rho|`` of a starting value taken from the data.
START_RHO_MAX = 0.9


def lag_one_correlation(b: np.ndarray, positions: np.ndarray) -> float:
    """Correlation of ``b`` between levels one step apart (``positions`` in steps).

    Returns 0 when fewer than three such pairs exist or ``b`` does not vary.
    """
    order = np.argsort(positions, kind="stable")
    p, v = np.asarray(positions, dtype=float)[order], np.asarray(b, dtype=float)[order]
    pairs = np.flatnonzero(np.abs(np.diff(p) - 1.0) <= 1e-6)
    if len(pairs) < 3:
        return 0.0
    a, c = v[pairs], v[pairs + 1]
    if a.std() == 0 or c.std() == 0:
        return 0.0
    return float(np.corrcoef(a, c)[0, 1])


def time_order(levels: tuple[str, ...]) -> np.ndarray:
    """Permutation putting level labels in time order (numeric when all are numbers).

    Args:
        levels: Level labels of the grouping factor.

    Returns:
        Indices into ``levels``, earliest first.
    """
    try:
        values = np.array([float(level) for level in levels])
    except (TypeError, ValueError):
        return np.arange(len(levels))
    return np.argsort(values, kind="stable")


def time_step(times: np.ndarray) -> float:
    """The smallest gap between distinct sorted ``times`` (1 for fewer than two).

    Raises:
        EngineError: Two levels at one time or non-finite times.
    """
    times = np.sort(np.asarray(times, dtype=float))
    if not np.all(np.isfinite(times)):
        raise EngineError("ar1/arma: level times must be finite")
    gaps = np.diff(times)
    if len(gaps) and gaps.min() <= 0:
        raise EngineError("ar1/arma: two levels share one time; every level needs its own time")
    return float(gaps.min()) if len(gaps) else 1.0


def step_correlation(rho: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Correlation ``rho^d`` across ``d >= 0`` steps (``sign(rho)|rho|^d`` for fractional ``d``)."""
    whole = (d - torch.round(d)).abs() <= WHOLE_TOL
    integer_power = torch.pow(rho, torch.round(d))
    fractional = torch.sign(rho) * torch.pow(rho.abs(), d)
    return torch.where(whole, integer_power, fractional)


@register_covariance
class AR1(Unstructured):
    """Stationary AR(1) over levels in time, ``Cov(vec b) = R(rho) kron Sigma``."""

    name = "ar1"
    level_data = "time"

    def __init__(self, q: int, n_levels: int):
        super().__init__(q, n_levels)
        self.rho_raw = nn.Parameter(torch.zeros(()))
        self.register_buffer("order", torch.arange(n_levels), persistent=True)
        self.register_buffer("times", torch.arange(n_levels, dtype=torch.get_default_dtype()),
                             persistent=True)
        self.register_buffer("step", torch.ones((), dtype=torch.get_default_dtype()), persistent=True)

    # -- level data --------------------------------------------------------------
    def set_level_data(self, data: np.ndarray | None) -> None:
        """Set the levels' times ``(n_levels,)`` (level order); see the module docstring.

        Raises:
            EngineError: Missing data, wrong length, non-finite or shared times.
        """
        if data is None:
            raise EngineError(f"{self.name}: needs the levels' times")
        times = np.asarray(data, dtype=float).reshape(-1)
        if len(times) != self.n_levels:
            raise EngineError(f"{self.name}: got {len(times)} times for {self.n_levels} levels")
        step = time_step(times)
        with torch.no_grad():
            self.times.copy_(torch.as_tensor(times, dtype=self.times.dtype))
            self.step.fill_(step)
            self.order.copy_(torch.as_tensor(np.argsort(times, kind="stable"), dtype=torch.long))

    def set_levels(self, levels: tuple[str, ...]) -> None:
        """Times from level labels: numbers when every label is one, else the labels' order.

        Raises:
            EngineError: ``levels`` does not have ``n_levels`` labels.
        """
        if len(levels) != self.n_levels:
            raise EngineError(f"{self.name}: got {len(levels)} level labels for {self.n_levels} levels")
        try:
            times = np.array([float(level) for level in levels])
        except (TypeError, ValueError):
            times = np.empty(len(levels))
            times[time_order(tuple(levels))] = np.arange(len(levels))
        self.set_level_data(times)

    def positions(self, times: torch.Tensor) -> torch.Tensor:
        """Times in steps from the first fitted level."""
        return (times - self.times[self.order[0]]) / self.step

    # -- the chain ---------------------------------------------------------------
    def rho(self) -> torch.Tensor:
        """The autocorrelation across one step, ``(1 - 1e-6) tanh(rho_raw)``.

        Kept within ``1e-6`` of +-1 so that ``log(1 - rho^2)`` stays finite
        (scaled rather than clamped, so that the gradient never vanishes).
        """
        return (1.0 - RHO_MARGIN) * torch.tanh(self.rho_raw)

    def consecutive(self) -> torch.Tensor:
        """Correlations ``r_i`` of consecutive levels in time order, ``(n_levels - 1,)``."""
        sorted_times = self.times[self.order]
        gaps = (sorted_times[1:] - sorted_times[:-1]) / self.step
        return step_correlation(self.rho(), gaps)

    def logdet(self) -> torch.Tensor:
        logdet_sigma = 2.0 * torch.log(torch.diagonal(self.chol())).sum()
        logdet_r = torch.log(1.0 - self.consecutive() ** 2).sum()
        return self.q * logdet_r + self.n_levels * logdet_sigma

    def quad(self, mu: torch.Tensor) -> torch.Tensor:
        """``sum mu^T (R kron Sigma)^-1 mu`` for ``mu`` of shape ``(..., n_levels, q)``."""
        a = torch.linalg.solve_triangular(self.chol(), mu[..., self.order, :].transpose(-1, -2),
                                          upper=False).transpose(-1, -2)
        r = self.consecutive()[:, None]
        innovations = (a[..., 1:, :] - r * a[..., :-1, :]) / torch.sqrt(1.0 - r ** 2)
        return (a[..., 0, :] ** 2).sum() + (innovations ** 2).sum()

    def precision_diagonal(self) -> torch.Tensor:
        """Diagonal of ``R^-1`` in time order, ``(n_levels,)``."""
        r2 = self.consecutive() ** 2
        diag = torch.zeros(self.n_levels, dtype=self.rho_raw.dtype, device=self.rho_raw.device)
        diag[0] = 1.0
        diag[1:] = diag[1:] + 1.0 / (1.0 - r2)
        diag[:-1] = diag[:-1] + r2 / (1.0 - r2)
        return diag

    def correlation_precision(self) -> torch.Tensor:
        """The tridiagonal ``R^-1`` (off-diagonal ``-r_i / (1 - r_i^2)``) in level order."""
        r = self.consecutive()
        T = torch.diag(self.precision_diagonal())
        if self.n_levels > 1:
            T = T + torch.diag(-r / (1.0 - r ** 2), 1) + torch.diag(-r / (1.0 - r ** 2), -1)
        rank = torch.argsort(self.order)
        return T[rank][:, rank]

    def correlation(self) -> torch.Tensor:
        """The dense ``R`` in level order, ``R_st = rho^(|time_s - time_t| / step)``.

        Steps multiply along the chain (``rho^a rho^b = rho^(a + b)`` for whole
        gaps and for ``rho > 0``), so this is the correlation of the Markov
        chain of the module docstring; the neural engine's dense posterior
        (``tabmixr.engines.vi.dense_posterior``) reads it.
        """
        p = self.positions(self.times)
        return step_correlation(self.rho(), (p[:, None] - p[None, :]).abs())

    def cross_correlation(self, new_data: np.ndarray) -> torch.Tensor:
        """Correlations of new times with the fitted levels, ``(m, n_levels)``."""
        u = self.positions(torch.as_tensor(np.asarray(new_data, dtype=float).reshape(-1),
                                           dtype=self.times.dtype))
        return step_correlation(self.rho(), (u[:, None] - self.positions(self.times)[None, :]).abs())

    def correlation_and_gradient(self):
        """``(R, grad)`` as ``DenseCorrelation.correlation_and_gradient`` (by autograd)."""
        return autograd_correlation_and_gradient(self)

    def trace(self, L_post: torch.Tensor) -> torch.Tensor:
        L = self.chol().expand(L_post.shape[0], self.q, self.q)
        A = torch.linalg.solve_triangular(L, L_post[self.order], upper=False)
        per_level = (A * A).sum(dim=(-2, -1))
        return (self.precision_diagonal() * per_level).sum()

    def trace_joint(self, rows: torch.Tensor) -> torch.Tensor:
        return self.quad(rows.permute(2, 0, 1))

    # -- new levels -----------------------------------------------------------------
    def conditional_mean(self, mu: torch.Tensor, new_data: np.ndarray) -> torch.Tensor:
        """Kriging from the two fitted levels around each new time (see the module docstring).

        Args:
            mu: Effects of the fitted levels, ``(n_levels, q)``.
            new_data: Times of the new levels, ``(m,)``.

        Returns:
            ``(m, q)``.
        """
        dtype, device = mu.dtype, mu.device
        u = self.positions(torch.as_tensor(np.asarray(new_data, dtype=float), dtype=dtype,
                                           device=device))
        p = self.positions(self.times[self.order]).to(dtype)
        b = mu[self.order]
        n, rho = self.n_levels, self.rho().to(dtype)
        right = torch.searchsorted(p, u).clamp(max=n - 1)
        left = (right - 1).clamp(min=0)
        at_right = (p[right] - u).abs() <= WHOLE_TOL
        before = (u < p[0]) & ~at_right
        after = u > p[-1]
        r_a = step_correlation(rho, (u - p[left]).clamp(min=0))
        r_b = step_correlation(rho, (p[right] - u).clamp(min=0))
        r_ab = step_correlation(rho, p[right] - p[left])
        denom = (1.0 - r_ab ** 2).clamp(min=1e-12)
        w_a = (r_a - r_b * r_ab) / denom
        w_b = (r_b - r_a * r_ab) / denom
        out = w_a[:, None] * b[left] + w_b[:, None] * b[right]
        out = torch.where(before[:, None], r_b[:, None] * b[0], out)
        out = torch.where(after[:, None], step_correlation(rho, u - p[-1])[:, None] * b[-1], out)
        return torch.where(at_right[:, None], b[right], out)

    # -- starting values and reporting ----------------------------------------------
    def set_scale(self, sd: np.ndarray) -> None:
        super().set_scale(sd)
        with torch.no_grad():
            self.rho_raw.zero_()

    def structure_parameters(self) -> list[nn.Parameter]:
        return [self.rho_raw]

    def start_from_effects(self, b: np.ndarray) -> None:
        """Start ``rho`` at the lag-one correlation of ``b`` (within +-``START_RHO_MAX``)."""
        positions = self.positions(self.times).detach().cpu().numpy()
        rho = float(np.clip(lag_one_correlation(b, positions), -START_RHO_MAX, START_RHO_MAX))
        with torch.no_grad():
            self.rho_raw.fill_(float(np.arctanh(rho / (1.0 - RHO_MARGIN))))

    def extra_parameters(self) -> dict[str, float]:
        """Parameters beyond ``Sigma`` for results: ``{"rho": ...}``."""
        return {"rho": float(self.rho().detach().cpu())}
