"""Animal-model fits with kin() terms on large pedigrees: time and peak memory (exact engine).

    python bench/kinship_fit.py [--animals 100000] [--h2 0.4] [--seed 2]

Simulates a pedigree (sires: one in ``SIRE_FRACTION`` animals of the previous
generation, dams: any of them; 10% unknown parents), breeding values
``a ~ N(0, h2 A)`` by the pedigree recursion ``a_i = (a_sire + a_dam) / 2 + m_i``,
``m_i ~ N(0, d_i h2)`` and one record
per non-founder, then fits ``y ~ sex + kin(1 | animal, pedigree = ped)`` by
REML.  The fit works on the sparse ``A^-1`` only: no dense matrix of the
animals is formed.  Each size runs in a child process so that its peak
resident memory (``VmHWM``) is its own.

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


def child(n_animals: int, h2: float, seed: int) -> None:
    """Simulate, fit, print one JSON line."""
    from tabmixr import tabmix

    t0 = time.perf_counter()
    pedigree, data = simulate(n_animals, h2, seed)
    t1 = time.perf_counter()
    fit = tabmix("y ~ sex + kin(1 | animal, pedigree = ped)", data, relmat={"ped": pedigree})
    t2 = time.perf_counter()
    print(json.dumps({"animals": len(pedigree), "records": fit.nobs, "simulate_s": t1 - t0,
                      "fit_s": t2 - t1, "feval": fit.optimizer["feval"],
                      "va": float(fit.terms[0].cov[0, 0]), "ve": float(fit.sigma ** 2),
                      "peak_mib": _peak_mib()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--animals", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--h2", type=float, default=0.4)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.animals[0], args.h2, args.seed)
        return
    print(f"{'animals':>8} {'records':>8} {'fit s':>7} {'evals':>5} {'va':>7} {'ve':>7} "
          f"{'peak MiB':>9}   (truth va = {args.h2}, ve = {1 - args.h2:g})")
    for n in args.animals:
        run = subprocess.run([sys.executable, __file__, "--child", "--animals", str(n),
                              "--h2", str(args.h2), "--seed", str(args.seed)],
                             capture_output=True, text=True, check=True)
        r = json.loads(run.stdout.strip().splitlines()[-1])
        print(f"{r['animals']:>8} {r['records']:>8} {r['fit_s']:>7.1f} {r['feval']:>5} "
              f"{r['va']:>7.4f} {r['ve']:>7.4f} {r['peak_mib']:>9.0f}")


if __name__ == "__main__":
    main()
