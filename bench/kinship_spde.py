"""Benchmark of the SPDE and kinship kernels against the numpy/scipy route (make bench).

    python bench/kinship_spde.py [--quick]

* SPDE: Q(kappa, tau, alpha=2) and its derivatives on an n x n grid by the C++
  kernel vs a scipy.sparse construction (kron of 1-D Laplacians, K @ K); the
  same on a triangle mesh vs vectorized numpy FEM assembly + scipy products;
  the bilinear projector vs a vectorized numpy/scipy construction.
* Pedigree, 2000 animals: A^-1 by Henderson/Quaas (kernel) vs building A by
  the tabular method and inverting it densely with numpy.
* Pedigree, 10^5 animals: ordering ids, inbreeding, A^-1, A x, A^-1 x, and
  A x by scipy (two sparse triangular solves with T^-1 = I - P) as the anchor; peak memory
  of a child process that does only this.
* GRM (VanRaden 1) in numpy, for reference.

R's pedigreemm is not in Debian, so the pedigree anchors are numpy/scipy.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spl

from tabmixr.kinship import Pedigree, vanraden_grm
from tabmixr.spde import SpdeGrid, SpdeMesh


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def row(label: str, kernel_s: float, anchor_s: float, diff: float) -> None:
    ratio = kernel_s / anchor_s if anchor_s > 0 else float("nan")
    print(f"{label:<44} {kernel_s:>10.4f} {anchor_s:>10.4f} {ratio:>7.3f} {diff:>10.2e}")


def header(anchor: str) -> None:
    print(f"{'task':<44} {'kernel s':>10} {anchor + ' s':>10} {'ratio':>7} {'max|diff|':>10}")


# --- SPDE -----------------------------------------------------------------------
def scipy_precision(n: int, h: float, kappa: float, tau: float):
    main = np.full(n, 2.0)
    main[[0, -1]] = 1.0
    L1 = sp.diags_array([-np.ones(n - 1), main, -np.ones(n - 1)], offsets=[-1, 0, 1]) / h**2
    eye = sp.eye_array(n)
    K = kappa**2 * sp.eye_array(n * n) + sp.kron(eye, L1) + sp.kron(L1, eye)
    K = sp.csc_array(K)
    Q = tau**2 * h * h * (K @ K)
    dQ_dkappa = 4 * kappa * tau**2 * h * h * K
    dQ_dtau = 2 * Q / tau
    return Q.tocsc(), dQ_dkappa, dQ_dtau


def scipy_mesh_precision(mesh: SpdeMesh, kappa: float, tau: float):
    """Vectorized P1 assembly in numpy + the alpha = 2 product in scipy.sparse."""
    V, T = mesh.vertices, mesh.triangles
    P = V[T]  # m x 3 x 2
    E = P[:, [2, 0, 1]] - P[:, [1, 2, 0]]
    area = 0.5 * np.abs(E[:, 2, 0] * E[:, 0, 1] - E[:, 2, 1] * E[:, 0, 0])
    g = np.einsum("mak,mbk->mab", E, E) / (4 * area)[:, None, None]
    rows = np.repeat(T, 3, axis=1).ravel()
    cols = np.tile(T, (1, 3)).ravel()
    n = len(V)
    G = sp.csc_array((g.ravel(), (rows, cols)), shape=(n, n))
    Ct = np.bincount(T.ravel(), weights=np.repeat(area / 3, 3), minlength=n)
    Ctd, Cinv = sp.diags_array(Ct), sp.diags_array(1 / Ct)
    Q = tau**2 * (kappa**4 * Ctd + 2 * kappa**2 * G + G @ Cinv @ G)
    dQ_dkappa = tau**2 * (4 * kappa**3 * Ctd + 4 * kappa * G)
    return Q.tocsc(), dQ_dkappa, 2 * Q / tau


def numpy_projector(grid: SpdeGrid, pts: np.ndarray):
    u = (pts[:, 0] - grid.x0) / grid.hx
    v = (pts[:, 1] - grid.y0) / grid.hy
    i = np.minimum(np.floor(u).astype(np.int64), grid.nx - 2)
    j = np.minimum(np.floor(v).astype(np.int64), grid.ny - 2)
    fx, fy = u - i, v - j
    rows = np.repeat(np.arange(len(pts)), 4)
    cols = np.column_stack([i + grid.nx * j, i + 1 + grid.nx * j, i + grid.nx * (j + 1),
                            i + 1 + grid.nx * (j + 1)]).ravel()
    w = np.column_stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy]).ravel()
    return sp.csc_array((w, (rows, cols)), shape=(len(pts), grid.n_nodes))


def bench_spde(sizes) -> None:
    print("\n== SPDE Matern precision (alpha = 2, with dQ/dkappa, dQ/dtau) and projector")
    header("scipy")
    kappa, tau = 2.0, 0.5
    for n in sizes:
        h = 10.0 / (n - 1)
        grid = SpdeGrid(n, n, h, h)
        kernel_s = best_of(lambda: grid.precision_and_derivatives(kappa, tau, 2))
        scipy_s = best_of(lambda: scipy_precision(n, h, kappa, tau))
        Q = grid.precision(kappa, tau, 2)
        diff = abs(Q - scipy_precision(n, h, kappa, tau)[0]).max()
        row(f"Q, dQ on {n} x {n} grid ({Q.nnz} nnz)", kernel_s, scipy_s, diff)
    for n in sizes[:2]:
        mesh = SpdeMesh.from_grid(n, n, 10.0 / (n - 1), 10.0 / (n - 1))
        kernel_s = best_of(lambda: mesh.precision_and_derivatives(kappa, tau, 2))
        scipy_s = best_of(lambda: scipy_mesh_precision(mesh, kappa, tau))
        diff = abs(mesh.precision(kappa, tau, 2) - scipy_mesh_precision(mesh, kappa, tau)[0]).max()
        row(f"mesh Q, dQ, {len(mesh.triangles)} triangles", kernel_s, scipy_s, diff)
    rng = np.random.default_rng(0)
    grid = SpdeGrid(500, 500, 0.02, 0.02)
    pts = rng.uniform(0, 9.98, size=(10**6, 2))
    kernel_s = best_of(lambda: grid.projector(pts))
    numpy_s = best_of(lambda: numpy_projector(grid, pts))
    diff = abs(grid.projector(pts) - numpy_projector(grid, pts)).max()
    row("projector 10^6 points -> 500 x 500 grid", kernel_s, numpy_s, diff)


# --- pedigrees --------------------------------------------------------------------
def simulate(n_founders: int, generations: int, per_generation: int, seed: int):
    """Random mating within the previous generation, 10% unknown parents."""
    rng = np.random.default_rng(seed)
    sire, dam = [np.full(n_founders, -1)], [np.full(n_founders, -1)]
    lo, size = 0, n_founders
    for _ in range(generations):
        s = rng.integers(lo, lo + size, per_generation)
        d = rng.integers(lo, lo + size, per_generation)
        s[rng.random(per_generation) < 0.1] = -1
        d[rng.random(per_generation) < 0.1] = -1
        sire.append(s)
        dam.append(d)
        lo, size = lo + size, per_generation
    return np.concatenate(sire).astype(np.int64), np.concatenate(dam).astype(np.int64)


def numpy_tabular_a(sire, dam):
    n = len(sire)
    A = np.zeros((n, n))
    for i in range(n):
        s, d = sire[i], dam[i]
        r = np.zeros(i)
        if s >= 0:
            r += 0.5 * A[:i, s]
        if d >= 0:
            r += 0.5 * A[:i, d]
        A[i, :i] = r
        A[:i, i] = r
        A[i, i] = 1.0 + (0.5 * A[s, d] if s >= 0 and d >= 0 else 0.0)
    return A


def bench_pedigree_small() -> None:
    print("\n== A^-1 of a 2000-animal pedigree (5 generations)")
    header("numpy")
    sire, dam = simulate(400, 4, 400, seed=1)
    ped = Pedigree.from_indices(sire, dam)
    kernel_s = best_of(lambda: Pedigree.from_indices(sire, dam).ainv())
    numpy_s = best_of(lambda: np.linalg.inv(numpy_tabular_a(sire, dam)), repeats=1)
    diff = np.abs(ped.ainv().toarray() - np.linalg.inv(numpy_tabular_a(sire, dam))).max()
    row("A^-1 (kernel) vs inv(tabular A) (numpy)", kernel_s, numpy_s, diff)
    kernel_s = best_of(lambda: ped.dense_a())
    numpy_s = best_of(lambda: numpy_tabular_a(sire, dam), repeats=1)
    row("dense A, tabular method", kernel_s, numpy_s,
        np.abs(ped.dense_a() - numpy_tabular_a(sire, dam)).max())


def t_inverse(sire, dam):
    """T^-1 = I - P as a CSR lower triangular matrix (P: 1/2 at (i, sire), (i, dam))."""
    n = len(sire)
    rows = np.concatenate([np.arange(n), np.flatnonzero(sire >= 0), np.flatnonzero(dam >= 0)])
    cols = np.concatenate([np.arange(n), sire[sire >= 0], dam[dam >= 0]])
    vals = np.concatenate([np.ones(n), np.full((sire >= 0).sum(), -0.5),
                           np.full((dam >= 0).sum(), -0.5)])
    return sp.csr_array((vals, (rows, cols)), shape=(n, n))


def scipy_a_times(Tinv, d, x):
    """A x = T D T' x by two sparse triangular solves in scipy."""
    y = spl.spsolve_triangular(Tinv.T.tocsr(), x, lower=False)
    return spl.spsolve_triangular(Tinv, d * y, lower=True)


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def reset_peak_rss() -> float:
    """Reset the kernel's peak-RSS mark (Linux) and return the current RSS in MiB."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
    return _status_mib("VmRSS")


def peak_rss() -> float:
    """Peak RSS in MiB since the last reset (VmHWM), else since start."""
    value = _status_mib("VmHWM")
    if value != value:
        value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return value


def pedigree_100k_child() -> None:
    """Runs in a child process so its peak RSS is this work alone."""
    sire, dam = simulate(5000, 10, 9500, seed=2)
    ids = [f"a{k}" for k in range(len(sire))]
    s_ids = [None if s < 0 else ids[s] for s in sire]
    d_ids = [None if d < 0 else ids[d] for d in dam]
    perm = np.random.default_rng(0).permutation(len(ids))
    cols = ([ids[k] for k in perm], [s_ids[k] for k in perm], [d_ids[k] for k in perm])
    print(f"{'task (n = ' + str(len(sire)) + ' animals)':<44} {'kernel s':>10} {'scipy s':>10} "
          f"{'ratio':>7} {'max|diff|':>10}")
    base = reset_peak_rss()
    Pedigree(*cols).ainv()  # the whole pipeline once, for the memory peak
    peak = peak_rss()
    t_order = best_of(lambda: Pedigree(*cols), repeats=1)
    ped = Pedigree.from_indices(sire, dam)
    t_f = best_of(lambda: Pedigree.from_indices(sire, dam).inbreeding)
    t_ainv = best_of(ped.ainv)
    x = np.random.default_rng(1).normal(size=ped.n)
    t_ax = best_of(lambda: ped.a_times(x))
    t_aix = best_of(lambda: ped.ainv_times(x))
    Ainv = ped.ainv()
    t_csc = best_of(lambda: Ainv @ x)
    Tinv = t_inverse(sire, dam)
    t_lu = best_of(lambda: scipy_a_times(Tinv, ped.d, x), repeats=1)
    Ax_lu = scipy_a_times(Tinv, ped.d, x)
    row("order 10^5 string ids (numpy/pandas)", t_order, float("nan"), float("nan"))
    row("inbreeding + d (Meuwissen & Luo)", t_f, float("nan"), float("nan"))
    row("A^-1 CSC (Henderson + Quaas)", t_ainv, float("nan"), float("nan"))
    row("A x (Colleau) vs scipy triangular solves", t_ax, t_lu,
        np.abs(ped.a_times(x) - Ax_lu).max())
    row("A^-1 x (pedigree sweep) vs A^-1 CSC @ x", t_aix, t_csc,
        np.abs(ped.ainv_times(x) - Ainv @ x).max())
    print(f"mean F = {ped.inbreeding.mean():.4f}, max F = {ped.inbreeding.max():.4f}, "
          f"nnz(A^-1) = {Ainv.nnz}, max|A^-1 (A x) - x| = "
          f"{np.abs(ped.ainv_times(ped.a_times(x)) - x).max():.2e}")
    print(f"peak RSS while ordering ids, inbreeding and A^-1: {peak:.0f} MiB, "
          f"{peak - base:.0f} MiB above the RSS before ({base:.0f} MiB: interpreter, imports, "
          f"id lists)")


def bench_pedigree_large() -> None:
    print("\n== 10^5-animal pedigree (11 generations), child process")
    subprocess.run([sys.executable, __file__, "--pedigree-100k-child"], check=True)


def bench_grm() -> None:
    print("\n== GRM (VanRaden 1, numpy), 1000 animals x 10000 markers, 1% missing")
    rng = np.random.default_rng(3)
    M = rng.binomial(2, rng.uniform(0.05, 0.95, 10000), size=(1000, 10000)).astype(float)
    M[rng.random(M.shape) < 0.01] = np.nan
    print(f"vanraden_grm: {best_of(lambda: vanraden_grm(M), repeats=1):.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--pedigree-100k-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pedigree_100k_child:
        pedigree_100k_child()
        return
    bench_spde([50, 100] if args.quick else [100, 300, 1000])
    bench_pedigree_small()
    bench_pedigree_large()
    if not args.quick:
        bench_grm()


if __name__ == "__main__":
    main()
