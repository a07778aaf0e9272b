"""Animal-model fits with kin() terms on large pedigrees: time and peak memory, by method.

    python bench/kinship_fit.py [--animals 5000 100000] [--methods reml ml vi] [--h2 0.4] [--seed 2]

Simulates a pedigree (sires: one in ``SIRE_FRACTION`` animals of the previous
generation, dams: any of them; 10% unknown parents), breeding values
``a ~ N(0, h2 A)`` by the pedigree recursion ``a_i = (a_sire + a_dam) / 2 + m_i``,
``m_i ~ N(0, d_i h2)`` and one record
per non-founder, then fits ``y ~ sex + kin(1 | animal, pedigree = ped)`` by
each method: the exact engine (``reml``, ``ml``) and the neural one
(``vi``: its sparse posterior over the whole pedigree, ``kin_posterior.py``;
its optimum is the ML fit).  Both work on the sparse ``A^-1`` only: no dense
matrix of the animals is formed.  Each size and method runs in a child
process so that its peak resident memory (``VmHWM``) is its own; the table
gives ``va`` against the truth and against the REML fit of the same data.

The cost is the fill of the sparse Cholesky of ``theta^2 Z'Z + A^-1``, which
depends on the pedigree's structure: with half-sib families (this simulator)
10^4 animals give ~1.7e5 factor entries; with every mating random across a
whole generation (an expander-like graph) ~2.3e6, and 10^5 animals become slow.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
import pandas as pd

#: One sire per this many animals of the previous generation (livestock-like half-sib families).
SIRE_FRACTION = 50


def simulate(n_animals: int, h2: float, seed: int, generations: int = 10):
    """Pedigree data frame and records of an animal model with ``n_animals`` animals."""
    from tabmixr.kinship import Pedigree

    rng = np.random.default_rng(seed)
    n_founders = n_animals // (generations + 1)
    per_generation = (n_animals - n_founders) // generations
    sire, dam = [np.full(n_founders, -1)], [np.full(n_founders, -1)]
    lo, size = 0, n_founders
    for _ in range(generations):
        sires = rng.choice(np.arange(lo, lo + size), max(20, size // SIRE_FRACTION), replace=False)
        s = rng.choice(sires, per_generation)
        d = rng.integers(lo, lo + size, per_generation)
        s[rng.random(per_generation) < 0.1] = -1
        d[rng.random(per_generation) < 0.1] = -1
        sire.append(s)
        dam.append(d)
        lo, size = lo + size, per_generation
    sire, dam = np.concatenate(sire), np.concatenate(dam)
    n = len(sire)
    ped = Pedigree.from_indices(sire, dam)
    m = np.sqrt(ped.d * h2) * rng.standard_normal(n)
    a = np.zeros(n)
    for i in range(n):
        a[i] = m[i] + 0.5 * ((a[sire[i]] if sire[i] >= 0 else 0.0) + (a[dam[i]] if dam[i] >= 0 else 0.0))
    ids = np.array([f"a{i}" for i in range(n)], dtype=object)
    pedigree = pd.DataFrame({"id": ids, "sire": np.where(sire >= 0, ids[np.maximum(sire, 0)], None),
                             "dam": np.where(dam >= 0, ids[np.maximum(dam, 0)], None)})
    rec = np.arange(n_founders, n)
    sex = rng.integers(0, 2, len(rec))
    y = 10.0 + 0.5 * sex + a[rec] + np.sqrt(1.0 - h2) * rng.standard_normal(len(rec))
    return pedigree, pd.DataFrame({"animal": ids[rec], "sex": sex, "y": y})


def _peak_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    return float("nan")


def child(n_animals: int, h2: float, seed: int, method: str) -> None:
    """Simulate, fit by ``method``, print one JSON line."""
    from tabmixr import tabmix

    t0 = time.perf_counter()
    pedigree, data = simulate(n_animals, h2, seed)
    t1 = time.perf_counter()
    options = {"seed": 1} if method == "vi" else {}
    fit = tabmix("y ~ sex + kin(1 | animal, pedigree = ped)", data, method=method,
                 relmat={"ped": pedigree}, **options)
    t2 = time.perf_counter()
    evals = fit.optimizer.get("feval", fit.optimizer.get("epochs"))
    print(json.dumps({"method": method, "animals": len(pedigree), "records": fit.nobs,
                      "simulate_s": t1 - t0, "fit_s": t2 - t1, "feval": evals,
                      "va": float(fit.terms[0].cov[0, 0]), "ve": float(fit.sigma ** 2),
                      "peak_mib": _peak_mib()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--animals", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--h2", type=float, default=0.4)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=["reml", "vi"],
                        choices=["reml", "ml", "vi"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.animals[0], args.h2, args.seed, args.methods[0])
        return
    print(f"{'animals':>8} {'method':>6} {'records':>8} {'fit s':>7} {'evals':>5} {'va':>7} "
          f"{'ve':>7} {'va/truth':>8} {'va/reml':>8} {'peak MiB':>9}   "
          f"(truth va = {args.h2}, ve = {1 - args.h2:g})")
    for n in args.animals:
        reml_va = None
        for method in args.methods:
            run = subprocess.run([sys.executable, __file__, "--child", "--animals", str(n),
                                  "--h2", str(args.h2), "--seed", str(args.seed),
                                  "--methods", method], capture_output=True, text=True, check=True)
            r = json.loads(run.stdout.strip().splitlines()[-1])
            reml_va = r["va"] if method == "reml" else reml_va
            vs_reml = f"{r['va'] / reml_va:>8.4f}" if reml_va else f"{'':>8}"
            print(f"{r['animals']:>8} {method:>6} {r['records']:>8} {r['fit_s']:>7.1f} "
                  f"{r['feval']:>5} {r['va']:>7.4f} {r['ve']:>7.4f} {r['va'] / args.h2:>8.4f} "
                  f"{vs_reml} {r['peak_mib']:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
