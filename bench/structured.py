"""Structured random effects and the manifold backbone in the neural engine at size (issue 6).

    python bench/structured.py              # all four sections
    python bench/structured.py --quick      # smaller SPDE (2 * 10^4 sites)
    python bench/structured.py --only gp    # one section (ar1, gp, spde or manifold)

Each section fits the structured model and its unstructured anchor on the
same data in this run and prints them side by side:

* AR1: 200 time levels with AR(1) effects (rho = 0.8), 5 rows per level,
  20% of the levels held out: ``ar1(1 | time)`` vs ``(1 | time)`` --
  rho, held-out RMSE (new times are interpolated by ar1, zero for IID),
  epochs with the default (full-batch L-BFGS) and with Adam (all, and until
  the objective is within 1% of its final value).
* GP vs SPDE vs IID at 2500 sites (issue 6's acceptance), 2 rows per site,
  20% of the rows held out, twice: an exact Matern (nu = 1, the spde's
  smoothness) field with range 3 on 2500 random sites of a 10 x 10 square,
  and a Matern 3/2 (the gp kernel's) field with length scale 3 (range 6)
  on a 50 x 50 grid: ``gp(kernel = "matern32")`` (dense posterior held at
  its optimum, ``tabmixr.engines.vi.dense_posterior``) vs ``spde`` (sparse
  grid) vs ``(1 | site)`` -- practical range (``2 ell`` for the gp's
  kernel), held-out RMSE, L-BFGS epochs, time.  Each model recovers the
  range of the field that matches its smoothness; on the other one it
  trades range against smoothness.  Before the dense posterior the gp fit
  took 74 s at 400 sites and over 10 minutes at 900.
* SPDE at 10^5 sites (one row each; the field drawn from the SPDE on a
  fine 400^2 grid, range 15 on a 100 x 100 square): ``spde`` vs the
  fixed-effects-only least squares -- range, held-out RMSE at new sites, time and
  peak memory (each fit in its own process, so the peaks are its own).
* manifold backbone: a rough field (50 random Fourier features) scaling the
  slope of x1 at 2000 sites x 2 rows, and a space-time version (500 sites x
  8 rows over 8 times): ``backbone="manifold"`` (with and without ``time=``)
  vs ``"mlp"`` and ``"linear"`` on the same columns -- held-out RMSE, time.
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
    for optimizer in ("auto", "adam"):
        for label, formula in (("ar1(1 | time)", "y ~ x + ar1(1 | t)"), ("(1 | time)", "y ~ x + (1 | t)")):
            start = time.perf_counter()
            fit = tabmixr.tabmix(formula, data=df[~test], method="vi", seed=1, optimizer=optimizer)
            seconds = time.perf_counter() - start
            pred = fit.predict(df[test], allow_new_levels=True)
            obj = fit.history().query("stage == 'fit'").objective.to_numpy()
            best = np.minimum.accumulate(obj)
            near = int(np.argmax(best - best[-1] <= 0.01 * abs(best[-1]))) + 1
            rows.append((label, optimizer, _structure(fit, "rho") if "ar1" in label else float("nan"),
                         _rmse(df.y[test], pred), len(obj), near, seconds))
    print(f"\nAR1: {T} levels x {reps} rows, rho = {rho}, 20% of the levels held out")
    print(f"{'model':<16}{'optimizer':>10}{'rho':>8}{'held-out RMSE':>15}{'epochs':>8}"
          f"{'to 1%':>7}{'seconds':>9}")
    for r in rows:
        print(f"{r[0]:<16}{r[1]:>10}{r[2]:>8.3f}{r[3]:>15.3f}{r[4]:>8d}{r[5]:>7d}{r[6]:>9.2f}")
    print(f"RMSE ratio ar1 / iid: {rows[0][3] / rows[1][3]:.3f} (goal < 1); epochs ar1 / iid: "
          f"L-BFGS {rows[0][4] / rows[1][4]:.2f}, Adam to within 1% of the final objective "
          f"{rows[2][5] / rows[3][5]:.2f}, Adam until stopped {rows[2][4] / rows[3][4]:.2f} (goal < 1)")


# -- GP vs SPDE -------------------------------------------------------------------------
#: A Matern kernel with ``kappa = sqrt(2 nu) / ell`` has the practical range ``sqrt(8 nu) / kappa = 2 ell``.
GP_RANGE_PER_ELL = 2.0


def _gp_table(df: pd.DataFrame, truth: float, title: str) -> None:
    """Fit gp (matern32), spde and IID on ``df`` (columns ``resp, z, site, x, y``), 20% of the
    rows held out, and print range (truth ``truth``), held-out RMSE, epochs and time."""
    import tabmixr

    test = np.random.default_rng(0).random(len(df)) < 0.2
    rows = []
    for label, term, key, to_range in (
            ("gp matern32", 'gp(1 | site, coords = c(x, y), kernel = "matern32")', "length_scale",
             GP_RANGE_PER_ELL),
            ("spde", "spde(1 | site, coords = c(x, y))", "range", 1.0),
            ("(1 | site)", "(1 | site)", None, None)):
        start = time.perf_counter()
        fit = tabmixr.tabmix(f"resp ~ z + {term}", data=df[~test], method="vi", seed=1)
        seconds = time.perf_counter() - start
        value = _structure(fit, key) * to_range if key else float("nan")
        rows.append((label, value, _rmse(df.resp[test], fit.predict(df[test], allow_new_levels=True)),
                     int((fit.history().stage == "fit").sum()), seconds))
    print(f"\n{title}, 2 rows per site, 20% of rows held out")
    print(f"{'model':<14}{'range':>8}{'held-out RMSE':>15}{'epochs':>8}{'seconds':>9}")
    for r in rows:
        print(f"{r[0]:<14}{r[1]:>8.3f}{r[2]:>15.3f}{r[3]:>8d}{r[4]:>9.2f}")
    print(f"range / truth: gp {rows[0][1] / truth:.3f}, spde {rows[1][1] / truth:.3f} (goal 0.8-1.2 "
          f"for the model that matches the field); RMSE / iid: gp {rows[0][2] / rows[2][2]:.3f}, "
          f"spde {rows[1][2] / rows[2][2]:.3f} (goal < 1); time gp / spde = {rows[0][4] / rows[1][4]:.2f}")


def gp_section(seed: int = 3, n_sites: int = 2500) -> None:
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "engines", "vi"))
    from structured_simulated import matern32_data
    from test_vi_spde import field_data

    df, _ = field_data(n_sites, 2, seed=seed, sd=1.0, field_range=3.0, noise=0.5)
    _gp_table(df, 3.0, f"GP vs SPDE: {n_sites} random sites of a Matern (nu = 1, spde's) field, "
                       "range 3 on a 10 x 10 square")
    side = int(round(np.sqrt(n_sites)))
    df, _ = matern32_data(seed=seed, side=side, ell=3.0, sd_b=1.0, sd_e=0.5, per_site=2)
    df = df.rename(columns={"y": "resp", "x": "z", "cx": "x", "cy": "y"})
    _gp_table(df, 2.0 * 3.0, f"GP vs SPDE: {side} x {side} grid of sites, a Matern 3/2 (gp's) "
                             "field, length scale 3 (range 6)")


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


# -- manifold backbone ----------------------------------------------------------------
def manifold_data(n_sites: int, per: int, seed: int = 1, times: int = 0):
    """A rough field (50 random Fourier features) that scales the slope of x1, plus noise 0.3;
    with ``times`` > 0 the field also drifts along ``t`` (a second feature set, AR-like)."""
    rng = np.random.default_rng(seed)
    S = rng.uniform(0, 10, (n_sites, 2))
    W, ph = rng.normal(0, 1.0, (50, 2)), rng.uniform(0, 2 * np.pi, 50)
    site = np.repeat(np.arange(n_sites), per)
    xy = S[site]
    f = np.sqrt(2 / 50) * np.cos(xy @ W.T + ph).sum(1)
    frame = {"sx": xy[:, 0], "sy": xy[:, 1]}
    if times:
        t = rng.integers(0, times, len(site)).astype(float)
        W2, ph2 = rng.normal(0, 0.7, (50, 2)), rng.uniform(0, 2 * np.pi, 50)
        f = f + np.sqrt(2 / 50) * np.cos(xy @ W2.T + ph2 + 0.6 * t[:, None]).sum(1)
        frame["t"] = t
    x1 = rng.normal(size=len(site))
    y = 1 + 0.5 * x1 + f * (1 + 0.5 * x1) + rng.normal(0, 0.3, len(site))
    df = pd.DataFrame(dict(y=y, x1=x1, **frame))
    test = rng.random(len(df)) < 0.2
    return df[~test], df[test]


def manifold_section(n_sites: int = 2000, per: int = 2) -> None:
    import tabmixr

    rows = []
    train, test = manifold_data(n_sites, per)
    for label, extra in (("linear", {}), ("mlp", {}), ("manifold", {"coords": ("sx", "sy")})):
        start = time.perf_counter()
        fit = tabmixr.tabmix("y ~ x1 + sx + sy", data=train, method="vi", seed=1,
                             backbone=label, **extra)
        rows.append(("space", label, _rmse(test.y, fit.predict(test)), time.perf_counter() - start))
    train, test = manifold_data(n_sites // 4, per * 4, times=8)
    for label, extra in (("mlp", {}), ("manifold", {"coords": ("sx", "sy")}),
                         ("manifold + time", {"coords": ("sx", "sy"), "time": "t"})):
        start = time.perf_counter()
        fit = tabmixr.tabmix("y ~ x1 + sx + sy + t", data=train, method="vi", seed=1,
                             backbone=label.split()[0], **extra)
        rows.append(("space-time", label, _rmse(test.y, fit.predict(test)),
                     time.perf_counter() - start))
    print(f"\nmanifold backbone: a rough field scaling the slope of x1 (noise SD 0.3); space: "
          f"{n_sites} sites x {per} rows; space-time: {n_sites // 4} sites x {per * 4} rows over "
          f"8 times; 20% of the rows held out")
    print(f"{'data':<12}{'backbone':<18}{'held-out RMSE':>15}{'seconds':>9}")
    for r in rows:
        print(f"{r[0]:<12}{r[1]:<18}{r[2]:>15.3f}{r[3]:>9.2f}")
    mlp = {r[0]: r[2] for r in rows if r[1] == "mlp"}
    for data, label, rmse, _ in rows:
        if label.startswith("manifold"):
            print(f"RMSE ratio {label} / mlp ({data}): {rmse / mlp[data]:.3f} (goal < 1)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="SPDE at 2 * 10^4 sites")
    ap.add_argument("--only", choices=("ar1", "gp", "spde", "manifold"), help="run one section")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child_spde(int(args.child[0]), bool(int(args.child[1])))))
        return
    import warnings
    warnings.simplefilter("ignore")
    sections = {"ar1": ar1_section, "gp": gp_section,
                "spde": lambda: spde_section(20_000 if args.quick else 100_000),
                "manifold": manifold_section}
    for name, section in sections.items():
        if args.only in (None, name):
            section()


if __name__ == "__main__":
    main()
