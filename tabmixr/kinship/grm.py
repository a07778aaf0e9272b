"""Genomic relationship matrix (VanRaden 2008, method 1) from 0/1/2 genotypes."""

from __future__ import annotations

import warnings

import numpy as np

from tabmixr.errors import GenotypeError, GenotypeWarning

__all__ = ["vanraden_grm"]


def _checked_genotypes(M, missing, dosage: bool) -> tuple[np.ndarray, np.ndarray]:
    M = np.array(M, dtype=np.float64, copy=True)
    if M.ndim != 2 or M.shape[0] < 1 or M.shape[1] < 1:
        raise GenotypeError(f"genotypes must be a 2-D (animals x markers) matrix with at least "
                            f"one of each, got shape {M.shape}")
    observed = np.isfinite(M)
    if missing is not None:
        observed &= M != missing
    nonfinite = np.isinf(M) & observed
    if nonfinite.any():
        i, j = np.argwhere(nonfinite)[0]
        raise GenotypeError(f"genotype of animal {i} at marker {j} is infinite")
    if dosage:
        bad = observed & ((M < 0) | (M > 2))
        allowed = "a dosage in [0, 2]"
    else:
        bad = observed & (M != 0) & (M != 1) & (M != 2)
        allowed = "0, 1 or 2"
    if bad.any():
        i, j = np.argwhere(bad)[0]
        code = "NaN" if missing is None else f"NaN or {missing!r}"
        raise GenotypeError(f"genotype of animal {i} at marker {j} is {float(M[i, j]):g}; expected "
                            f"{allowed} or missing ({code})")
    return M, observed


def vanraden_grm(M, p=None, missing=None, dosage: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Genomic relationship matrix ``G = Z Z' / (2 sum_j p_j (1 - p_j))`` (VanRaden 2008, method 1).

    ``Z = M - 2 p`` column-wise, with ``p_j`` the frequency of the counted
    allele at marker j.  Missing genotypes are mean-imputed per marker: they
    are set to ``2 p_j`` (with ``p_j`` from the observed genotypes), so their
    entry of Z is 0.  Markers with no observed genotype are dropped with a
    warning; monomorphic markers contribute nothing to either part.

    Args:
        M: ``(n_animals, n_markers)`` genotype counts 0/1/2; NaN (or ``missing``)
            marks a missing call.
        p: Optional allele frequencies (length ``n_markers``, in ``[0, 1]``), e.g.
            base-population ones; default: observed frequencies ``mean(M_j) / 2``.
        missing: An extra code meaning "missing" (e.g. ``-9`` or ``5``).
        dosage: Accept fractional dosages in ``[0, 2]`` instead of integer counts.

    Returns:
        ``(G, p)``: the ``n x n`` matrix and the allele frequencies used.

    Raises:
        GenotypeError: M is not 2-D, a code is not 0/1/2 (naming animal and
            marker), ``p`` has the wrong length or lies outside [0, 1], or every
            marker is monomorphic so the scaling is zero.
    """
    M, observed = _checked_genotypes(M, missing, dosage)
    n_obs = observed.sum(axis=0)
    keep = n_obs > 0
    if not keep.all():
        dropped = np.flatnonzero(~keep)
        warnings.warn(f"{dropped.size} marker(s) with no observed genotype were dropped "
                      f"(first: marker {dropped[0]})", GenotypeWarning, stacklevel=2)
    Mz = np.where(observed, M, 0.0)
    if p is None:
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.where(keep, Mz.sum(axis=0) / np.maximum(n_obs, 1) / 2.0, 0.0)
    else:
        p = np.asarray(p, dtype=np.float64)
        if p.shape != (M.shape[1],):
            raise GenotypeError(f"allele frequencies p must have length {M.shape[1]} (one per "
                                f"marker), got shape {p.shape}")
        bad = np.flatnonzero(~np.isfinite(p) | (p < 0) | (p > 1))
        if bad.size:
            raise GenotypeError(f"allele frequency of marker {bad[0]} is {float(p[bad[0]]):g}; "
                                f"expected a value in [0, 1]")
    Z = np.where(observed, M - 2.0 * p, 0.0)[:, keep]
    scale = 2.0 * float(np.sum(p[keep] * (1.0 - p[keep])))
    if not scale > 0.0:
        raise GenotypeError("every marker is monomorphic (sum 2 p (1 - p) = 0); G is undefined")
    return (Z @ Z.T) / scale, p
