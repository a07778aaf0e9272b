"""Pedigree validation and ordering: ids to integer parent indices, parents first.

The compiled kernels (``tabmixr._kernels.pedigree_*``) take integer ``sire``
and ``dam`` arrays (``-1`` unknown) in which every parent precedes its
offspring.  This module turns a user's ``(id, sire, dam)`` columns, in any
order, into that form, refusing what cannot be repaired and repairing (with a
warning) what can.
"""

from __future__ import annotations

import warnings
from collections import deque
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tabmixr.errors import PedigreeError, PedigreeWarning

__all__ = ["OrderedPedigree", "order_pedigree"]


@dataclass(frozen=True)
class OrderedPedigree:
    """A pedigree in parents-before-offspring order.

    Attributes:
        ids: object array of ids in kernel order: by generation number,
            added founders first among the founders, input order within a
            generation.
        sire: int64 index of each animal's sire in ``ids``, ``-1`` unknown.
        dam: int64 index of each animal's dam in ``ids``, ``-1`` unknown.
        added: ids of parents that were missing from ``id`` and were added as founders.
    """

    ids: np.ndarray
    sire: np.ndarray
    dam: np.ndarray
    added: tuple


def _unknown_mask(values: np.ndarray, unknown_codes) -> np.ndarray:
    """True where ``values`` is None/NaN/NA or one of ``unknown_codes``."""
    mask = np.asarray(pd.isna(values), dtype=bool)
    if len(unknown_codes):
        codes = set(unknown_codes)
        mask |= np.fromiter((v in codes for v in values), dtype=bool, count=len(values))
    return mask


def _as_object_array(name: str, values) -> np.ndarray:
    if isinstance(values, (str, bytes)):
        raise PedigreeError(f"pedigree column '{name}' must be a sequence of ids, got a string")
    values = list(values.tolist() if hasattr(values, "tolist") else values)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _generations(sire: np.ndarray, dam: np.ndarray, max_sweeps: int) -> np.ndarray | None:
    """Generation numbers (founders 0) by vectorized relaxation; None if not settled."""
    gen = np.zeros(len(sire), dtype=np.int64)
    has_s, has_d = sire >= 0, dam >= 0
    for _ in range(max_sweeps):
        new = np.zeros_like(gen)
        new[has_s] = gen[sire[has_s]] + 1
        new[has_d] = np.maximum(new[has_d], gen[dam[has_d]] + 1)
        if np.array_equal(new, gen):
            return gen
        gen = new
    return None


def _kahn_order(sire: np.ndarray, dam: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Topological order (parents first) by Kahn's algorithm; PedigreeError on a cycle."""
    n = len(sire)
    children: list[list[int]] = [[] for _ in range(n)]
    waiting = np.zeros(n, dtype=np.int64)
    for i in range(n):
        for p in {int(sire[i]), int(dam[i])} - {-1}:
            children[p].append(i)
            waiting[i] += 1
    queue = deque(np.flatnonzero(waiting == 0).tolist())
    order = []
    while queue:
        a = queue.popleft()
        order.append(a)
        for child in children[a]:
            waiting[child] -= 1
            if waiting[child] == 0:
                queue.append(child)
    if len(order) < n:
        # Every animal left has a parent left: walk up parents until one repeats.
        remaining = waiting > 0
        node, path, seen = int(np.flatnonzero(remaining)[0]), [], {}
        while node not in seen:
            seen[node] = len(path)
            path.append(node)
            node = next(p for p in (int(sire[node]), int(dam[node])) if p >= 0 and remaining[p])
        cycle = path[seen[node]:]
        text = " -> ".join(repr(labels[a]) for a in cycle + [cycle[0]])
        raise PedigreeError(f"the pedigree has a cycle ('a -> b' reads 'b is a parent of a'): "
                            f"{text}; an animal cannot be its own ancestor")
    return np.asarray(order, dtype=np.int64)


def order_pedigree(ids, sire, dam, unknown_codes=()) -> OrderedPedigree:
    """Validate a pedigree and put parents before offspring.

    Animals are sorted by generation number (founders 0, otherwise one more
    than the later-born parent), keeping the input order within a generation;
    parents absent from ``ids`` come first.

    Args:
        ids: Animal ids (any hashable values), one per animal.
        sire: Sire id of each animal; None/NaN/NA (or one of ``unknown_codes``) if unknown.
        dam: Dam id of each animal, coded like ``sire``.
        unknown_codes: Extra values that mean "unknown parent".

    Returns:
        An :class:`OrderedPedigree`.

    Raises:
        PedigreeError: the columns differ in length, an id is missing or
            duplicated, an animal is its own parent, or the pedigree has a
            cycle (the message lists the ids on it).

    Warns:
        PedigreeWarning: parents absent from ``ids`` were added as founders.
    """
    ids = _as_object_array("id", ids)
    sire, dam = _as_object_array("sire", sire), _as_object_array("dam", dam)
    if not (len(ids) == len(sire) == len(dam)):
        raise PedigreeError(f"pedigree columns differ in length: id {len(ids)}, sire "
                            f"{len(sire)}, dam {len(dam)}")
    missing_id = np.flatnonzero(_unknown_mask(ids, unknown_codes))
    if missing_id.size:
        raise PedigreeError(f"pedigree row {missing_id[0]} has a missing id; every animal "
                            f"needs an id")
    index = pd.Index(ids)
    if not index.is_unique:
        dup = ids[np.flatnonzero(index.duplicated())[0]]
        rows = np.flatnonzero(index == dup) if len(ids) < 10**7 else []
        raise PedigreeError(f"duplicate id {dup!r} in the pedigree (rows "
                            f"{', '.join(str(r) for r in rows[:5])}); each animal must appear once")
    parent_codes, unknown = [], []
    for role, column in (("sire", sire), ("dam", dam)):
        mask = _unknown_mask(column, unknown_codes)
        codes = np.full(len(ids), -1, dtype=np.int64)
        if (~mask).any():
            codes[~mask] = index.get_indexer(column[~mask])
        own = np.flatnonzero(codes == np.arange(len(ids)))
        if own.size:
            raise PedigreeError(f"animal {ids[own[0]]!r} is its own {role}")
        parent_codes.append(codes)
        unknown.append(mask)
    absent = [col[(codes < 0) & ~mask] for col, codes, mask in zip((sire, dam), parent_codes,
                                                                    unknown)]
    absent_ids = np.concatenate(absent)
    added = pd.unique(absent_ids) if len(absent_ids) else np.empty(0, dtype=object)
    n_added = len(added)
    if n_added:
        shown = ", ".join(repr(a) for a in added[:10]) + (" ..." if n_added > 10 else "")
        warnings.warn(f"{n_added} parent(s) absent from the pedigree's ids were added as "
                      f"founders: {shown}", PedigreeWarning, stacklevel=3)
    # Codes over all animals: added founders 0 .. n_added-1, then the input rows.
    labels = np.concatenate([np.asarray(added, dtype=object), ids])
    full = pd.Index(labels)
    parents = []
    for column, codes, mask in zip((sire, dam), parent_codes, unknown):
        c = np.where(codes >= 0, codes + n_added, -1)
        lost = (codes < 0) & ~mask
        if lost.any():
            c[lost] = full.get_indexer(column[lost])
        parents.append(np.concatenate([np.full(n_added, -1, dtype=np.int64), c]))
    s_all, d_all = parents
    gen = _generations(s_all, d_all, max_sweeps=200)
    if gen is None:
        order = _kahn_order(s_all, d_all, labels)  # deep pedigree, or a cycle
    else:
        order = np.argsort(gen, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    remap = lambda c: np.where(c >= 0, rank[np.maximum(c, 0)], -1)  # noqa: E731
    return OrderedPedigree(labels[order], remap(s_all[order]), remap(d_all[order]),
                           tuple(added.tolist() if hasattr(added, "tolist") else added))
