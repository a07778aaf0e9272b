"""Sparse linear algebra on top of the compiled kernels.

``tabmixr.linalg.sparse_cholesky``: the sparse Cholesky object (CHOLMOD
factor, solves, log-determinant, sampling, selected inversion).
``tabmixr.linalg.autograd``: torch autograd Functions for ``log det Q(params)``
and ``x^T Q(params) x`` (imports torch; load it explicitly).
"""

from tabmixr.linalg.sparse_cholesky import SparseCholesky

__all__ = ["SparseCholesky"]
