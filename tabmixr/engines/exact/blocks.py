"""Products with block-diagonal matrices on the fixed coupling ``G_R1``.

``G_R1`` (rest rows x block-1 columns) keeps one sparsity pattern for the
whole fit, so every theta-dependent product with it is a product with a
block-diagonal matrix of ``q0 x q0`` blocks, one per level of the first term.
Sparse inputs go through the C++ kernels; dense ones through numpy.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tabmixr import kernels


def block_diagonal(blocks: np.ndarray) -> sp.csr_matrix:
    """Sparse block-diagonal matrix from a stack of ``(l, q, q)`` blocks."""
    n_blocks, q, _ = blocks.shape
    if q == 1:
        return sp.diags(blocks[:, 0, 0]).tocsr()
    bsr = sp.bsr_matrix((blocks, np.arange(n_blocks), np.arange(n_blocks + 1)),
                        shape=(n_blocks * q, n_blocks * q))
    return bsr.tocsr()


def times_block_diagonal(M, blocks: np.ndarray):
    """``M @ blockdiag(blocks)`` for dense or sparse ``M`` (same kind back)."""
    if sp.issparse(M):
        return M @ block_diagonal(blocks)
    l, q, _ = blocks.shape
    return np.einsum("mlq,lqr->mlr", M.reshape(M.shape[0], l, q), blocks).reshape(M.shape[0], l * q)


def weighted_gram(G, blocks: np.ndarray) -> np.ndarray:
    """Dense ``G blockdiag(blocks) G^T`` (``blocks`` symmetric)."""
    if sp.issparse(G):
        return kernels.weighted_gram(G, blocks)
    return times_block_diagonal(G, blocks) @ G.T


def blockdiag_of_quadform(G, S: np.ndarray, q: int) -> np.ndarray:
    """Diagonal ``q x q`` blocks of ``G^T S G`` as an ``(l, q, q)`` stack."""
    if sp.issparse(G):
        return kernels.blockdiag_quadform(G, S, G, q)
    n = G.shape[1]
    SG = S @ G
    return np.einsum("mli,mlj->lij", G.reshape(-1, n // q, q), SG.reshape(-1, n // q, q))
