"""Benchmark of the compiled kernels against their anchors (make bench).

1. blockdiag_quadform(K, S, W, q) versus forming S @ W densely and taking the
   diagonal blocks of K^T (S W).  Prints one line per size.
2. The sparse Cholesky object (tabmixr.kernels.SparseCholesky) versus CHOLMOD
   called through scikit-sparse on SPDE-like grid precisions and a
   kinship-like A^-1: analyze, factorize, solve, logdet, selected inversion
   (see cholesky_section below).
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from tabmixr.kernels import blockdiag_quadform


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def scipy_route(K, S, W, q):
    SW = S @ W  # dense m x n
    n_blocks = K.shape[1] // q
    out = np.empty((n_blocks, q, q))
    Kt = K.T.tocsr()
    for l in range(n_blocks):
        out[l] = Kt[l * q:(l + 1) * q] @ SW[:, l * q:(l + 1) * q]
    return out


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'m':>6} {'n':>7} {'q':>2} {'nnz/col':>7} {'kernel s':>9} {'scipy s':>9} {'max |diff|':>10}")
    for m, n_blocks, q, per_col in [(500, 2000, 2, 10), (2000, 5000, 3, 20), (4000, 20000, 1, 30)]:
        n = n_blocks * q
        density = per_col / m
        K = sp.random(m, n, density=density, format="csc", random_state=rng)
        W = sp.random(m, n, density=density, format="csc", random_state=rng)
        S = rng.standard_normal((m, m))
        kernel_s = best_of(lambda: blockdiag_quadform(K, S, W, q))
        scipy_s = best_of(lambda: scipy_route(K, S, W, q), repeats=1)
        diff = np.max(np.abs(blockdiag_quadform(K, S, W, q) - scipy_route(K, S, W, q)))
        print(f"{m:>6} {n:>7} {q:>2} {per_col:>7} {kernel_s:>9.4f} {scipy_s:>9.4f} {diff:>10.2e}")


# -- 2. sparse Cholesky vs CHOLMOD (scikit-sparse) -------------------------------------

def grid_precision(m: int, stencil: int, kappa: float = 0.5) -> sp.csc_array:
    """SPDE-like precision on an m x m grid (unit spacing, lumped mass C = I).

    stencil 5: alpha = 1, Q = kappa^2 I + G (G the 5-point Laplacian);
    stencil 13: alpha = 2, Q = (kappa^2 I + G)^2 = kappa^4 I + 2 kappa^2 G + G G.
    """
    T = sp.diags_array([-np.ones(m - 1), 2 * np.ones(m), -np.ones(m - 1)], offsets=[-1, 0, 1])
    I = sp.eye_array(m)
    K = sp.kron(T, I) + sp.kron(I, T) + kappa**2 * sp.eye_array(m * m)
    Q = K if stencil == 5 else K @ K
    Q = sp.csc_array(Q)
    Q.sort_indices()
    return Q


def pedigree_ainv(n: int, n_founders: int, rng) -> sp.csc_array:
    """Henderson's A^-1 = (I - P)^T D^-1 (I - P) for a random pedigree (no inbreeding terms).

    Animals are in birth order, in generations of n_founders animals; each
    non-founder gets a dam from the previous generation and a sire among that
    generation's first 2% (few sires, many offspring: livestock-like); 10% miss the dam.
    """
    g = n_founders
    ids = np.arange(g, n)
    lo = (ids // g - 1) * g
    sire = lo + rng.integers(0, max(1, g // 50), len(ids))
    dam = rng.integers(lo, lo + g)
    dam[rng.random(len(ids)) < 0.1] = -1
    known = 1 + (dam >= 0)
    D = np.ones(n)
    D[ids] = np.where(known == 2, 0.5, 0.75)
    rows = np.r_[ids, ids[dam >= 0]]
    cols = np.r_[sire, dam[dam >= 0]]
    P = sp.csc_array((np.full(len(rows), 0.5), (rows, cols)), shape=(n, n))
    T = sp.eye_array(n) - P
    Q = sp.csc_array(T.T @ sp.diags_array(1.0 / D) @ T)
    Q.sum_duplicates()
    Q.sort_indices()
    return Q


def _time(fn, repeats: int) -> float:
    return best_of(fn, repeats)


def cholesky_rows(name: str, Q: sp.csc_array, cholmod, rng) -> list[tuple]:
    """Timings (operation, tabmixr s, CHOLMOD s or None, note) for one matrix."""
    from tabmixr.kernels import SparseCholesky

    n = Q.shape[0]
    b = rng.standard_normal(n)
    rows = []
    t_an = _time(lambda: SparseCholesky(Q, factorize=False), 3)
    chol = SparseCholesky(Q, factorize=False)
    t_fa = _time(lambda: chol.factorize(Q.data), 3)
    t_so = _time(lambda: chol.solve(b), 5)
    t_ld = _time(chol.logdet, 5)
    # The selected inverse is cached per factorization: time a fresh one each round.
    # Its output pattern (like the symbolic analysis) is built once, by this first call.
    chol.selected_inverse()
    t_si = _time(lambda: (chol.factorize(Q.data), chol.selected_inverse()), 2) - t_fa
    t_di = _time(lambda: (chol.factorize(Q.data), chol.diag_inverse()), 2) - t_fa
    c_an = c_fa = c_so = c_ld = c_di = None
    Q32 = sp.csc_matrix(Q)  # scikit-sparse wants csc_matrix with int32 indices
    Q32.indices = Q32.indices.astype(np.int32)
    Q32.indptr = Q32.indptr.astype(np.int32)
    note = ""
    if cholmod is not None:
        c_an = _time(lambda: cholmod.analyze(Q32), 3)
        factor = cholmod.analyze(Q32)
        c_fa = _time(lambda: factor.cholesky_inplace(Q32), 3)
        c_so = _time(lambda: factor(b), 5)
        c_ld = _time(factor.logdet, 5)
        # CHOLMOD has no selected inversion: diag(Q^-1) by solves with unit vectors,
        # timed on 256 columns and scaled to n (marked "est.").
        cols = min(n, 256)
        E = np.zeros((n, cols))
        E[np.arange(cols), np.arange(cols)] = 1.0
        c_di = _time(lambda: factor(E), 1) * n / cols
        note = "CHOLMOD diag(Q^-1) est. from 256 unit solves"
        diff = abs(chol.logdet() - factor.logdet())
        assert diff < 1e-8 * abs(factor.logdet()) + 1e-8, diff
    rows += [("analyze", t_an, c_an), ("factorize", t_fa, c_fa), ("solve", t_so, c_so),
             ("logdet", t_ld, c_ld), ("selected_inverse", t_si, None),
             ("diag_inverse", t_di, c_di)]
    print(f"-- {name}: n = {n}, nnz(Q) = {Q.nnz}, nnz(L) = {chol.factor_nnz}, "
          f"{'supernodal' if chol.is_supernodal else 'simplicial'}")
    print(f"   {'operation':<17} {'tabmixr s':>10} {'CHOLMOD s':>10} {'ratio':>7}")
    for op, ours, theirs in rows:
        other = f"{theirs:>10.4f}" if theirs is not None else f"{'-':>10}"
        ratio = f"{ours / theirs:>7.2f}" if theirs else f"{'-':>7}"
        print(f"   {op:<17} {ours:>10.4f} {other} {ratio}")
    if note:
        print(f"   ({note}; ratio = tabmixr / CHOLMOD, < 1 is faster)")
    return rows


def cholesky_section(sizes=(100, 200, 300), pedigree_n: int = 200_000) -> None:
    """Print the sparse Cholesky table: tabmixr vs CHOLMOD (scikit-sparse)."""
    try:
        from sksparse import cholmod
    except ImportError:  # bench-only dependency: pip install "scikit-sparse<0.4.15"
        cholmod = None
        print("scikit-sparse not installed: CHOLMOD columns left empty")
    rng = np.random.default_rng(1)
    print("\nSparse Cholesky: tabmixr.kernels.SparseCholesky vs CHOLMOD (scikit-sparse)")
    for m in sizes:
        for stencil in (5, 13):
            cholesky_rows(f"SPDE grid {m}x{m}, {stencil}-point", grid_precision(m, stencil),
                          cholmod, rng)
    cholesky_rows(f"pedigree A^-1, {pedigree_n} animals",
                  pedigree_ainv(pedigree_n, pedigree_n // 20, rng), cholmod, rng)


if __name__ == "__main__":
    main()
    cholesky_section()
