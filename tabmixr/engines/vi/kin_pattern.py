"""The sparse pattern of a ``kin()`` term's posterior precision over the whole pedigree.

With ``u`` the ``q``-vectors of all ``N`` pedigree animals (ancestors
without records included; animal-major, entry ``i q + a``) and ``W_g`` the
data's ``q x q`` curvature of level ``g`` (an animal with records, at
pedigree position ``level_index[g]``), the optimal Gaussian posterior has
precision

    Lambda = A^-1 kron Sigma^-1 + sum_g E_g W_g E_g^T,

on the pattern of ``A^-1 kron 1 1^T`` (Henderson's ``A^-1`` is sparse; its
diagonal holds every level's block).  ``KinPattern`` fixes that pattern once
(in canonical CSC order, the order ``SparseCholesky`` analyses) and keeps,
for every stored entry, its ``A^-1`` entry and its ``(a, b)`` within the
block, so the values for a new ``Sigma`` and ``W`` are two gathers and a
``bincount``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class KinPattern:
    """``A^-1 kron 1_q 1_q^T`` in canonical CSC order, with the maps the posterior needs.

    Args:
        ainv: Sparse symmetric ``A^-1``, ``(N, N)``, both triangles stored.
        level_index: Pedigree position of each level, ``(n_levels,)``.
        q: Effects per animal.

    Attributes:
        n: Order of ``Lambda`` (``N q``).
        indptr, indices: The pattern (canonical CSC: sorted rows, no duplicates).
        rows, cols: Row and column of every stored entry.
        level_pos: Position of entry ``(l_g q + a, l_g q + b)`` in the pattern,
            ``(n_levels, q, q)``.
    """

    def __init__(self, ainv: sp.sparray, level_index: np.ndarray, q: int):
        A = sp.csc_array(ainv, dtype=np.float64, copy=True)
        A.sum_duplicates()
        A.sort_indices()
        N, q = A.shape[0], int(q)
        self.N, self.q, self.n = N, q, N * q
        a_cols = np.repeat(np.arange(N, dtype=np.int64), np.diff(A.indptr))
        a_rows = A.indices.astype(np.int64)
        k = np.arange(A.nnz, dtype=np.int64)[:, None, None]
        a = np.arange(q, dtype=np.int64)[None, :, None]
        b = np.arange(q, dtype=np.int64)[None, None, :]
        shape = (A.nnz, q, q)
        rows = np.broadcast_to(a_rows[:, None, None] * q + a, shape).ravel()
        cols = np.broadcast_to(a_cols[:, None, None] * q + b, shape).ravel()
        keys = cols * self.n + rows
        order = np.argsort(keys, kind="stable")
        self.keys, self.rows, self.cols = keys[order], rows[order], cols[order]
        self.ainv_values = A.data[np.broadcast_to(k, shape).ravel()[order]]
        self.block = (np.broadcast_to(a, shape) * q + np.broadcast_to(b, shape)).ravel()[order]
        self.indices = self.rows
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(self.cols, minlength=self.n))])
        level_index = np.asarray(level_index, dtype=np.int64)
        g_rows = level_index[:, None, None] * q + a[0][None]
        g_cols = level_index[:, None, None] * q + b[0][None]
        self.level_index = level_index
        self.level_pos = self.position(g_rows, g_cols)

    def position(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Positions of entries ``(rows, cols)`` in the pattern (they must be stored)."""
        want = np.asarray(cols, dtype=np.int64) * self.n + np.asarray(rows, dtype=np.int64)
        pos = np.searchsorted(self.keys, want)
        if not np.all(self.keys[np.minimum(pos, len(self.keys) - 1)] == want):
            raise ValueError("an entry lies outside the pattern of A^-1 kron 1 1^T")
        return pos

    def matrix(self, values: np.ndarray) -> sp.csc_array:
        """The pattern with ``values`` (aligned with ``indices``) as a CSC array."""
        return sp.csc_array((values, self.indices, self.indptr), shape=(self.n, self.n))

    def prior_values(self, sigma_inv: np.ndarray) -> np.ndarray:
        """Values of ``A^-1 kron Sigma^-1`` on the pattern."""
        return self.ainv_values * np.asarray(sigma_inv, dtype=np.float64).ravel()[self.block]

    def data_values(self, W: np.ndarray) -> np.ndarray:
        """Values of ``sum_g E_g W_g E_g^T`` on the pattern for ``W`` ``(n_levels, q, q)``."""
        return np.bincount(self.level_pos.ravel(), weights=np.asarray(W, dtype=np.float64).ravel(),
                           minlength=len(self.keys))

    def kl_moment(self, S_values: np.ndarray, mean: np.ndarray) -> np.ndarray:
        """``C_ab = sum_ij (A^-1)_ij (S + m m^T)_{(i,a),(j,b)}``, ``(q, q)``.

        With it, ``tr((A^-1 kron Sigma^-1)(S + m m^T)) = sum(Sigma^-1 * C)``,
        the KL's trace and quadratic terms at once.

        Args:
            S_values: The selected inverse of ``Lambda`` on the pattern.
            mean: Posterior mean of ``u``, ``(N, q)`` or ``(N q,)``.
        """
        m = np.asarray(mean, dtype=np.float64).reshape(-1)
        w = self.ainv_values * (S_values + m[self.rows] * m[self.cols])
        return np.bincount(self.block, weights=w, minlength=self.q * self.q).reshape(self.q, self.q)
