"""Priors with a dense correlation over levels: ``Cov(vec b) = K kron Sigma``.

Shared by ``gp`` (a kernel of distances) and ``arma`` (a Toeplitz
autocovariance).  With ``K = C C^T`` (one dense Cholesky per evaluation) and
``a_g = L^-1 mu_g`` (``Sigma = L L^T``):

* ``log det = q log det K + n log det Sigma``;
* ``quad = ||C^-1 a||_F^2`` (``a`` stacked ``(n, q)``);
* ``trace = sum_g (K^-1)_gg tr(Sigma^-1 S_g)`` for a mean-field posterior,
  and ``trace_joint = sum_k quad(r_k)`` over the columns ``r_k`` of a joint
  factor (cross-level posterior covariance meets the coupled precision);
* new levels: ``E[b_new | b = mu] = K_new,fit K^-1 mu`` (simple kriging);
* ``correlation_and_gradient``: ``K`` and ``<d_K, dK/dp>`` for the dense
  posterior of the neural engine, which never inverts ``K``.

Dense work is O(n^3): more than ``MAX_LEVELS`` levels is refused.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
import torch

from tabmixr.covariance.iid import Unstructured
from tabmixr.errors import EngineError

#: Most levels a dense prior accepts.
MAX_LEVELS = 4000
#: Added to K's diagonal (relative to its unit variance).
JITTER = 1e-6


def autograd_correlation_and_gradient(structure):
    """``(K, grad)`` of ``DenseCorrelation.correlation_and_gradient`` for any structure with a
    ``correlation()``: ``K``'s graph is kept and ``grad(d_K)`` takes one backward pass."""
    params = structure.structure_parameters()
    with torch.enable_grad():
        K = structure.correlation()

    def grad(d_K: torch.Tensor) -> list[torch.Tensor]:
        if not params:
            return []
        with torch.enable_grad():
            g = torch.autograd.grad((d_K.to(K.dtype) * K).sum(), params, allow_unused=True)
        return [torch.zeros_like(p) if gi is None else gi for p, gi in zip(params, g)]

    return K.detach(), grad


class DenseCorrelation(Unstructured):
    """``Cov(vec b) = K kron Sigma`` with a dense unit-diagonal correlation ``K``.

    Subclasses give ``correlation()`` (``K`` with its jitter) and
    ``cross_correlation(new_data)`` (``(m, n_levels)``, new levels against
    fitted ones).
    """

    #: What to suggest when there are too many levels.
    too_many_hint = ""

    def __init__(self, q: int, n_levels: int):
        if n_levels > MAX_LEVELS:
            raise EngineError(f"{self.name}: {n_levels} levels are too many for a dense prior "
                              f"(at most {MAX_LEVELS}){self.too_many_hint}")
        super().__init__(q, n_levels)

    @abstractmethod
    def correlation(self) -> torch.Tensor:
        """``K`` with its jitter, ``(n_levels, n_levels)``."""

    @abstractmethod
    def cross_correlation(self, new_data: np.ndarray) -> torch.Tensor:
        """Correlations of new levels with the fitted ones, ``(m, n_levels)``."""

    def correlation_and_gradient(self):
        """``K`` (no graph) and ``grad(d_K)``: ``<d_K, dK/dp>`` for each of
        ``structure_parameters()``, for a fixed ``(n_levels, n_levels)`` ``d_K``.

        The dense posterior (``tabmixr.engines.vi.dense_posterior``) asks for
        it once per evaluation.  This default (``autograd_correlation_and_gradient``)
        keeps ``K``'s graph and takes one backward pass; a structure with a
        closed-form derivative overrides it.

        Returns:
            ``(K, grad)``; ``grad`` returns a list of tensors shaped like the parameters.
        """
        return autograd_correlation_and_gradient(self)

    def _chol_k(self) -> torch.Tensor:
        C, info = torch.linalg.cholesky_ex(self.correlation())
        if int(info) != 0:
            raise EngineError(f"{self.name}: correlation matrix of the levels is not positive "
                              f"definite ({self.describe()})")
        return C

    def logdet(self) -> torch.Tensor:
        logdet_sigma = 2.0 * torch.log(torch.diagonal(self.chol())).sum()
        logdet_k = 2.0 * torch.log(torch.diagonal(self._chol_k())).sum()
        return self.q * logdet_k + self.n_levels * logdet_sigma

    def quad(self, mu: torch.Tensor) -> torch.Tensor:
        """``sum mu^T (K kron Sigma)^-1 mu`` for ``mu`` of shape ``(..., n_levels, q)``."""
        a = torch.linalg.solve_triangular(self.chol(), mu.transpose(-1, -2), upper=False)
        w = torch.linalg.solve_triangular(self._chol_k(), a.transpose(-1, -2), upper=False)
        return (w * w).sum()

    def correlation_precision(self) -> torch.Tensor:
        """``K^-1`` (through the Cholesky factor of ``K``)."""
        return torch.cholesky_inverse(self._chol_k())

    def precision_pieces(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(K^-1 kron Sigma^-1, log det(K kron Sigma))`` from one Cholesky of ``K``."""
        C, L = self._chol_k(), self.chol()
        logdet = (self.q * 2.0 * torch.log(torch.diagonal(C)).sum()
                  + self.n_levels * 2.0 * torch.log(torch.diagonal(L)).sum())
        return torch.kron(torch.cholesky_inverse(C), torch.cholesky_inverse(L)), logdet

    def trace(self, L_post: torch.Tensor) -> torch.Tensor:
        C = self._chol_k()
        eye = torch.eye(self.n_levels, dtype=C.dtype, device=C.device)
        C_inv = torch.linalg.solve_triangular(C, eye, upper=False)
        k_inv_diag = (C_inv * C_inv).sum(dim=0)
        L = self.chol().expand(L_post.shape[0], self.q, self.q)
        A = torch.linalg.solve_triangular(L, L_post, upper=False)
        return (k_inv_diag * (A * A).sum(dim=(-2, -1))).sum()

    def trace_joint(self, rows: torch.Tensor) -> torch.Tensor:
        return self.quad(rows.permute(2, 0, 1))

    def conditional_mean(self, mu: torch.Tensor, new_data: np.ndarray) -> torch.Tensor:
        """Simple kriging ``K_new,fit K^-1 mu``, ``(m, q)``."""
        C = self._chol_k().to(mu.dtype)
        k = self.cross_correlation(new_data).to(mu.dtype)
        w = torch.cholesky_solve(mu, C)
        return k @ w
