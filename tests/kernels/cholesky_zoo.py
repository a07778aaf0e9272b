"""Small symmetric positive definite matrices for the sparse Cholesky tests.

Each entry of ZOO is (name, builder); builder(rng) returns a scipy CSC matrix
(both triangles stored).  Sizes run from 1 to 300.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def random_pattern(rng, n: int, density: float) -> sp.csc_array:
    """A A^T + n I for a random sparse A: random symmetric pattern, well conditioned."""
    A = sp.random_array((n, n), density=density, rng=rng)
    return sp.csc_array(A @ A.T + n * density * sp.eye_array(n) + 0.5 * sp.eye_array(n))


def random_weak(rng, n: int, density: float) -> sp.csc_array:
    """Random symmetric pattern, diagonally dominant with signed off-diagonals."""
    A = sp.random_array((n, n), density=density, rng=rng, data_sampler=lambda size:
                        rng.uniform(-1, 1, size))
    S = A + A.T
    d = np.abs(S).sum(axis=1) + rng.uniform(0.1, 1.0, n)
    return sp.csc_array(S + sp.diags_array(d))


def banded(rng, n: int, bandwidth: int) -> sp.csc_array:
    """Banded SPD: random symmetric band plus a dominant diagonal."""
    offsets = list(range(1, bandwidth + 1))
    bands = [rng.uniform(-1, 1, n - k) for k in offsets]
    S = sp.diags_array(bands, offsets=offsets, shape=(n, n))
    S = S + S.T
    return sp.csc_array(S + sp.diags_array(np.abs(S).sum(axis=1) + 1.0))


def laplacian_2d(rng, m: int, shift: float = 0.3) -> sp.csc_array:
    """5-point Laplacian on an m x m grid plus shift * I (an SPDE-like precision)."""
    T = sp.diags_array([-np.ones(m - 1), 2 * np.ones(m), -np.ones(m - 1)], offsets=[-1, 0, 1])
    I = sp.eye_array(m)
    return sp.csc_array(sp.kron(T, I) + sp.kron(I, T) + shift * sp.eye_array(m * m))


def block_diagonal(rng, n_blocks: int, size: int) -> sp.csc_array:
    """Dense SPD blocks on the diagonal."""
    blocks = []
    for _ in range(n_blocks):
        G = rng.standard_normal((size, size))
        blocks.append(G @ G.T + size * np.eye(size))
    return sp.csc_array(sp.block_diag(blocks))


def arrowhead(rng, n: int) -> sp.csc_array:
    """Diagonal plus a dense last row/column (worst case without reordering)."""
    M = sp.lil_array((n, n))
    last = rng.uniform(-1, 1, n - 1)
    M[n - 1, : n - 1] = last
    M[: n - 1, n - 1] = last
    M.setdiag(np.r_[rng.uniform(1, 2, n - 1), np.sum(np.abs(last)) / 1.0 + n])
    return sp.csc_array(M)


ZOO = [
    ("scalar", lambda rng: sp.csc_array(np.array([[2.5]]))),
    ("random_n2", lambda rng: random_pattern(rng, 2, 0.9)),
    ("random_n10", lambda rng: random_pattern(rng, 10, 0.2)),
    ("random_n60", lambda rng: random_weak(rng, 60, 0.05)),
    ("random_n300", lambda rng: random_weak(rng, 300, 0.01)),
    ("dense_n40", lambda rng: random_pattern(rng, 40, 1.0)),
    ("banded_n100", lambda rng: banded(rng, 100, 3)),
    ("laplacian_12x12", lambda rng: laplacian_2d(rng, 12)),
    ("laplacian_17x17", lambda rng: laplacian_2d(rng, 17, shift=1e-2)),
    ("block_diagonal", lambda rng: block_diagonal(rng, 7, 5)),
    ("arrowhead_n50", lambda rng: arrowhead(rng, 50)),
]

METHODS = ["simplicial", "supernodal", "auto"]


def zoo_ids() -> list[str]:
    return [name for name, _ in ZOO]
