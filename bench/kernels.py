"""Benchmark of the compiled kernels against the numpy/scipy route (make bench).

blockdiag_quadform(K, S, W, q) versus forming S @ W densely and taking the
diagonal blocks of K^T (S W).  Prints one line per size.
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


if __name__ == "__main__":
    main()
