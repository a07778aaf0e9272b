"""Random-effect terms: term model matrices and grouping-factor codes.

Grouping codes are computed with pandas/NumPy directly (formulaic is not
needed and would be slow on factors with thousands of levels).  An
interaction grouping ``a:b`` gets lme4's levels: R evaluates ``a:b`` on
factors, whose levels run through ``a`` slowest and ``b`` fastest
(``"x:u", "x:v", "y:u", ...``); unused combinations are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tabmixr.design.design import RandomTermDesign
from tabmixr.design.factors import factorize, level_label, match_levels
from tabmixr.design.model_matrix import ModelMatrixEncoding
from tabmixr.design.serialize import from_plain, to_plain
from tabmixr.errors import GroupingError
from tabmixr.formula.spec import RandomTerm


@dataclass
class GroupingEncoding:
    """Frozen levels of a grouping factor (one column or an interaction).

    Attributes:
        group: Name as lme4 prints it (``"Subject"``, ``"a:b"``).
        group_vars: The data columns combined.
        var_levels: Levels of each column (plain values, R order).
        keys: Sorted mixed-radix keys of the used level combinations.
        labels: Level labels, ``":"``-joined for interactions.
    """

    group: str
    group_vars: tuple[str, ...]
    var_levels: tuple[tuple[Any, ...], ...]
    keys: np.ndarray
    labels: tuple[str, ...]

    @classmethod
    def fit(cls, group: str, group_vars: tuple[str, ...], frame: pd.DataFrame) -> tuple["GroupingEncoding", np.ndarray]:
        """Learn the levels from the complete-case frame; return ``(encoding, codes)``."""
        per_var = [factorize(frame[v]) for v in group_vars]
        sizes = [len(levels) for _, levels in per_var]
        if float(np.prod([float(s) for s in sizes])) >= 2.0 ** 62:
            raise GroupingError(f"grouping factor {group!r} combines too many levels ({' x '.join(map(str, sizes))})")
        key = _combine([codes for codes, _ in per_var], sizes)
        if len(group_vars) == 1:
            keys = np.arange(sizes[0], dtype=np.int64)
            codes = key
        else:
            keys, codes = np.unique(key, return_inverse=True)
            codes = codes.astype(np.int64)
        var_levels = tuple(tuple(levels) for _, levels in per_var)
        labels = _labels(keys, var_levels, sizes)
        return cls(group=group, group_vars=tuple(group_vars), var_levels=var_levels,
                   keys=keys.astype(np.int64), labels=labels), codes

    def codes(self, frame: pd.DataFrame) -> np.ndarray:
        """Level index of each row of new data; ``-1`` for unseen or missing levels."""
        per_var = [match_levels(frame[v], list(levels)) for v, levels in zip(self.group_vars, self.var_levels)]
        sizes = [len(levels) for levels in self.var_levels]
        valid = np.logical_and.reduce([c >= 0 for c in per_var])
        key = _combine([np.where(valid, c, 0) for c in per_var], sizes)
        pos = np.searchsorted(self.keys, key)
        pos = np.minimum(pos, len(self.keys) - 1)
        found = valid & (self.keys[pos] == key)
        return np.where(found, pos, -1).astype(np.int64)

    def raw_labels(self, frame: pd.DataFrame, rows: np.ndarray) -> list[str]:
        """Labels of the given rows of new data (for messages about new levels)."""
        parts = [[("NA" if pd.isna(v) else level_label(v)) for v in frame[v].iloc[rows]] for v in self.group_vars]
        return [":".join(p) for p in zip(*parts)]

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-serializable)."""
        return {"group": self.group, "group_vars": list(self.group_vars),
                "var_levels": [to_plain(list(v)) for v in self.var_levels],
                "keys": [int(k) for k in self.keys], "labels": list(self.labels)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GroupingEncoding":
        """Rebuild from ``to_dict`` output."""
        return cls(group=d["group"], group_vars=tuple(d["group_vars"]),
                   var_levels=tuple(tuple(from_plain(v)) for v in d["var_levels"]),
                   keys=np.asarray(d["keys"], dtype=np.int64), labels=tuple(d["labels"]))


def _combine(codes: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    key = codes[0].astype(np.int64)
    for c, s in zip(codes[1:], sizes[1:]):
        key = key * s + c
    return key


def _labels(keys: np.ndarray, var_levels, sizes: list[int]) -> tuple[str, ...]:
    if len(var_levels) == 1:
        return tuple(level_label(v) for v in var_levels[0])
    digits = []
    rest = keys.copy()
    for s in reversed(sizes):
        digits.append(rest % s)
        rest = rest // s
    digits.reverse()
    text = [np.asarray([level_label(v) for v in levels], dtype=object)[d] for levels, d in zip(var_levels, digits)]
    return tuple(":".join(parts) for parts in zip(*text))


@dataclass
class RandomTermEncoding:
    """Frozen encoding of one random-effect term: its left side and its groups."""

    term: RandomTerm
    lhs: ModelMatrixEncoding
    grouping: GroupingEncoding

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-serializable)."""
        t = self.term
        return {"term": {"lhs": t.lhs, "group": t.group, "group_vars": list(t.group_vars),
                         "covariance": t.covariance, "covariance_args": to_plain(dict(t.covariance_args)),
                         "text": t.text, "from_double_bar": t.from_double_bar},
                "lhs": self.lhs.to_dict(), "grouping": self.grouping.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RandomTermEncoding":
        """Rebuild from ``to_dict`` output."""
        t = d["term"]
        term = RandomTerm(lhs=t["lhs"], group=t["group"], group_vars=tuple(t["group_vars"]),
                          covariance=t["covariance"], covariance_args=from_plain(t["covariance_args"]),
                          text=t["text"], from_double_bar=t["from_double_bar"])
        return cls(term=term, lhs=ModelMatrixEncoding.from_dict(d["lhs"]),
                   grouping=GroupingEncoding.from_dict(d["grouping"]))


def term_label(term: RandomTerm) -> str:
    """How a term is named in messages."""
    return term.text or f"({term.lhs} | {term.group})"


def build_random_terms(terms: tuple[RandomTerm, ...], frame: pd.DataFrame
                       ) -> tuple[list[RandomTermDesign], list[RandomTermEncoding]]:
    """Materialize every term, in lme4's order (see ``lme4_term_order``).

    Term model matrices and groupings are shared between terms with the same
    left side or the same grouping columns.

    Returns:
        ``(designs, encodings)``, aligned.
    """
    lhs_cache: dict[str, tuple[ModelMatrixEncoding, np.ndarray]] = {}
    group_cache: dict[tuple[str, ...], tuple[GroupingEncoding, np.ndarray]] = {}
    built: list[tuple[RandomTermDesign, RandomTermEncoding]] = []
    for term in terms:
        if term.lhs not in lhs_cache:
            lhs_cache[term.lhs] = ModelMatrixEncoding.fit(term.lhs, frame, f"random term {term_label(term)}")
        lhs, X = lhs_cache[term.lhs]
        if lhs.offsets:
            raise GroupingError(f"offset() is not allowed inside random term {term_label(term)}")
        key = tuple(term.group_vars)
        if key not in group_cache:
            group_cache[key] = GroupingEncoding.fit(term.group, key, frame)
        grouping, codes = group_cache[key]
        design = RandomTermDesign(term=term, group=term.group, columns=lhs.columns, X=X,
                                  codes=codes, levels=grouping.labels)
        built.append((design, RandomTermEncoding(term=term, lhs=lhs, grouping=grouping)))
    order = lme4_term_order([d.n_levels for d, _ in built])
    return [built[i][0] for i in order], [built[i][1] for i in order]


def lme4_term_order(n_levels: list[int]) -> list[int]:
    """lme4's term order (``mkReTrms``): decreasing number of levels.

    lme4 reorders only when some term has more levels than the one before it,
    and then uses ``rev(order(nl))``: ties come out in *reverse* order of
    appearance (``(x || g) + (1 | site)`` gives ``site``, ``x | g``,
    ``1 | g``).  Otherwise the written order is kept.

    Args:
        n_levels: Number of levels of each term's grouping factor, as written.

    Returns:
        Indices of the terms in lme4's order.
    """
    k = len(n_levels)
    if not any(n_levels[i + 1] > n_levels[i] for i in range(k - 1)):
        return list(range(k))
    ascending = sorted(range(k), key=lambda i: n_levels[i])  # R's order() is stable
    return ascending[::-1]


def check_grouping(terms: list[RandomTermDesign], n: int) -> None:
    """lme4's checks on grouping factors (``check.nlev.gtr.1``, ``check.nobs.vs.nlev``).

    A ``kin()`` term may have one level per observation (the animal model):
    its relationship matrix identifies the variance, as in pedigreemm; so may an
    ``spde()`` term (one observation per site), whose field's correlation does.

    Raises:
        GroupingError: A grouping factor has fewer than 2 levels, or at least
            as many levels as observations (terms other than ``kin()``, ``spde()``).
    """
    for t in terms:
        if t.n_levels < 2:
            raise GroupingError(f"grouping factor {t.group!r} in term {term_label(t.term)} has "
                                f"{t.n_levels} level(s); grouping factors must have > 1 sampled level")
        if t.n_levels >= n and t.term.covariance not in ("kin", "spde"):
            raise GroupingError(f"number of levels of each grouping factor must be < number of observations "
                                f"(grouping factor {t.group!r} has {t.n_levels} levels for {n} observations "
                                f"in term {term_label(t.term)})")
