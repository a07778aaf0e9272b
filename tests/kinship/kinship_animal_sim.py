"""Simulated animal-model data and an independent dense (RE)ML reference for the kinship tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from kernels.kinship_sim import simulate_pedigree, tabular_a


@dataclass
class AnimalModelData:
    """One simulated data set.

    Attributes:
        data: Records: ``animal`` (id text), ``sex`` (0/1), ``y``.
        pedigree: ``id``, ``sire``, ``dam`` (missing parents as None).
        sire, dam: Integer parents (``-1`` unknown), ids ``"a<i>"`` in this order.
        records: Index of the animal of every record.
        breeding_values: True additive effects of every animal.
        va, ve: True additive and residual variances.
        A: Dense relationship matrix of every animal (tabular method).
    """

    data: pd.DataFrame
    pedigree: pd.DataFrame
    sire: np.ndarray
    dam: np.ndarray
    records: np.ndarray
    breeding_values: np.ndarray
    va: float
    ve: float
    A: np.ndarray

    def dense_a_records(self) -> np.ndarray:
        """Dense ``A`` between the animals of the records: ``K = Z A Z^T``."""
        return self.A[np.ix_(self.records, self.records)]


def simulate_sire_pedigree(n_founders: int, n_generations: int, per_generation: int,
                           n_sires: int, seed: int, p_unknown_dam: float = 0.1):
    """Integer pedigree (sire, dam) of a breeding population, parents before offspring.

    Every generation's offspring have one of ``n_sires`` sires and a random
    dam, both drawn from the previous generation (half-sib families, as in
    livestock); a fraction of dams is unknown.
    """
    rng = np.random.default_rng(seed)
    sire = [np.full(n_founders, -1, dtype=np.int64)]
    dam = [np.full(n_founders, -1, dtype=np.int64)]
    lo, size = 0, n_founders
    for _ in range(n_generations):
        sires = rng.choice(np.arange(lo, lo + size), size=min(n_sires, size), replace=False)
        s = rng.choice(sires, per_generation)
        d = rng.integers(lo, lo + size, per_generation)
        d = np.where(d == s, (d + 1 - lo) % size + lo, d)
        d[rng.random(per_generation) < p_unknown_dam] = -1
        sire.append(s)
        dam.append(d)
        lo, size = lo + size, per_generation
    return np.concatenate(sire), np.concatenate(dam)


def simulate_animal_model(n_founders: int, n_generations: int, per_generation: int, h2: float,
                          seed: int, n_sires: int | None = None, repeats: int = 1) -> AnimalModelData:
    """``y = 10 + 0.5 sex + a + e`` with ``a ~ N(0, h2 A)``, ``e ~ N(0, 1 - h2)``.

    The pedigree comes from ``simulate_sire_pedigree`` when ``n_sires`` is
    given, else from the kernels' ``simulate_pedigree`` (random matings, some
    inbreeding).  Founders have no records (they are ancestors only); every
    later animal has ``repeats`` records.  Breeding values follow the pedigree recursion
    ``a_i = (a_sire + a_dam) / 2 + m_i``, ``m_i ~ N(0, d_i va)`` with the
    Mendelian-sampling variances ``d_i`` computed here from the tabular ``A``'s
    parents' inbreeding (tabular ``A``), independently of the compiled kernels.
    """
    rng = np.random.default_rng(seed)
    if n_sires is None:
        sire, dam = simulate_pedigree(n_founders, n_generations, per_generation, seed=seed)
    else:
        sire, dam = simulate_sire_pedigree(n_founders, n_generations, per_generation, n_sires, seed)
    n = len(sire)
    va, ve = h2, 1.0 - h2
    A = tabular_a(sire, dam)
    inbreeding = np.diag(A) - 1.0
    a = np.zeros(n)
    for i in range(n):
        known = [p for p in (sire[i], dam[i]) if p >= 0]
        d_i = 1.0 - 0.25 * sum(1.0 + inbreeding[p] for p in known) if known else 1.0
        a[i] = 0.5 * sum(a[p] for p in known) + np.sqrt(d_i * va) * rng.standard_normal()
    records = np.repeat(np.arange(n_founders, n), repeats)
    sex = rng.integers(0, 2, len(records))
    y = 10.0 + 0.5 * sex + a[records] + np.sqrt(ve) * rng.standard_normal(len(records))
    ids = np.array([f"a{i}" for i in range(n)], dtype=object)
    pedigree = pd.DataFrame({"id": ids, "sire": [ids[p] if p >= 0 else None for p in sire],
                             "dam": [ids[p] if p >= 0 else None for p in dam]})
    data = pd.DataFrame({"animal": ids[records], "sex": sex, "y": y})
    return AnimalModelData(data, pedigree, sire, dam, records, a, va, ve, A)


def dense_reference(y: np.ndarray, X: np.ndarray, K: np.ndarray, reml: bool, eig=None) -> dict:
    """Profiled (RE)ML of ``y ~ N(X beta, s2 (g K + I))`` by one dense eigendecomposition.

    ``V = sa2 K + se2 I`` with ``K = Z A Z^T``; ``se2`` is profiled out and
    ``g = sa2 / se2`` optimized by Brent's method on ``log g``.  The criterion
    is lme4's: ML ``log|V| + r'V^-1 r + n log(2 pi)`` at the optimum, REML adds
    ``log|X'V^-1 X|`` with ``n - p`` for ``n``.

    Args:
        eig: ``np.linalg.eigh(K)`` when already computed.

    Returns:
        ``{"criterion", "va", "ve", "beta"}``.
    """
    n, p = X.shape
    s, U = np.linalg.eigh(K) if eig is None else eig
    yt, Xt = U.T @ y, U.T @ X
    dof = n - p if reml else n

    def profiled(g):
        h = g * s + 1.0
        XtHX = Xt.T @ (Xt / h[:, None])
        beta = np.linalg.solve(XtHX, Xt.T @ (yt / h))
        r = yt - Xt @ beta
        s2 = np.sum(r * r / h) / dof
        value = np.sum(np.log(h)) + dof * (1.0 + np.log(2.0 * np.pi * s2))
        if reml:
            value += np.linalg.slogdet(XtHX)[1]
        return value, s2, beta

    res = minimize_scalar(lambda lg: profiled(np.exp(lg))[0], bounds=(-12.0, 6.0),
                          method="bounded", options={"xatol": 1e-11})
    g = float(np.exp(res.x))
    value, s2, beta = profiled(g)
    return {"criterion": float(value), "va": g * s2, "ve": float(s2), "beta": beta}
