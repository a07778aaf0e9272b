"""Python facade of the compiled kernels in :mod:`tabmixr._kernels`.

The facade takes scipy/numpy objects, converts them to the exact array types
the C++ side expects (CSC with int64 indices, C-contiguous float64) and checks
shapes with messages that name the argument at fault.  No logic lives in C++
beyond the numerical loop.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tabmixr import _kernels

__all__ = ["blockdiag_quadform", "single_term_objective", "weighted_gram"]


def _as_csc_arrays(name: str, A) -> tuple[tuple[int, int], np.ndarray, np.ndarray, np.ndarray]:
    """Return (shape, indptr, indices, data) of A in CSC form, int64/float64, contiguous."""
    if not sp.issparse(A):
        A = np.asarray(A, dtype=np.float64)
        if A.ndim != 2:
            raise ValueError(f"{name} must be a 2-dimensional matrix, got {A.ndim} dimensions")
    csc = sp.csc_array(A)
    indptr = np.ascontiguousarray(csc.indptr, dtype=np.int64)
    indices = np.ascontiguousarray(csc.indices, dtype=np.int64)
    data = np.ascontiguousarray(csc.data, dtype=np.float64)
    return csc.shape, indptr, indices, data


def blockdiag_quadform(K, S: np.ndarray, W, q: int) -> np.ndarray:
    """Diagonal q x q blocks of K^T S W without forming S W.

    With n columns in K and W, block l (0 <= l < n / q) is

        out[l, i, j] = K[:, l*q + i]^T  S  W[:, l*q + j],   0 <= i, j < q,

    computed from the stored entries of the two columns only (cost
    nnz(K col) * nnz(W col) per entry).  This is the block-diagonal part of
    Z^T V^{-1} Z-type products for a grouping factor with q random-effect
    columns per level.

    Args:
        K: sparse (any scipy format) or dense matrix, shape (m, n).
        S: dense matrix, shape (m, m).
        W: sparse or dense matrix, shape (m, n).
        q: block size; n must be a multiple of q.

    Returns:
        float64 array of shape (n // q, q, q).

    Raises:
        ValueError: shapes disagree, n is not a multiple of q, or an input
            holds NaN/Inf.
    """
    q = int(q)
    if q < 1:
        raise ValueError(f"block size q must be >= 1, got {q}")
    K_shape, K_indptr, K_indices, K_data = _as_csc_arrays("K", K)
    W_shape, W_indptr, W_indices, W_data = _as_csc_arrays("W", W)
    if K_shape != W_shape:
        raise ValueError(f"K and W must have the same shape, got {K_shape} and {W_shape}")
    m, n = K_shape
    S = np.ascontiguousarray(S, dtype=np.float64)
    if S.shape != (m, m):
        raise ValueError(f"S must have shape ({m}, {m}) to match K's {m} rows, got {S.shape}")
    if n % q != 0:
        raise ValueError(f"the number of columns of K and W ({n}) is not a multiple of q ({q})")
    return _kernels.blockdiag_quadform(
        K_indptr, K_indices, K_data, S, W_indptr, W_indices, W_data, q
    )


def weighted_gram(G, C: np.ndarray) -> np.ndarray:
    """Dense ``G blockdiag(C) G^T`` for a sparse ``G`` and symmetric ``q x q`` blocks ``C``.

    With ``C`` of shape ``(n / q, q, q)`` the result is
    ``sum_l G[:, l*q:(l+1)*q] C[l] G[:, l*q:(l+1)*q]^T``, computed from the
    stored entries only.  The exact engine's ``L21 L21^T`` is of this form.

    Args:
        G: sparse (any scipy format) or dense matrix, shape ``(m, n)``.
        C: array of shape ``(n / q, q, q)``.

    Returns:
        float64 array of shape ``(m, m)``.

    Raises:
        ValueError: shapes disagree, a block is not symmetric or an input
            holds NaN/Inf.
    """
    shape, indptr, indices, data = _as_csc_arrays("G", G)
    C = np.ascontiguousarray(C, dtype=np.float64)
    if C.ndim != 3 or C.shape[1] != C.shape[2]:
        raise ValueError(f"C must have shape (n / q, q, q), got {C.shape}")
    if C.shape[0] * C.shape[1] != shape[1]:
        raise ValueError(f"C holds {C.shape[0]} blocks of size {C.shape[1]} but G has "
                         f"{shape[1]} columns")
    return _kernels.weighted_gram(indptr, indices, data, shape[0], C)


def single_term_objective(theta: np.ndarray, G11: np.ndarray, GR1: np.ndarray, GRR: np.ndarray,
                          n: int, ldW: float, reml: bool) -> tuple[float, np.ndarray, float]:
    """Profiled REML criterion / ML deviance and gradient for one random-effect term.

    The exact engine's objective (``tabmixr.engines.exact``) for a model whose
    only random-effect term has ``q`` columns and ``l`` levels, computed from
    theta-independent cross-products in C++.

    Args:
        theta: lme4's ``q (q + 1) / 2`` relative covariance parameters.
        G11: ``(l, q, q)`` diagonal blocks of ``Z^T W Z``.
        GR1: ``(p + 1, l q)`` cross-products ``[X y]^T W Z``.
        GRR: ``(p + 1, p + 1)`` cross-products ``[X y]^T W [X y]``.
        n: Number of observations.
        ldW: ``sum(log(weights))``.
        reml: REML criterion (True) or ML deviance (False).

    Returns:
        ``(objective, gradient, pwrss)``; the objective is ``inf`` when the
        system is not positive definite.

    Raises:
        ValueError: inconsistent shapes or non-finite theta.
    """
    return _kernels.single_term_objective(np.ascontiguousarray(theta, dtype=np.float64),
                                          np.ascontiguousarray(G11, dtype=np.float64),
                                          np.ascontiguousarray(GR1, dtype=np.float64),
                                          np.ascontiguousarray(GRR, dtype=np.float64),
                                          int(n), float(ldW), bool(reml))


# Sparse Cholesky (src/cholesky): the facade class lives in tabmixr.linalg.
from tabmixr.linalg.sparse_cholesky import SparseCholesky  # noqa: E402

__all__ += ["SparseCholesky"]

# SPDE grid precision (src/spde) and pedigree kinship (src/kinship): the facades
# live in tabmixr.spde and tabmixr.kinship.
from tabmixr.kinship import Pedigree, vanraden_grm  # noqa: E402
from tabmixr.spde import SpdeGrid  # noqa: E402

__all__ += ["Pedigree", "SpdeGrid", "vanraden_grm"]
