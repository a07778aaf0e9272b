"""Relationship structures of ``kin()`` terms, resolved from ``relmat=`` at design time.

``kin(1 | animal, pedigree = ped)`` or ``kin(1 | animal, matrix = K)`` names an
object passed to the fit as ``relmat={"ped": pedigree_df}``; with neither
argument the grouping factor's name is looked up (``relmat={"animal": ...}``),
as in pedigreemm.  Two sources are accepted:

* a pedigree: a data frame with ``id``, ``sire`` and ``dam`` columns (unknown
  parents missing) or a ``tabmixr.kinship.Pedigree``.  The prior covers every
  pedigree animal, ancestors without records included; the term's levels map
  into them (``Relationship.level_index``).  ``A`` is never formed: the
  engines use ``A^-1`` (Henderson/Quaas) and ``log det A = sum(log d)``.
* a relationship or genomic matrix: a data frame with the ids as index and
  columns, or a NumPy array whose rows and columns follow the term's levels
  (sorted, as ``ranef`` prints them).  It is restricted to the levels in the
  data (exact for a Gaussian prior: the other animals integrate out) and
  must be symmetric and positive definite there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd
import scipy.linalg as la
import scipy.sparse as sp

from tabmixr.design.design import RandomTermDesign
from tabmixr.design.factors import level_label
from tabmixr.errors import PedigreeError, RelationshipError
from tabmixr.kinship.observed import ObservedPrecision
from tabmixr.kinship.pedigree import Pedigree

__all__ = ["Relationship", "attach_relationships", "resolve_relationship"]

#: Columns of a pedigree data frame (matched case-insensitively).
PEDIGREE_COLUMNS = ("id", "sire", "dam")
#: Largest ``max|K - K^T| / max|K|`` accepted as symmetric.
SYMMETRY_TOL = 1e-8
#: How many missing ids a message lists.
SHOW_IDS = 5


@dataclass(frozen=True, eq=False)
class Relationship:
    """The relationship matrix ``A`` of one ``kin()`` term, aligned with its levels.

    Attributes:
        term: The term as written, for messages.
        name: Key of the object in ``relmat``.
        source: ``"pedigree"`` or ``"matrix"``.
        ids: Labels of the ``n`` animals the prior covers: every pedigree
            animal (parents before offspring) or the term's levels (matrix).
        level_index: Position in ``ids`` of each level of the term, ``(n_levels,)``.
        pedigree: The ``Pedigree`` (pedigree source), else ``None``.
        factor: Lower Cholesky factor of the matrix restricted to the levels
            (matrix source), else ``None``.
    """

    term: str
    name: str
    source: str
    ids: tuple[str, ...]
    level_index: np.ndarray
    pedigree: Pedigree | None = None
    factor: np.ndarray | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        """Number of animals the prior covers (``>= n_levels`` for a pedigree)."""
        return len(self.ids)

    @property
    def logdet(self) -> float:
        """``log det A`` over the ``n`` animals."""
        if self.pedigree is not None:
            return self.pedigree.logdet
        return float(2.0 * np.sum(np.log(np.diag(self.factor))))

    def precision(self) -> sp.csc_array:
        """``A^-1`` over the ``n`` animals, sparse for a pedigree (dense pattern for a matrix).

        Returns:
            Symmetric CSC array, both triangles stored (computed once, then cached).
        """
        if "precision" not in self._cache:
            if self.pedigree is not None:
                Q = self.pedigree.ainv()
            else:
                eye = np.eye(self.n)
                Q = la.cho_solve((self.factor, True), eye, check_finite=False)
                Q = sp.csc_array(0.5 * (Q + Q.T))
            self._cache["precision"] = Q
        return self._cache["precision"]

    def observed_precision(self) -> ObservedPrecision:
        """``A[levels, levels]^-1`` as an operator (the prior's precision over the levels).

        For a pedigree it is the Schur complement of the ancestors without
        records in the sparse ``A^-1``; no dense ``A`` is formed.  Cached.
        """
        if "observed" not in self._cache:
            self._cache["observed"] = (
                ObservedPrecision.from_precision(self.precision(), self.logdet, self.level_index)
                if self.pedigree is not None else ObservedPrecision.from_factor(self.factor))
        return self._cache["observed"]

    def covariance_times(self, x: np.ndarray) -> np.ndarray:
        """``A x`` for ``x`` of shape ``(n,)`` or ``(n, k)``, without forming ``A`` for a pedigree."""
        if self.pedigree is not None:
            return self.pedigree.a_times(x)
        return self.factor @ (self.factor.T @ np.asarray(x, dtype=float))

    def observed_covariance(self) -> np.ndarray:
        """Dense ``A[levels, levels]`` (small problems and tests).

        Raises:
            PedigreeError: the pedigree is too large for a dense ``A``.
        """
        if self.pedigree is not None:
            return self.pedigree.dense_a()[np.ix_(self.level_index, self.level_index)]
        return self.factor @ self.factor.T


def attach_relationships(terms: list[RandomTermDesign], relmat: Mapping[str, Any] | None) -> None:
    """Resolve the relationship of every ``kin()`` term and store it on the term.

    Args:
        terms: Materialized random-effect terms; ``kin`` ones get ``relationship`` set.
        relmat: Name -> pedigree data frame, ``Pedigree``, matrix or data frame.

    Raises:
        RelationshipError: see ``resolve_relationship``; also ``relmat`` not a mapping.
    """
    if relmat is not None and not isinstance(relmat, Mapping):
        raise RelationshipError(f"relmat must be a dict of name -> pedigree or matrix, got "
                                f"{type(relmat).__name__}")
    for term in terms:
        if term.term.covariance == "kin":
            term.relationship = resolve_relationship(term, relmat or {})


def resolve_relationship(term: RandomTermDesign, relmat: Mapping[str, Any]) -> Relationship:
    """The ``Relationship`` of one ``kin()`` term.

    Args:
        term: A materialized ``kin`` term (its levels are the animals with records).
        relmat: Name -> pedigree or matrix.

    Returns:
        The ``Relationship`` aligned with ``term.levels``.

    Raises:
        RelationshipError: the name is not in ``relmat``; the object is of the
            wrong kind; a level is not among its ids; the pedigree is malformed;
            the matrix is not square, finite, symmetric or positive definite.
    """
    label = term.term.text or f"kin(... | {term.group})"
    args = term.term.covariance_args
    kind = "pedigree" if "pedigree" in args else "matrix" if "matrix" in args else None
    name = args.get(kind, term.group) if kind else term.group
    if name not in relmat:
        given = ", ".join(map(repr, relmat)) or "none"
        raise RelationshipError(
            f"term {label} needs a pedigree or relationship matrix named {name!r}: pass "
            f"relmat={{{name!r}: ...}} to the fit (names given: {given})")
    obj = relmat[name]
    is_pedigree = isinstance(obj, Pedigree) or _pedigree_columns(obj) is not None
    if kind == "pedigree" and not is_pedigree:
        raise RelationshipError(
            f"relmat[{name!r}] for term {label} must be a pedigree (a data frame with columns "
            f"id, sire, dam, or a tabmixr.kinship.Pedigree), got {type(obj).__name__}; "
            f"use matrix = {name} for a relationship matrix")
    if is_pedigree and kind != "matrix":
        return _from_pedigree(label, name, obj, term)
    return _from_matrix(label, name, obj, term)


def _pedigree_columns(obj: Any) -> list[str] | None:
    """The id, sire, dam column names of a pedigree data frame, or ``None``."""
    if not isinstance(obj, pd.DataFrame):
        return None
    lower = {str(c).lower(): c for c in obj.columns}
    if all(c in lower for c in PEDIGREE_COLUMNS):
        return [lower[c] for c in PEDIGREE_COLUMNS]
    return None


def _missing_levels(label: str, name: str, levels: tuple[str, ...], found: np.ndarray,
                    what: str, fix: str) -> None:
    """Raise for levels of the term absent from the pedigree or matrix."""
    missing = [levels[i] for i in np.flatnonzero(found < 0)]
    if missing:
        shown = ", ".join(map(repr, missing[:SHOW_IDS])) + (" ..." if len(missing) > SHOW_IDS else "")
        raise RelationshipError(f"{len(missing)} level(s) of term {label} are not in {what} "
                                f"{name!r}: {shown}; {fix}")


def _from_pedigree(label: str, name: str, obj: Any, term: RandomTermDesign) -> Relationship:
    """Pedigree source: every pedigree animal, levels mapped into them."""
    try:
        if isinstance(obj, Pedigree):
            ped = obj
        else:
            cols = _pedigree_columns(obj)
            ped = Pedigree(obj[cols[0]].to_numpy(), obj[cols[1]].to_numpy(), obj[cols[2]].to_numpy())
    except PedigreeError as exc:
        raise RelationshipError(f"pedigree {name!r} of term {label}: {exc}") from None
    ids = pd.Index([level_label(v) for v in ped.ids])
    if not ids.is_unique:
        raise RelationshipError(f"pedigree {name!r} of term {label} has ids that print the same "
                                f"({ids[ids.duplicated()][0]!r}); make the ids distinct as text")
    found = ids.get_indexer(list(term.levels))
    _missing_levels(label, name, term.levels, found, "pedigree",
                    "add them to the pedigree (with missing sire and dam for founders)")
    return Relationship(term=label, name=name, source="pedigree", ids=tuple(ids),
                        level_index=found.astype(np.int64), pedigree=ped)


def _matrix_with_ids(label: str, name: str, obj: Any, term: RandomTermDesign):
    """``(K, ids)`` from a data frame (ids on both axes) or an array (term's level order)."""
    if isinstance(obj, pd.DataFrame):
        rows = pd.Index([level_label(v) for v in obj.index])
        cols = pd.Index([level_label(v) for v in obj.columns])
        if not rows.is_unique:
            raise RelationshipError(f"relationship matrix {name!r} of term {label} has duplicate "
                                    f"row id {rows[rows.duplicated()][0]!r}")
        if len(rows) != len(cols) or set(rows) != set(cols) or not cols.is_unique:
            raise RelationshipError(f"relationship matrix {name!r} of term {label} must have the "
                                    f"same ids as index and columns (got {len(rows)} row ids and "
                                    f"{len(cols)} column ids that differ)")
        K = obj.to_numpy(dtype=float, na_value=np.nan)[:, cols.get_indexer(rows)]
        return K, rows
    try:
        K = np.asarray(obj, dtype=float)
    except (TypeError, ValueError):
        raise RelationshipError(f"relmat[{name!r}] for term {label} must be a pedigree data frame, "
                                f"a matrix or a data frame, got {type(obj).__name__}") from None
    if K.ndim != 2 or K.shape != (term.n_levels, term.n_levels):
        raise RelationshipError(
            f"relationship matrix {name!r} of term {label} has shape {K.shape}, but the term has "
            f"{term.n_levels} levels: an array must be n_levels x n_levels in the order of the "
            f"levels; pass a data frame with the ids as index and columns instead")
    return K, pd.Index(term.levels)


def _from_matrix(label: str, name: str, obj: Any, term: RandomTermDesign) -> Relationship:
    """Matrix source: checked, restricted to the term's levels and factored."""
    K, ids = _matrix_with_ids(label, name, obj, term)
    if K.shape[0] != K.shape[1]:
        raise RelationshipError(f"relationship matrix {name!r} of term {label} is not square "
                                f"(shape {K.shape})")
    if not np.all(np.isfinite(K)):
        raise RelationshipError(f"relationship matrix {name!r} of term {label} has missing or "
                                f"infinite entries")
    scale = max(float(np.max(np.abs(K), initial=0.0)), np.finfo(float).tiny)
    asym = float(np.max(np.abs(K - K.T), initial=0.0)) / scale
    if asym > SYMMETRY_TOL:
        raise RelationshipError(f"relationship matrix {name!r} of term {label} is not symmetric "
                                f"(max |K - K^T| / max |K| = {asym:.3g}); pass a symmetric matrix")
    found = ids.get_indexer(list(term.levels))
    _missing_levels(label, name, term.levels, found, "relationship matrix",
                    "the matrix must have a row and column for every level in the data")
    K_obs = 0.5 * (K + K.T)[np.ix_(found, found)]
    try:
        factor = la.cholesky(K_obs, lower=True, check_finite=False)
    except la.LinAlgError:
        smallest = float(np.linalg.eigvalsh(K_obs)[0])
        raise RelationshipError(
            f"relationship matrix {name!r} of term {label} is not positive definite on the "
            f"{term.n_levels} levels in the data (smallest eigenvalue {smallest:.3g}); make it "
            f"positive definite, e.g. blend a genomic matrix with a pedigree one "
            f"(0.95 G + 0.05 A) or add a small value to its diagonal") from None
    return Relationship(term=label, name=name, source="matrix", ids=tuple(term.levels),
                        level_index=np.arange(term.n_levels, dtype=np.int64), factor=factor)
