"""torch autograd Functions for sparse precision matrices ``Q(params)``.

A family of symmetric positive definite matrices on one fixed CSC pattern is
described by a callback

    build(params) -> (values, dvalues)

with ``values`` the ``nnz`` stored entries of ``Q(params)`` (aligned with the
canonical pattern ``chol.indptr``/``chol.indices``, both triangles, sorted rows;
``chol.values_on_pattern(M)`` aligns any matrix) and ``dvalues`` the
``(k, nnz)`` entries of ``dQ/dparams[k]`` on the same pattern.  Then

    d log det Q / d params[k] = tr(Q^-1 dQ_k)       (selected inversion, Takahashi)
    d (x^T Q x) / d params[k] = x^T dQ_k x,    d (x^T Q x) / dx = 2 Q x.

The factor (``SparseCholesky``) is analysed once by the caller and reused:
forward factorizes it, backward reads its selected inverse; if another forward
refactorized it in between, backward restores its own values first.
Everything is float64; tensors on another device come back on it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.sparse as sp
import torch
from torch.autograd.function import once_differentiable

from tabmixr.errors import KernelError
from tabmixr.linalg.sparse_cholesky import SparseCholesky

__all__ = ["SparseLogdet", "SparseQuadform", "SparsePrecisionFamily", "sparse_logdet",
           "sparse_quadform"]

Build = Callable[[torch.Tensor], tuple]


def _to_numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def _evaluate(build: Build, params: torch.Tensor, nnz: int) -> tuple[np.ndarray, np.ndarray]:
    """Call ``build`` on detached params and check what it returns.

    Raises:
        KernelError: params is not a float64 vector, or build returns values
            or derivatives of the wrong shape.
    """
    if params.dtype != torch.float64 or params.ndim != 1:
        raise KernelError(f"params must be a 1-D float64 tensor, got dtype {params.dtype} and "
                          f"shape {tuple(params.shape)}")
    out = build(params.detach())
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise KernelError("build(params) must return (values, dvalues)")
    values = np.ascontiguousarray(_to_numpy(out[0]))
    dvalues = out[1]
    if isinstance(dvalues, (list, tuple)):
        dvalues = np.stack([_to_numpy(d) for d in dvalues]) if len(dvalues) else \
            np.zeros((0, nnz))
    dvalues = np.ascontiguousarray(_to_numpy(dvalues))
    k = params.shape[0]
    if values.shape != (nnz,):
        raise KernelError(f"build(params) returned values of shape {values.shape}; the "
                          f"pattern has {nnz} stored entries, so expected ({nnz},)")
    if dvalues.shape != (k, nnz):
        raise KernelError(f"build(params) returned dvalues of shape {dvalues.shape}; expected "
                          f"({k}, {nnz}): one row dQ/dparams[k] per parameter on Q's pattern")
    return values, dvalues


class SparseLogdet(torch.autograd.Function):
    """``log det Q(params)`` with gradient ``tr(Q^-1 dQ_k)`` by selected inversion.

    Usage: ``SparseLogdet.apply(params, chol, build)``.

    Args (of ``apply``):
        params: 1-D float64 tensor of the ``k`` parameters.
        chol: ``SparseCholesky`` analysed on Q's pattern (refactorized here).
        build: ``build(params) -> (values (nnz,), dvalues (k, nnz))``.

    Returns:
        0-d float64 tensor.

    Raises:
        KernelError: bad ``build`` output; NotPositiveDefiniteError when
            ``Q(params)`` is not positive definite.
    """

    @staticmethod
    def forward(ctx, params: torch.Tensor, chol: SparseCholesky, build: Build) -> torch.Tensor:
        values, dvalues = _evaluate(build, params, chol.nnz)
        chol.factorize(values)
        ctx.chol, ctx.values, ctx.dvalues, ctx.version = chol, values, dvalues, chol.version
        return torch.tensor(chol.logdet(), dtype=torch.float64, device=params.device)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor):
        chol: SparseCholesky = ctx.chol
        if chol.version != ctx.version:  # another forward reused the factor meanwhile
            chol.factorize(ctx.values)
            ctx.version = chol.version
        if ctx.dvalues.shape[0] == 0:
            traces = np.zeros(0)
        else:
            traces = np.atleast_1d(chol.trace_inv_product(ctx.dvalues))
        grad = torch.as_tensor(traces, dtype=torch.float64, device=grad_output.device)
        return grad_output * grad, None, None


class SparseQuadform(torch.autograd.Function):
    """``x^T Q(params) x`` with gradients ``2 Q x`` in ``x`` and ``x^T dQ_k x`` in params.

    Usage: ``SparseQuadform.apply(params, x, pattern, build)``.

    Args (of ``apply``):
        params: 1-D float64 tensor of the ``k`` parameters.
        x: float64 tensor of shape ``(n,)`` or a batch ``(m, n)``.
        pattern: ``SparseCholesky`` (or any object with ``indptr``, ``indices``,
            ``shape``) giving Q's CSC pattern; no factorization is needed.
        build: ``build(params) -> (values (nnz,), dvalues (k, nnz))``.

    Returns:
        0-d tensor for ``x`` of shape ``(n,)``, else shape ``(m,)``.

    Raises:
        KernelError: ``x`` does not have ``n`` columns or is not float64.
    """

    @staticmethod
    def forward(ctx, params: torch.Tensor, x: torch.Tensor, pattern, build: Build) -> torch.Tensor:
        n = pattern.shape[0]
        if x.dtype != torch.float64 or x.ndim not in (1, 2) or x.shape[-1] != n:
            raise KernelError(f"x must be a float64 tensor of shape ({n},) or (m, {n}), got "
                              f"dtype {x.dtype} and shape {tuple(x.shape)}")
        values, dvalues = _evaluate(build, params, len(pattern.indices))
        Q = sp.csc_array((values, pattern.indices, pattern.indptr), shape=(n, n))
        X = np.atleast_2d(_to_numpy(x))  # (m, n)
        QX = (Q @ X.T).T  # (m, n)
        ctx.save_for_backward(x)
        ctx.pattern, ctx.dvalues, ctx.QX, ctx.vector = pattern, dvalues, QX, x.ndim == 1
        out = np.einsum("mi,mi->m", X, QX)
        result = torch.as_tensor(out, dtype=torch.float64, device=x.device)
        return result[0] if ctx.vector else result

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor):
        (x,) = ctx.saved_tensors
        g = np.atleast_1d(_to_numpy(grad_output))  # (m,)
        grad_params = grad_x = None
        if ctx.needs_input_grad[0]:
            X = np.atleast_2d(_to_numpy(x))
            rows = ctx.pattern.indices
            cols = np.repeat(np.arange(len(ctx.pattern.indptr) - 1), np.diff(ctx.pattern.indptr))
            products = X[:, rows] * X[:, cols]  # (m, nnz): x_i x_j per stored entry
            grad_params = torch.as_tensor(ctx.dvalues @ (products.T @ g), dtype=torch.float64,
                                          device=grad_output.device)
        if ctx.needs_input_grad[1]:
            gx = 2.0 * ctx.QX * g[:, None]
            grad_x = torch.as_tensor(gx[0] if ctx.vector else gx, dtype=torch.float64,
                                     device=grad_output.device)
        return grad_params, grad_x, None, None


def sparse_logdet(params: torch.Tensor, chol: SparseCholesky, build: Build) -> torch.Tensor:
    """``log det Q(params)`` (see :class:`SparseLogdet`)."""
    return SparseLogdet.apply(params, chol, build)


def sparse_quadform(params: torch.Tensor, x: torch.Tensor, pattern, build: Build) -> torch.Tensor:
    """``x^T Q(params) x`` per row of ``x`` (see :class:`SparseQuadform`)."""
    return SparseQuadform.apply(params, x, pattern, build)


class SparsePrecisionFamily:
    """A family ``Q(params)`` on one pattern: one analysis, autograd log det and quadratic forms.

    The structured covariances of the neural engine hold one of these per
    term: the Gaussian prior log-density of ``b ~ N(0, Q^-1)`` is
    ``0.5 * logdet(params) - 0.5 * quadform(params, b) - n/2 log(2 pi)``.

    Args:
        Q: any member of the family (its pattern, explicit zeros included, is
            analysed; its values are not used).
        build: ``build(params) -> (values (nnz,), dvalues (k, nnz))``.
        method: CHOLMOD factor kind, as in :class:`SparseCholesky`.

    Raises:
        KernelError: ``Q``'s pattern is not square and symmetric.
    """

    def __init__(self, Q, build: Build, *, method: str = "auto") -> None:
        self.chol = SparseCholesky(Q, method=method, factorize=False)
        self.build = build

    def logdet(self, params: torch.Tensor) -> torch.Tensor:
        """``log det Q(params)``, differentiable in params."""
        return SparseLogdet.apply(params, self.chol, self.build)

    def quadform(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``x^T Q(params) x`` (per row for a batch), differentiable in params and x."""
        return SparseQuadform.apply(params, x, self.chol, self.build)

    def values(self, params: torch.Tensor) -> np.ndarray:
        """The stored entries of ``Q(params)`` on the pattern (no gradient)."""
        return _evaluate(self.build, params, self.chol.nnz)[0]
