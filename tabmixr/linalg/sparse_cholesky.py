"""Sparse Cholesky factor of a symmetric positive definite matrix (Python facade).

``SparseCholesky(Q)`` analyses the pattern of ``Q`` once (fill-reducing
ordering by CHOLMOD) and factorizes it; ``factorize`` recomputes the numeric
factor for new values on the same pattern, as lme4 does per theta.  With
``perm`` the fill-reducing permutation,

    Q[perm, perm] = L L^T.

What CHOLMOD does not offer is computed in ``src/cholesky``: the selected
inverse (Takahashi recursion: Q^-1 on the pattern of L + L^T, or only on
Q's), diag(Q^-1) and traces tr(Q^-1 dQ) for log-det gradients.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np
import scipy.sparse as sp

from tabmixr import _kernels
from tabmixr.errors import KernelError, NotPositiveDefiniteError

__all__ = ["SparseCholesky", "canonical_csc"]

_METHODS = ("auto", "simplicial", "supernodal")
_PATTERNS = ("factor", "Q")


@contextlib.contextmanager
def _kernel_errors() -> Iterator[None]:
    """Turn the compiled module's exceptions into tabmixr errors."""
    try:
        yield
    except _kernels.NotPositiveDefiniteError as exc:
        raise NotPositiveDefiniteError(str(exc), column=int(exc.column)) from None
    except (ValueError, RuntimeError) as exc:
        raise KernelError(str(exc)) from None


def canonical_csc(name: str, Q) -> sp.csc_array:
    """``Q`` as a CSC array with sorted, unique row indices, int64 indices, float64 values.

    Args:
        name: Name of the argument, used in error messages.
        Q: scipy sparse matrix/array (any format) or dense 2-D array.

    Returns:
        A new ``scipy.sparse.csc_array`` (explicit zeros are kept).

    Raises:
        KernelError: ``Q`` is not 2-dimensional.
    """
    if not sp.issparse(Q):
        Q = np.asarray(Q, dtype=np.float64)
        if Q.ndim != 2:
            raise KernelError(f"{name} must be a 2-dimensional matrix, got {Q.ndim} dimensions")
    csc = sp.csc_array(Q, dtype=np.float64, copy=True)
    csc.sum_duplicates()
    csc.sort_indices()
    csc.indptr = csc.indptr.astype(np.int64)
    csc.indices = csc.indices.astype(np.int64)
    return csc


class SparseCholesky:
    """Sparse Cholesky factor ``Q[perm, perm] = L L^T`` with a reusable symbolic analysis.

    ``Q`` is stored with both triangles (scipy's convention for a symmetric
    matrix); its pattern must be symmetric.  Explicit zeros count as pattern,
    so a family ``Q(params)`` whose entries may vanish keeps one pattern.

    Args:
        Q: symmetric matrix (scipy sparse or dense) whose pattern is analysed.
        method: ``"auto"`` (CHOLMOD picks simplicial or supernodal by flop
            count), ``"simplicial"`` or ``"supernodal"``.
        factorize: also compute the numeric factor of ``Q``'s values (default).

    Raises:
        KernelError: ``Q`` is not square, its pattern is not symmetric, a value
            is not finite, or ``method`` is unknown.
        NotPositiveDefiniteError: ``Q`` is not positive definite (``.column``
            names the column of ``Q`` at which the factorization broke down).

    Example:
        >>> chol = SparseCholesky(Q)
        >>> x = chol.solve(b); ld = chol.logdet(); v = chol.diag_inverse()
        >>> chol.factorize(new_values)          # same pattern, new numbers
    """

    def __init__(self, Q, *, method: str = "auto", factorize: bool = True) -> None:
        if method not in _METHODS:
            raise KernelError(f"method must be one of {_METHODS}, got {method!r}")
        csc = canonical_csc("Q", Q)
        if csc.shape[0] != csc.shape[1]:
            raise KernelError(f"Q must be square, got shape {csc.shape}")
        self.shape = csc.shape
        self.indptr = csc.indptr
        self.indices = csc.indices
        self.version = 0  # bumped by every successful factorize (autograd checks it)
        with _kernel_errors():
            self._chol = _kernels.SparseCholesky(csc.shape[0], csc.indptr, csc.indices, method)
        if factorize:
            self.factorize(csc.data)

    # -- factorization -----------------------------------------------------------------
    def factorize(self, Q) -> "SparseCholesky":
        """Numeric factorization for new values on the analysed pattern.

        Args:
            Q: either a 1-D array of ``nnz`` values aligned with ``indptr`` /
                ``indices``, or a sparse/dense matrix with the same pattern.

        Returns:
            ``self`` (for chaining).

        Raises:
            KernelError: pattern mismatch, wrong length, non-finite or
                non-symmetric values.
            NotPositiveDefiniteError: the new ``Q`` is not positive definite.
        """
        if sp.issparse(Q) or np.ndim(Q) == 2:
            csc = canonical_csc("Q", Q)
            if csc.shape != self.shape:
                raise KernelError(f"pattern mismatch: Q has shape {csc.shape}, the analysed "
                                  f"pattern {self.shape}")
            with _kernel_errors():
                self._chol.refactorize(csc.indptr, csc.indices, csc.data)
            self.version += 1
            return self
        data = np.ascontiguousarray(Q, dtype=np.float64)
        with _kernel_errors():
            self._chol.factorize(data)
        self.version += 1
        return self

    def values_on_pattern(self, M) -> np.ndarray:
        """The entries of ``M`` at the analysed pattern, aligned with ``indptr``/``indices``.

        Use it to write ``build`` callbacks: ``values_on_pattern(A)`` gives the
        ``nnz`` values of ``A`` that ``factorize`` expects (zeros where ``A``
        has no entry).

        Raises:
            KernelError: ``M`` has another shape or a nonzero outside the pattern.
        """
        csc = canonical_csc("M", M)
        if csc.shape != self.shape:
            raise KernelError(f"M has shape {csc.shape} but the pattern is {self.shape}")
        n = self.shape[0]
        pattern_cols = np.repeat(np.arange(n, dtype=np.int64), np.diff(self.indptr))
        pattern_keys = pattern_cols * n + self.indices  # sorted: canonical CSC order
        m_cols = np.repeat(np.arange(n, dtype=np.int64), np.diff(csc.indptr))
        m_keys = m_cols * n + csc.indices
        where = np.searchsorted(pattern_keys, m_keys)
        found = (where < len(pattern_keys)) & \
            (pattern_keys[np.minimum(where, len(pattern_keys) - 1)] == m_keys)
        outside = ~found & (csc.data != 0)
        if outside.any():
            k = int(np.flatnonzero(outside)[0])
            raise KernelError(f"M has a nonzero at ({csc.indices[k]}, {m_cols[k]}) outside the "
                              "analysed pattern; add it to the pattern (an explicit zero) first")
        values = np.zeros(len(self.indices))
        values[where[found]] = csc.data[found]
        return values

    # -- solves and draws --------------------------------------------------------------
    def solve(self, b: np.ndarray) -> np.ndarray:
        """``Q^-1 b`` for ``b`` of shape ``(n,)`` or ``(n, k)``.

        Raises:
            KernelError: wrong number of rows, non-finite ``b``, or no factor.
        """
        with _kernel_errors():
            return self._chol.solve(np.asarray(b, dtype=np.float64))

    def sample(self, z: np.ndarray) -> np.ndarray:
        """A draw from ``N(0, Q^-1)`` per standard normal column: ``x = P^T L^-T z``.

        ``z`` is passed in (shape ``(n,)`` or ``(n, k)``) so that draws are
        reproducible with the caller's generator.

        Raises:
            KernelError: wrong number of rows, non-finite ``z``, or no factor.
        """
        with _kernel_errors():
            return self._chol.sample(np.asarray(z, dtype=np.float64))

    def sample_mean(self, b: np.ndarray, z: np.ndarray) -> np.ndarray:
        """A draw from ``N(Q^-1 b, Q^-1)``: ``Q^-1 b + P^T L^-T z`` (the canonical form).

        Raises:
            KernelError: ``b`` and ``z`` differ in shape or hold non-finite values.
        """
        with _kernel_errors():
            return self._chol.sample_mean(np.asarray(b, dtype=np.float64),
                                          np.asarray(z, dtype=np.float64))

    def logdet(self) -> float:
        """``log det Q = 2 sum_k log L[k, k]``."""
        with _kernel_errors():
            return float(self._chol.logdet())

    # -- selected inversion ------------------------------------------------------------
    def selected_inverse(self, pattern: str = "factor") -> sp.csc_array:
        """``Q^-1`` on a sparse pattern (original ordering, both triangles, sorted rows).

        Entries of ``Q^-1`` outside the pattern are not computed (they are
        absent from the result, not zero).

        Args:
            pattern: ``"factor"`` (default): the pattern of ``L + L^T`` mapped
                back to the original ordering, which contains Q's own and
                holds ``2 nnz(L) - n`` entries.  ``"Q"``: Q's own analysed
                pattern (``indptr``/``indices``), all that marginal variances
                and ``tr(Q^-1 dQ)`` need, at a fraction of the memory.

        Returns:
            symmetric ``scipy.sparse.csc_array`` (int32 indices when they fit).
            For ``"factor"``, the memory of large ``indices``/``data`` arrays is
            kept by this factor once they are dropped, and reused by the next
            call (writing into fresh memory costs more than the inversion on
            some machines); it is freed with the factor.

        Raises:
            KernelError: no factor, or an unknown ``pattern``.
        """
        if pattern not in _PATTERNS:
            raise KernelError(f"pattern must be one of {_PATTERNS}, got {pattern!r}")
        with _kernel_errors():
            if pattern == "Q":
                data = self._chol.selected_inverse_on_pattern()
                S = sp.csc_array((data, self.indices, self.indptr), shape=self.shape)
                if np.shares_memory(S.indices, self.indices):  # never alias the pattern
                    S.indices, S.indptr = S.indices.copy(), S.indptr.copy()
                return S
            indptr, indices, data = self._chol.selected_inverse()
        S = sp.csc_array((data, indices, indptr), shape=self.shape)
        S.has_sorted_indices = True  # the kernel writes sorted rows
        return S

    def diag_inverse(self) -> np.ndarray:
        """``diag(Q^-1)``: the marginal variances of ``N(., Q^-1)``."""
        with _kernel_errors():
            return self._chol.diag_inverse()

    def trace_inv_product(self, dQ) -> float | np.ndarray:
        """``tr(Q^-1 dQ)``, e.g. the derivative of ``log det Q`` along ``dQ``.

        Args:
            dQ: a scipy sparse symmetric matrix inside the pattern of
                ``L + L^T`` (both triangles stored), or values on Q's own
                pattern: a 1-D array of ``nnz`` values, or a 2-D array
                ``(k, nnz)`` holding ``k`` derivatives at once.

        Returns:
            a float, or an array of ``k`` traces for 2-D values.

        Raises:
            KernelError: ``dQ`` has a nonzero outside the factor's pattern, the
                wrong shape, or non-finite values.
        """
        with _kernel_errors():
            if sp.issparse(dQ):
                csc = canonical_csc("dQ", dQ)
                if csc.shape != self.shape:
                    raise KernelError(f"dQ has shape {csc.shape} but Q is {self.shape}")
                return float(self._chol.trace_inv_product(csc.indptr, csc.indices, csc.data))
            values = np.asarray(dQ, dtype=np.float64)
            if values.ndim == 1:
                return float(self._chol.trace_inv_products(values[None, :])[0])
            return self._chol.trace_inv_products(np.ascontiguousarray(values))

    # -- the factor itself -------------------------------------------------------------
    def L(self) -> sp.csc_array:
        """The lower factor ``L`` (permuted ordering, explicit zeros of supernodes kept)."""
        with _kernel_errors():
            indptr, indices, data = self._chol.lower_factor()
        return sp.csc_array((data, indices, indptr), shape=self.shape)

    @property
    def perm(self) -> np.ndarray:
        """Fill-reducing permutation: ``Q[perm, perm] = L L^T``."""
        return self._chol.perm

    @property
    def n(self) -> int:
        """Order of ``Q``."""
        return int(self._chol.n)

    @property
    def nnz(self) -> int:
        """Stored entries of ``Q`` (both triangles)."""
        return int(self._chol.nnz)

    @property
    def factor_nnz(self) -> int:
        """Stored entries of ``L`` (the fill after ordering)."""
        return int(self._chol.factor_nnz)

    @property
    def is_supernodal(self) -> bool:
        """Whether CHOLMOD chose (or was told to use) a supernodal factor."""
        return bool(self._chol.is_supernodal)

    @property
    def is_factorized(self) -> bool:
        """Whether the last ``factorize`` succeeded."""
        return bool(self._chol.is_factorized)

    def __repr__(self) -> str:
        kind = "supernodal" if self.is_supernodal else "simplicial"
        return (f"SparseCholesky(n={self.n}, nnz(Q)={self.nnz}, nnz(L)={self.factor_nnz}, "
                f"{kind}, factorized={self.is_factorized})")
