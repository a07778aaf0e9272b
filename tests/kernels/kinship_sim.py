"""Pedigree simulators and an independent dense reference shared by the kinship tests."""

from __future__ import annotations

import numpy as np


def simulate_pedigree(n_founders: int, n_generations: int, per_generation: int, seed: int,
                      p_unknown: float = 0.1, p_full_sib_mating: float = 0.1):
    """Integer pedigree (sire, dam), parents before offspring, with some inbreeding.

    Parents of generation g are drawn from generation g-1 (and, for a fraction,
    from any earlier animal); a fraction of matings are between full sibs of the
    previous generation, and a fraction of parents are unknown.
    """
    rng = np.random.default_rng(seed)
    sire = [np.full(n_founders, -1, dtype=np.int64)]
    dam = [np.full(n_founders, -1, dtype=np.int64)]
    start, size = 0, n_founders
    total = n_founders
    for _ in range(n_generations):
        lo, hi = start, start + size
        s = rng.integers(lo, hi, per_generation)
        d = rng.integers(lo, hi, per_generation)
        old = rng.random(per_generation) < 0.1
        s[old] = rng.integers(0, hi, old.sum())
        prev_s = np.concatenate(sire)[lo:hi]
        prev_d = np.concatenate(dam)[lo:hi]
        # Full-sib matings: pick an animal and a full sib of it (same known parents).
        fs = np.flatnonzero(rng.random(per_generation) < p_full_sib_mating)
        for k in fs:
            a = rng.integers(0, size)
            pos = np.flatnonzero((prev_s == prev_s[a]) & (prev_d == prev_d[a]) & (prev_s[a] >= 0)
                                 & (prev_d[a] >= 0))
            pos = pos[pos != a]
            if pos.size:
                s[k], d[k] = lo + a, lo + pos[0]
        s[rng.random(per_generation) < p_unknown] = -1
        d[rng.random(per_generation) < p_unknown] = -1
        sire.append(s)
        dam.append(d)
        start, size = total, per_generation
        total += per_generation
    return np.concatenate(sire), np.concatenate(dam)


def tabular_a(sire: np.ndarray, dam: np.ndarray) -> np.ndarray:
    """Dense A by the tabular method, written independently of the C++ kernel."""
    n = len(sire)
    A = np.zeros((n, n))
    for i in range(n):
        s, d = sire[i], dam[i]
        row = np.zeros(i)
        if s >= 0:
            row += 0.5 * A[:i, s]
        if d >= 0:
            row += 0.5 * A[:i, d]
        A[i, :i] = row
        A[:i, i] = row
        A[i, i] = 1.0 + (0.5 * A[s, d] if s >= 0 and d >= 0 else 0.0)
    return A


def simulate_livestock_pedigree(n: int, seed: int, generations: int = 15,
                                sire_share: float = 0.005, p_unknown: float = 0.05):
    """Integer pedigree of an artificial-insemination population, parents before offspring.

    ``generations`` overlapping generations of ``n // generations`` animals, half of
    them male.  In each generation a few males (``sire_share`` of all animals in
    total, the share of sires with progeny in the 8.6-million-animal Japanese
    Holstein pedigree of Huang et al. 2025: 42,120 sires) become AI sires; every
    later animal has a sire drawn from the sires of the previous three
    generations and a dam drawn from the females of the previous four.  A
    fraction ``p_unknown`` of each parent is unrecorded.  Founders (the first
    generation) have unknown parents.

    Returns:
        (sire, dam): int64 arrays of parent indices, -1 unknown.
    """
    rng = np.random.default_rng(seed)
    per = n // generations
    sizes = [n - per * (generations - 1)] + [per] * (generations - 1)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    male = rng.random(n) < 0.5
    bulls_per_generation = max(1, int(round(sire_share * n / (generations - 1))))
    sire = np.full(n, -1, dtype=np.int64)
    dam = np.full(n, -1, dtype=np.int64)
    bulls = []
    for g in range(generations):
        lo, hi = starts[g], starts[g + 1]
        males = lo + np.flatnonzero(male[lo:hi])
        bulls.append(rng.choice(males, size=min(bulls_per_generation, males.size), replace=False))
        if g == 0:
            continue
        sire_pool = np.concatenate(bulls[max(0, g - 3):g])
        dam_lo = starts[max(0, g - 4)]
        dam_pool = dam_lo + np.flatnonzero(~male[dam_lo:lo])
        m = hi - lo
        sire[lo:hi] = rng.choice(sire_pool, size=m)
        dam[lo:hi] = rng.choice(dam_pool, size=m)
        sire[lo:hi][rng.random(m) < p_unknown] = -1
        dam[lo:hi][rng.random(m) < p_unknown] = -1
    return sire, dam
