"""The precision of a relationship matrix restricted to a subset of animals (the observed levels).

A prior over the ``n`` animals with records is the marginal of the pedigree
prior over all ``N`` animals, ``A_oo = A[o, o]``.  Its precision is the Schur
complement of the unobserved block ``u`` in ``Q = A^-1`` (sparse):

    A_oo^-1 = Q_oo - Q_ou Q_uu^-1 Q_uo,
    log det A_oo = log det A + log det Q_uu,

so products with ``A_oo^-1`` cost one sparse solve with ``Q_uu`` (factored
once) and neither ``A`` nor ``A_oo`` is formed.  For a given dense matrix the
Cholesky factor ``K_oo = C C^T`` does the same work.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from tabmixr.linalg import SparseCholesky

__all__ = ["ObservedPrecision"]

#: Right-hand sides per sparse solve when computing the diagonal.
DIAGONAL_CHUNK = 256


class ObservedPrecision:
    """``A_oo^-1`` as an operator, with ``log det A_oo`` and ``diag(A_oo^-1)``.

    Build with ``from_precision`` (sparse ``A^-1`` over all animals and the
    positions of the observed ones) or ``from_factor`` (dense Cholesky factor
    of ``A_oo``).

    Attributes:
        n: Number of observed animals.
        logdet_covariance: ``log det A_oo``.
    """

    def __init__(self, n: int, logdet_covariance: float):
        self.n = int(n)
        self.logdet_covariance = float(logdet_covariance)
        self._Q_oo = self._Q_uo = self._chol_uu = self._factor = None
        self._diagonal: np.ndarray | None = None

    @classmethod
    def from_precision(cls, Q: sp.sparray, logdet_A: float, observed: np.ndarray) -> "ObservedPrecision":
        """From ``Q = A^-1`` over all animals.

        Args:
            Q: Sparse symmetric ``A^-1``, ``(N, N)``.
            logdet_A: ``log det A`` over all ``N`` animals.
            observed: Distinct positions of the observed animals, ``(n,)``.

        Returns:
            The operator over ``observed`` (in that order).
        """
        Q = sp.csc_array(Q)
        observed = np.asarray(observed, dtype=np.int64)
        rest = np.setdiff1d(np.arange(Q.shape[0]), observed)
        Q_uu = Q[rest][:, rest]
        chol = SparseCholesky(Q_uu) if len(rest) else None
        out = cls(len(observed), logdet_A + (chol.logdet() if chol is not None else 0.0))
        out._Q_oo = sp.csr_array(Q[observed][:, observed])
        out._Q_uo = sp.csr_array(Q[rest][:, observed])
        out._chol_uu = chol
        return out

    @classmethod
    def from_factor(cls, factor: np.ndarray) -> "ObservedPrecision":
        """From the lower Cholesky factor ``C`` of ``A_oo = C C^T``."""
        out = cls(factor.shape[0], 2.0 * np.sum(np.log(np.diag(factor))))
        out._factor = np.asarray(factor, dtype=float)
        return out

    def times(self, x: np.ndarray) -> np.ndarray:
        """``A_oo^-1 x`` for ``x`` of shape ``(n,)`` or ``(n, k)``."""
        x = np.asarray(x, dtype=float)
        if self._factor is not None:
            return la.cho_solve((self._factor, True), x, check_finite=False)
        out = self._Q_oo @ x
        if self._chol_uu is not None:
            out = out - self._Q_uo.T @ self._chol_uu.solve(self._Q_uo @ x)
        return out

    def diagonal(self) -> np.ndarray:
        """``diag(A_oo^-1)`` (computed once, in chunks of ``DIAGONAL_CHUNK`` solves)."""
        if self._diagonal is None:
            if self._factor is not None:
                inv = la.solve_triangular(self._factor, np.eye(self.n), lower=True, check_finite=False)
                self._diagonal = np.sum(inv * inv, axis=0)
            else:
                diag = self._Q_oo.diagonal().astype(float)
                if self._chol_uu is not None:
                    for start in range(0, self.n, DIAGONAL_CHUNK):
                        cols = self._Q_uo[:, start:start + DIAGONAL_CHUNK].toarray()
                        diag[start:start + cols.shape[1]] -= np.sum(cols * self._chol_uu.solve(cols),
                                                                    axis=0)
                self._diagonal = diag
        return self._diagonal
