"""AR(1) prior over the ordered levels of a grouping factor: ``ar1(x | time)``.

The effects of level ``t`` (a ``q``-vector) follow a stationary first-order
autoregression along the levels, with a ``q x q`` innovation scale:

    cov(b_s, b_t) = rho^|s - t| * Sigma,   i.e.  Cov(vec b) = R(rho) kron Sigma,

with ``R_st = rho^|s-t|``.  As glmmTMB's ``ar1()``, consecutive levels are one
step apart (levels in time order: numerically when every label is a number,
otherwise in the factor's level order).  ``rho = tanh(a)`` keeps it in
``(-1, 1)``; ``Sigma = L L^T`` as the unstructured IID prior.

R's precision is tridiagonal, so every KL piece is closed form (O(n q^2)):

* ``log det(R kron Sigma) = q (n - 1) log(1 - rho^2) + n log det Sigma``;
* ``quad = sum_j [a_1j^2 + sum_{t>=2} (a_tj - rho a_{t-1,j})^2 / (1 - rho^2)]``
  with ``a_t = L^-1 mu_t`` (time order);
* ``trace = sum_t P_tt tr(Sigma^-1 S_t)``, ``P_tt = 1/(1-rho^2)`` at both
  ends and ``(1+rho^2)/(1-rho^2)`` inside (``1`` for a single level).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tabmixr.covariance.base import register_covariance
from tabmixr.covariance.iid import Unstructured
from tabmixr.errors import EngineError


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


@register_covariance
class AR1(Unstructured):
    """Stationary AR(1) over levels, ``Cov(vec b) = R(rho) kron Sigma``."""

    name = "ar1"

    def __init__(self, q: int, n_levels: int):
        super().__init__(q, n_levels)
        self.rho_raw = nn.Parameter(torch.zeros(()))
        self.register_buffer("order", torch.arange(n_levels), persistent=True)

    def set_levels(self, levels: tuple[str, ...]) -> None:
        """Order the levels in time (see ``time_order``).

        Raises:
            EngineError: ``levels`` does not have ``n_levels`` labels.
        """
        if len(levels) != self.n_levels:
            raise EngineError(f"ar1: got {len(levels)} level labels for {self.n_levels} levels")
        self.order.copy_(torch.as_tensor(time_order(tuple(levels)), dtype=torch.long))

    def rho(self) -> torch.Tensor:
        """The autocorrelation between consecutive levels, ``tanh(rho_raw)``.

        Kept within ``1 - 1e-6`` of +-1 so that ``log(1 - rho^2)`` stays finite.
        """
        return torch.tanh(self.rho_raw).clamp(-1.0 + 1e-6, 1.0 - 1e-6)

    def _one_minus_rho2(self) -> torch.Tensor:
        return 1.0 - self.rho() ** 2

    def logdet(self) -> torch.Tensor:
        logdet_sigma = 2.0 * torch.log(torch.diagonal(self.chol())).sum()
        logdet_r = (self.n_levels - 1) * torch.log(self._one_minus_rho2())
        return self.q * logdet_r + self.n_levels * logdet_sigma

    def quad(self, mu: torch.Tensor) -> torch.Tensor:
        a = torch.linalg.solve_triangular(self.chol(), mu[self.order].T, upper=False).T
        rho = self.rho()
        innovations = a[1:] - rho * a[:-1]
        return (a[0] ** 2).sum() + (innovations ** 2).sum() / self._one_minus_rho2()

    def precision_diagonal(self) -> torch.Tensor:
        """Diagonal of ``R^-1`` in time order, ``(n_levels,)``."""
        n = self.n_levels
        rho2 = self.rho() ** 2
        if n == 1:
            return torch.ones(1, dtype=rho2.dtype, device=rho2.device)
        inside = (1.0 + rho2) / (1.0 - rho2)
        diag = inside.expand(n).clone()
        diag[0] = diag[-1] = 1.0 / (1.0 - rho2)
        return diag

    def trace(self, L_post: torch.Tensor) -> torch.Tensor:
        L = self.chol().expand(L_post.shape[0], self.q, self.q)
        A = torch.linalg.solve_triangular(L, L_post[self.order], upper=False)
        per_level = (A * A).sum(dim=(-2, -1))
        return (self.precision_diagonal() * per_level).sum()

    def set_scale(self, sd: np.ndarray) -> None:
        super().set_scale(sd)
        with torch.no_grad():
            self.rho_raw.zero_()

    def extra_parameters(self) -> dict[str, float]:
        """Parameters beyond ``Sigma`` for results: ``{"rho": ...}``."""
        return {"rho": float(self.rho().detach().cpu())}
