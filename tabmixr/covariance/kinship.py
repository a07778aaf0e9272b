"""Kinship prior over the levels of a grouping factor: ``kin(x | animal)``.

The effects of the animals with records (a ``q``-vector each) are correlated
through their relationship matrix, with a ``q x q`` scale:

    Cov(vec b) = A_oo kron Sigma,

``A_oo`` the pedigree's numerator relationship matrix (or a given
relationship/genomic matrix) restricted to the levels: the marginal of the
prior over every pedigree animal, ancestors without records integrated out.
``A_oo`` is fixed; only ``Sigma = L L^T`` is learned (as the unstructured IID
prior).  With ``P = A_oo^-1`` (``tabmixr.kinship.observed``: a Schur
complement of the sparse ``A^-1``, never a dense ``A``) and ``a = mu L^-T``:

* ``log det = q log det A_oo + n log det Sigma`` (``log det A = sum log d``);
* ``quad = sum(a * (P a))``;
* ``trace = sum_g P_gg tr(Sigma^-1 S_g)`` for a mean-field posterior, and
  ``trace_joint = quad`` of each column of a joint factor;
* ``correlation_precision`` (dense ``P``) for the neural engine's structured
  posterior, whose precision is the prior's plus one block per level.

Products with ``P`` run in NumPy/SciPy (on the CPU) inside an autograd
Function; ``P`` is symmetric, so its backward is another product.
"""

from __future__ import annotations

import numpy as np
import torch

from tabmixr.covariance.base import register_covariance
from tabmixr.covariance.iid import Unstructured
from tabmixr.errors import EngineError
from tabmixr.kinship.observed import ObservedPrecision


class _PrecisionProduct(torch.autograd.Function):
    """``P x`` for a fixed symmetric ``P`` given as an ``ObservedPrecision``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, op: ObservedPrecision) -> torch.Tensor:
        ctx.op = op
        return _apply(op, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return _apply(ctx.op, grad), None


def _apply(op: ObservedPrecision, x: torch.Tensor) -> torch.Tensor:
    """``op.times`` on a tensor ``(n, k)``, back in the tensor's dtype and device."""
    out = op.times(x.detach().cpu().double().numpy())
    return torch.as_tensor(np.ascontiguousarray(out), dtype=x.dtype, device=x.device)


@register_covariance
class Kinship(Unstructured):
    """``Cov(vec b) = A_oo kron Sigma`` with a fixed relationship matrix ``A_oo``.

    The relationship is handed over after construction with
    ``set_relationship`` (the design's ``term.relationship``).
    """

    name = "kin"

    def __init__(self, q: int, n_levels: int):
        super().__init__(q, n_levels)
        self._op: ObservedPrecision | None = None
        self._dense_precision: torch.Tensor | None = None
        self.register_buffer("precision_diagonal", torch.ones(n_levels), persistent=False)

    def set_relationship(self, relationship) -> None:
        """Use a term's relationship (``tabmixr.design.relmat.Relationship``) as ``A``.

        Args:
            relationship: Its ``observed_precision()`` gives ``A_oo^-1`` over
                the term's levels, in level order.

        Raises:
            EngineError: The relationship covers another number of levels.
        """
        op = relationship.observed_precision()
        if op.n != self.n_levels:
            raise EngineError(f"kin: the relationship covers {op.n} levels, the term has "
                              f"{self.n_levels}")
        self._op = op
        self._dense_precision = None
        with torch.no_grad():
            diag = torch.as_tensor(op.diagonal(), dtype=self.precision_diagonal.dtype)
            self.precision_diagonal.copy_(diag.to(self.precision_diagonal.device))

    def _precision(self) -> ObservedPrecision:
        if self._op is None:
            raise EngineError("kin: no relationship matrix was set (set_relationship) before "
                              "evaluating the prior")
        return self._op

    def logdet(self) -> torch.Tensor:
        logdet_sigma = 2.0 * torch.log(torch.diagonal(self.chol())).sum()
        return self.q * self._precision().logdet_covariance + self.n_levels * logdet_sigma

    def quad(self, mu: torch.Tensor) -> torch.Tensor:
        """``sum mu^T (A_oo kron Sigma)^-1 mu`` for ``mu`` of shape ``(..., n_levels, q)``."""
        a = torch.linalg.solve_triangular(self.chol(), mu.transpose(-1, -2),
                                          upper=False).transpose(-1, -2)
        stacked = a.movedim(-2, 0).reshape(self.n_levels, -1)
        product = _PrecisionProduct.apply(stacked, self._precision())
        return (stacked * product).sum()

    def correlation_precision(self) -> torch.Tensor:
        """Dense ``A_oo^-1`` in level order, ``(n_levels, n_levels)``, computed once.

        Only the structured posterior asks for it (at most a few thousand
        effects); the KL pieces above never form it.
        """
        if self._dense_precision is None:
            op = self._precision()
            self._dense_precision = torch.as_tensor(op.times(np.eye(self.n_levels)))
        dtype, device = self.precision_diagonal.dtype, self.precision_diagonal.device
        return self._dense_precision.to(dtype=dtype, device=device)

    def trace(self, L_post: torch.Tensor) -> torch.Tensor:
        self._precision()
        L = self.chol().expand(L_post.shape[0], self.q, self.q)
        A = torch.linalg.solve_triangular(L, L_post, upper=False)
        per_level = (A * A).sum(dim=(-2, -1))
        return (self.precision_diagonal.to(per_level.dtype) * per_level).sum()

    def trace_joint(self, rows: torch.Tensor) -> torch.Tensor:
        return self.quad(rows.permute(2, 0, 1))
