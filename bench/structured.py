"""Structured random effects in the neural engine at size: AR1, GP and SPDE (issue 6).

    python bench/structured.py            # all three tables
    python bench/structured.py --quick    # smaller SPDE (2 * 10^4 sites)

Each section fits the structured model and its unstructured anchor on the
same data in this run and prints them side by side:

* AR1: 200 time levels with AR(1) effects (rho = 0.8), 5 rows per level,
  20% of the levels held out: ``ar1(1 | time)`` vs ``(1 | time)`` --
  rho, held-out RMSE (new times are interpolated by ar1, zero for IID),
  L-BFGS epochs.
* GP vs SPDE: 400 sites of an exact Matern (nu = 1) field, range 3 on a
  10 x 10 square, 2 rows per site (at 2500 and at 900 sites the dense gp
  fit ran over 10 minutes here, so the comparison is at 400): ``gp(kernel = "matern32")`` (dense) vs
  ``spde`` (sparse grid) -- range, held-out RMSE, time.
* SPDE at 10^5 sites (one row each; the field drawn from the SPDE on a
  fine 400^2 grid, range 15 on a 100 x 100 square): ``spde`` vs the
  fixed-effects-only least squares -- range, held-out RMSE at new sites, time and
  peak memory (each fit in its own process, so the peaks are its own).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))


def _rmse(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def _structure(fit, key):
    for s in fit.extra.get("structures", []):
        return s["parameters"].get(key)
    return float("nan")


# -- AR1 ---------------------------------------------------------------------------
def ar1_section(seed: int = 0) -> None:
    import tabmixr

    rng = np.random.default_rng(seed)
    T, reps, rho, sd = 200, 5, 0.8, 1.0
    b = np.zeros(T)
    b[0] = rng.normal(0, sd)
    for t in range(1, T):
        b[t] = rho * b[t - 1] + rng.normal(0, sd * np.sqrt(1 - rho ** 2))
    time_ = np.repeat(np.arange(T), reps)
    x = rng.standard_normal(len(time_))
    df = pd.DataFrame({"t": time_.astype(float), "time": [f"t{k}" for k in time_], "x": x,
                       "y": 1 + 0.5 * x + b[time_] + 0.5 * rng.standard_normal(len(time_))})
    held = rng.random(T) < 0.2
    test = held[time_]
    rows = []
    for label, formula in (("ar1(1 | time)", "y ~ x + ar1(1 | t)"), ("(1 | time)", "y ~ x + (1 | t)")):
        start = time.perf_counter()
        fit = tabmixr.tabmix(formula, data=df[~test], method="vi", seed=1)
        seconds = time.perf_counter() - start
        pred = fit.predict(df[test], allow_new_levels=True)
        rows.append((label, _structure(fit, "rho") if "ar1" in label else float("nan"),
                     _rmse(df.y[test], pred), int((fit.history().stage == "fit").sum()), seconds))
    print(f"\nAR1: {T} levels x {reps} rows, rho = {rho}, 20% of the levels held out")
    print(f"{'model':<16}{'rho':>8}{'held-out RMSE':>15}{'epochs':>8}{'seconds':>9}")
    for r in rows:
        print(f"{r[0]:<16}{r[1]:>8.3f}{r[2]:>15.3f}{r[3]:>8d}{r[4]:>9.2f}")
    print(f"RMSE ratio ar1 / iid: {rows[0][2] / rows[1][2]:.3f} (goal < 1); "
          f"epochs ar1 / iid: {rows[0][3] / rows[1][3]:.2f} (goal < 1)")


# -- GP vs SPDE -------------------------------------------------------------------------
def gp_section(seed: int = 3, n_sites: int = 400) -> None:
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "engines", "vi"))
    from test_vi_spde import field_data

    import tabmixr

    df, _ = field_data(n_sites, 2, seed=seed, sd=1.0, field_range=3.0, noise=0.5)
    test = np.random.default_rng(0).random(len(df)) < 0.2
    rows = []
    for label, term, key, to_range in (
            ("gp matern32", 'gp(1 | site, coords = c(x, y), kernel = "matern32")', "length_scale",
             None),
            ("spde", "spde(1 | site, coords = c(x, y))", "range", 1.0),
            ("(1 | site)", "(1 | site)", None, None)):
        start = time.perf_counter()
        fit = tabmixr.tabmix(f"resp ~ z + {term}", data=df[~test], method="vi", seed=1)
        seconds = time.perf_counter() - start
        value = _structure(fit, key) if key else float("nan")
        rows.append((label, value, _rmse(df.resp[test], fit.predict(df[test], allow_new_levels=True)),
                     seconds))
    print(f"\nGP vs SPDE: {n_sites} sites of a Matern (nu = 1) field, range 3, 2 rows per site, "
          "20% of rows held out")
    print(f"{'model':<14}{'range/ell':>10}{'held-out RMSE':>15}{'seconds':>9}")
    for r in rows:
        print(f"{r[0]:<14}{r[1]:>10.3f}{r[2]:>15.3f}{r[3]:>9.2f}")
    print("(gp reports its kernel's length scale ell, spde the practical range sqrt(8)/kappa; "
          f"spde range / truth = {rows[1][1] / 3.0:.3f}, goal within 0.8-1.2; "
          f"time gp / spde = {rows[0][3] / rows[1][3]:.2f})")


# -- SPDE at scale ------------------------------------------------------------------------
def spde_data(n_sites: int, seed: int = 0, field_range: float = 15.0, side: float = 100.0):
    """Sites uniform on a square, one row each; the field drawn from the SPDE on a 400^2 grid."""
    from tabmixr.linalg.sparse_cholesky import SparseCholesky
    from tabmixr.spde.grid import SpdeGrid

    rng = np.random.default_rng(seed)
    margin = field_range
    grid = SpdeGrid.covering(np.array([[0.0, 0.0], [side, side]]), (side + 2 * margin) / 399, margin)
    kappa = np.sqrt(8.0) / field_range
    tau = 1.0 / (np.sqrt(4 * np.pi) * kappa * 1.0)  # marginal SD 1
    field = SparseCholesky(grid.precision(kappa, tau)).sample(rng.standard_normal(grid.n_nodes))
    xy = rng.uniform(0, side, (n_sites, 2))
    b = grid.projector(xy) @ field
    z = rng.standard_normal(n_sites)
    df = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "site": [f"s{k}" for k in range(n_sites)],
                       "z": z, "resp": 1 + 0.5 * z + b + 0.5 * rng.standard_normal(n_sites)})
    return df


def child_spde(n_sites: int, structured: bool) -> dict:
    import tabmixr

    df = spde_data(n_sites)
    test = np.random.default_rng(1).random(len(df)) < 0.1
    start = time.perf_counter()
    if structured:
        fit = tabmixr.tabmix("resp ~ z + spde(1 | site, coords = c(x, y))", data=df[~test],
                             method="vi", seed=1)
        seconds = time.perf_counter() - start
        pred = fit.predict(df[test], allow_new_levels=True)
    else:  # least squares on the fixed effects (what predicts a new site without the field)
        X = np.column_stack([np.ones(len(df)), df.z])
        coef = np.linalg.lstsq(X[~test], df.resp[~test], rcond=None)[0]
        seconds = time.perf_counter() - start
        pred = X[test] @ coef
    return {"seconds": seconds, "rmse": _rmse(df.resp[test], pred),
            "range": _structure(fit, "range") if structured else float("nan"),
            "nodes": _structure(fit, "nodes") if structured else float("nan"),
            "epochs": int((fit.history().stage == "fit").sum()) if structured else 0,
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}


def spde_section(n_sites: int) -> None:
    results = {}
    for structured in (True, False):
        out = subprocess.run([sys.executable, __file__, "--child", str(n_sites), str(int(structured))],
                             capture_output=True, text=True, check=True)
        results[structured] = json.loads(out.stdout.strip().splitlines()[-1])
    s, f = results[True], results[False]
    print(f"\nSPDE at scale: {n_sites} sites, one row each, range 15 on a 100 x 100 square, "
          "10% of the sites held out (new sites: kriged)")
    print(f"{'model':<22}{'range':>8}{'held-out RMSE':>15}{'seconds':>9}{'peak MiB':>10}")
    print(f"{'spde (vi, %d nodes)' % s['nodes']:<22}{s['range']:>8.2f}{s['rmse']:>15.3f}"
          f"{s['seconds']:>9.1f}{s['peak_mib']:>10.0f}")
    print(f"{'fixed effects only (ls)':<22}{'':>8}{f['rmse']:>15.3f}{f['seconds']:>9.1f}"
          f"{f['peak_mib']:>10.0f}")
    print(f"RMSE ratio spde / fixed-only: {s['rmse'] / f['rmse']:.3f}; range / truth "
          f"{s['range'] / 15.0:.3f}; L-BFGS epochs {s['epochs']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="SPDE at 2 * 10^4 sites")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child_spde(int(args.child[0]), bool(int(args.child[1])))))
        return
    import warnings
    warnings.simplefilter("ignore")
    ar1_section()
    gp_section()
    spde_section(20_000 if args.quick else 100_000)


if __name__ == "__main__":
    main()
