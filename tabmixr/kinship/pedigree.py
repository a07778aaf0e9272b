"""The Pedigree object: numerator relationship matrix A through the compiled kernels.

With T the unit lower triangular gene-flow matrix and D the diagonal of
Mendelian-sampling variances (Henderson 1976), ``A = T D T'``.  Everything here
is computed from the parent indices without forming A: inbreeding by sire
groups on the sires' ancestry (all progeny of a sire at once, Colleau's
indirect method; fast in populations with few sires) or by Meuwissen & Luo's
(1992) ancestor tracing, whichever an O(n) cost bound prefers, ``A^-1`` by Henderson's rules with Quaas' (1976)
extension, ``A x`` by Colleau's (2002) indirect method, and
``log det A = sum(log d)``.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tabmixr import _kernels
from tabmixr.errors import PedigreeError
from tabmixr.kinship.ordering import OrderedPedigree, order_pedigree

__all__ = ["Pedigree"]

#: Largest pedigree for which :meth:`Pedigree.dense_a` builds A (n^2 doubles).
DENSE_A_MAX = 20_000


class Pedigree:
    """A validated pedigree in parents-before-offspring order.

    Every array and matrix is indexed in :attr:`ids` order (parents before
    offspring, added founders first), not in the input order; use
    :meth:`index_of` to map ids to positions.

    Args:
        ids: Animal ids, any hashable values, one per animal, in any order.
        sire: Sire id of each animal; None/NaN/NA (or one of ``unknown_codes``) if unknown.
        dam: Dam id of each animal, coded like ``sire``.
        unknown_codes: Extra values meaning "unknown parent", e.g. ``(0, "0")``.

    Raises:
        PedigreeError: duplicate or missing ids, self-parenting, a cycle.

    Warns:
        PedigreeWarning: parents absent from ``ids`` were added as founders.
    """

    def __init__(self, ids, sire, dam, unknown_codes=()):
        self._ordered: OrderedPedigree = order_pedigree(ids, sire, dam, unknown_codes)

    @classmethod
    def from_indices(cls, sire, dam) -> "Pedigree":
        """Build from integer parent indices already ordered parents-before-offspring.

        Args:
            sire: int array, ``sire[i]`` in ``[0, i)`` or ``-1`` for unknown.
            dam: int array coded like ``sire``.

        Returns:
            A Pedigree whose ids are ``0 .. n-1``.

        Raises:
            PedigreeError: a parent index is not ``-1`` or smaller than its offspring's.
        """
        sire = np.ascontiguousarray(sire, dtype=np.int64)
        dam = np.ascontiguousarray(dam, dtype=np.int64)
        n = sire.shape[0]
        if sire.shape != (n,) or dam.shape != (n,):
            raise PedigreeError(f"sire and dam must be 1-D of equal length, got shapes "
                                f"{sire.shape} and {dam.shape}")
        rows = np.arange(n)
        bad = np.flatnonzero((sire < -1) | (sire >= rows) | (dam < -1) | (dam >= rows))
        if bad.size:
            i = int(bad[0])
            raise PedigreeError(f"animal {i} has parents ({int(sire[i])}, {int(dam[i])}); parent "
                                f"indices must be -1 or smaller than the animal's own index")
        self = cls.__new__(cls)
        ids = np.empty(n, dtype=object)
        ids[:] = list(range(n))
        self._ordered = OrderedPedigree(ids, sire, dam, ())
        return self

    # --- structure -------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of animals (added founders included)."""
        return int(self._ordered.sire.shape[0])

    @property
    def ids(self) -> np.ndarray:
        """Ids in kernel order (parents before offspring)."""
        return self._ordered.ids

    @property
    def sire(self) -> np.ndarray:
        """int64 sire index of each animal in :attr:`ids` order, ``-1`` unknown."""
        return self._ordered.sire

    @property
    def dam(self) -> np.ndarray:
        """int64 dam index of each animal in :attr:`ids` order, ``-1`` unknown."""
        return self._ordered.dam

    @property
    def added_founders(self) -> tuple:
        """Parents that were absent from the input ids and were added as founders."""
        return self._ordered.added

    def index_of(self, ids) -> np.ndarray:
        """Positions of ``ids`` in :attr:`ids` order.

        Args:
            ids: A sequence of animal ids.

        Returns:
            int64 array of positions.

        Raises:
            PedigreeError: an id is not in the pedigree.
        """
        wanted = np.empty(len(ids), dtype=object)
        wanted[:] = list(ids)
        out = self._index.get_indexer(wanted).astype(np.int64)
        if (out < 0).any():
            raise PedigreeError(f"id {wanted[np.flatnonzero(out < 0)[0]]!r} is not in the pedigree")
        return out

    @cached_property
    def _index(self) -> pd.Index:
        return pd.Index(self._ordered.ids)

    # --- numbers ---------------------------------------------------------
    @cached_property
    def _inbreeding_and_d(self) -> tuple[np.ndarray, np.ndarray]:
        return _kernels.pedigree_inbreeding(self.sire, self.dam)

    @property
    def inbreeding(self) -> np.ndarray:
        """Inbreeding coefficients F, ``A_ii = 1 + F_i`` (kernel method "auto")."""
        return self._inbreeding_and_d[0]

    @property
    def d(self) -> np.ndarray:
        """Mendelian-sampling variances d_i, the diagonal of D in ``A = T D T'``."""
        return self._inbreeding_and_d[1]

    @property
    def logdet(self) -> float:
        """``log det A = sum(log d)`` (det T = 1)."""
        return float(np.sum(np.log(self.d)))

    def ainv(self) -> sp.csc_array:
        """A^-1 by Henderson's rules with Quaas' inbreeding extension.

        Returns:
            Symmetric ``n x n`` CSC array, both triangles stored, rows sorted.
        """
        indptr, indices, data = _kernels.pedigree_ainv(self.sire, self.dam, self.d)
        return sp.csc_array((data, indices, indptr), shape=(self.n, self.n))

    def _product(self, kernel, x, name: str) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.ndim not in (1, 2) or x.shape[0] != self.n:
            raise PedigreeError(f"{name}: x must have shape ({self.n},) or ({self.n}, k) to "
                                f"match the pedigree's {self.n} animals, got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise PedigreeError(f"{name}: x holds NaN or Inf")
        return kernel(self.sire, self.dam, self.d, x)

    def a_times(self, x) -> np.ndarray:
        """``A x`` by Colleau's indirect method (``T D T' x``), O(n k), A never formed.

        Args:
            x: array of shape ``(n,)`` or ``(n, k)`` in :attr:`ids` order.

        Returns:
            Array of the same shape.

        Raises:
            PedigreeError: x has the wrong shape or non-finite values.
        """
        return self._product(_kernels.pedigree_a_times, x, "a_times")

    def ainv_times(self, x) -> np.ndarray:
        """``A^-1 x = (I - P)' D^-1 (I - P) x``, O(n k), A^-1 never formed.

        Args:
            x: array of shape ``(n,)`` or ``(n, k)`` in :attr:`ids` order.

        Returns:
            Array of the same shape.

        Raises:
            PedigreeError: x has the wrong shape or non-finite values.
        """
        return self._product(_kernels.pedigree_ainv_times, x, "ainv_times")

    def dense_a(self, max_n: int = DENSE_A_MAX) -> np.ndarray:
        """Dense A by the tabular method, for small pedigrees.

        Args:
            max_n: refuse pedigrees larger than this (A takes ``8 n^2`` bytes).

        Returns:
            ``n x n`` float64 array.

        Raises:
            PedigreeError: the pedigree has more than ``max_n`` animals.
        """
        if self.n > max_n:
            raise PedigreeError(f"dense_a: the pedigree has {self.n} animals (> max_n = {max_n}); "
                                f"use a_times / ainv() instead or raise max_n")
        return _kernels.pedigree_dense_a(self.sire, self.dam)

    def __repr__(self) -> str:
        return (f"Pedigree(n={self.n}, founders={int(np.sum((self.sire < 0) & (self.dam < 0)))}, "
                f"added_founders={len(self.added_founders)})")
