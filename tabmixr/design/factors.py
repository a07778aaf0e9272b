"""Encoding of one formula factor: a data column or an expression.

A *factor* in formulaic's sense is one variable of a term: ``Days``, ``sex``,
``log(x + 1)``, ``poly(x, 2)`` or ``C(f, Sum)``.  A ``FactorEncoding`` is its
frozen state: numeric (one or more columns) or categorical (levels plus
contrasts).  Plain columns are read with pandas directly (fast); expressions are
materialized by formulaic, whose ``ModelSpec`` keeps stateful transforms
(``poly``, ``center``, ``C(..., levels=)``) for new data.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from formulaic import ModelSpec, model_matrix
from formulaic.parser.types import Factor
from formulaic.transforms.contrasts import (HelmertContrasts, PolyContrasts, SASContrasts,
                                            SumContrasts, TreatmentContrasts)

from tabmixr.design.columns import FORMULA_CONTEXT
from tabmixr.design.formula_text import r_power_to_python
from tabmixr.design.serialize import from_plain, to_plain
from tabmixr.errors import DesignError

NUMERIC = "numeric"
CATEGORICAL = "categorical"
LOOKUP = "lookup"
FORMULAIC = "formulaic"


def level_label(value: Any) -> str:
    """A level as R prints it: ``TRUE``/``FALSE``, ``3`` for 3.0, ``0.5``, text."""
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return str(int(value)) if value.is_integer() else format(value, ".15g")
    return str(value)


def plain_level(value: Any) -> Any:
    """A level as a plain Python scalar (NumPy scalars unwrapped)."""
    return value.item() if isinstance(value, np.generic) else value


def factorize(column: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """Codes and levels of a column in R's level order; unused levels dropped.

    Categoricals keep their category order; booleans are ``[False, True]``;
    anything else is sorted (numerically for numbers).  Missing values get
    code ``-1``.

    Returns:
        ``(codes, levels)`` with ``codes`` int64 in ``[-1, len(levels))``.
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        raw = column.cat.codes.to_numpy().astype(np.int64)
        used = np.zeros(len(column.cat.categories) + 1, dtype=bool)
        used[raw] = True  # raw == -1 marks the extra slot
        used = used[:-1]
        remap = np.full(len(used) + 1, -1, dtype=np.int64)
        remap[np.flatnonzero(used)] = np.arange(used.sum())
        levels = [plain_level(v) for v in column.cat.categories[used]]
        return remap[raw], levels
    try:
        codes, uniques = pd.factorize(column, sort=True)
    except TypeError:  # mixed types cannot be sorted: sort by their text
        codes, uniques = pd.factorize(column, sort=False)
        order = np.argsort([str(u) for u in uniques], kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        codes = np.where(codes >= 0, rank[codes], -1)
        uniques = np.asarray(uniques, dtype=object)[order]
    return np.asarray(codes, dtype=np.int64), [plain_level(v) for v in uniques]


def is_categorical_column(column: pd.Series) -> bool:
    """Whether a data column is a factor in R's sense (not a number)."""
    return not pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype)


def match_levels(column: pd.Series, levels: list[Any]) -> np.ndarray:
    """Codes of ``column`` against fixed ``levels``; ``-1`` for unseen or missing."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        # match the (few) categories, then map the codes
        cats = _level_index(levels).get_indexer(column.cat.categories)
        raw = column.cat.codes.to_numpy().astype(np.int64)
        return np.where(raw >= 0, np.append(cats, -1)[raw], -1)
    return _level_index(levels).get_indexer(column.to_numpy()).astype(np.int64)


def _level_index(levels: list[Any]) -> pd.Index:
    mixed = len({type(v) for v in levels}) > 1 or any(isinstance(v, bool) for v in levels)
    return pd.Index(levels, dtype=object) if mixed else pd.Index(levels)


@dataclass
class FactorEncoding:
    """Frozen encoding of one factor.

    Attributes:
        expr: formulaic's expression for the factor (its identity).
        name: Prefix of R-style column names: the column name, the expression
            as written (``poly(x, 2)``), or the first argument of ``C(...)``.
        kind: ``"numeric"`` or ``"categorical"``.
        source: ``"lookup"`` (a data column) or ``"formulaic"`` (an expression).
        suffixes: Numeric column suffixes (``("",)`` for one column,
            ``("1", "2")`` for ``poly(x, 2)``).
        levels: Categorical levels (plain Python values) in R's order.
        contrasts: formulaic contrasts object, ``None`` for treatment.  Ordered
            categoricals get polynomial contrasts, as R's ``contr.poly``.
        spec: formulaic ``ModelSpec`` of ``0 + expr`` (expressions only).
        column: Data column behind the factor, for messages (or ``None``).
    """

    expr: str
    name: str
    kind: str
    source: str
    suffixes: tuple[str, ...] = ("",)
    levels: tuple[Any, ...] = ()
    contrasts: Any = None
    spec: Any = None
    column: str | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        """Level labels as R prints them."""
        return tuple(level_label(v) for v in self.levels)

    def coding(self, full: bool) -> tuple[np.ndarray, tuple[str, ...]]:
        """Coding matrix (levels x columns) and column suffixes.

        Args:
            full: Indicator (dummy) coding of every level, as R uses for a
                factor whose margin is absent (``0 + f``); else contrasts.
        """
        k = len(self.levels)
        if full:
            return np.eye(k), self.labels
        contrasts = self.contrasts if self.contrasts is not None else TreatmentContrasts()
        matrix = contrasts.get_coding_matrix(list(self.levels), reduced_rank=True)
        if isinstance(contrasts, (TreatmentContrasts, SASContrasts)):
            names = tuple(level_label(c) for c in matrix.columns)
        elif isinstance(contrasts, (SumContrasts, HelmertContrasts)):
            names = tuple(str(j + 1) for j in range(matrix.shape[1]))
        elif isinstance(contrasts, PolyContrasts):
            names = tuple(str(c) for c in matrix.columns)
        else:
            names = tuple(level_label(c) for c in matrix.columns)
        return np.asarray(matrix, dtype=float), names

    def evaluate(self, frame: pd.DataFrame, where: str) -> np.ndarray:
        """Values on ``frame``: ``(n, k)`` floats, or ``(n,)`` level codes (``-1`` unseen/missing).

        Raises:
            DesignError: A numeric column holds non-numbers.
        """
        if self.source == LOOKUP:
            column = frame[self.expr]
            if self.kind == NUMERIC:
                if is_categorical_column(column):
                    raise DesignError(f"column {self.expr!r} ({where}) was numeric when the model was "
                                      f"built but has dtype {column.dtype} now")
                return column.to_numpy(dtype=float, na_value=np.nan).reshape(-1, 1)
            return match_levels(column, list(self.levels))
        values = _materialize(self.spec, frame, self.expr, where)
        if self.kind == NUMERIC:
            return values.toarray() if hasattr(values, "toarray") else np.asarray(values, dtype=float)
        return _codes_from_dummies(values)

    def check_levels(self, frame: pd.DataFrame, codes: np.ndarray, where: str) -> None:
        """Raise ``DesignError`` for levels of new data not seen when fitting.

        Missing values are allowed (they give ``NaN`` rows); unseen levels are not.
        """
        bad = np.flatnonzero(codes < 0)
        if len(bad) == 0:
            return
        if self.column is not None and self.column in frame.columns:
            raw = frame[self.column].iloc[bad]
            raw = raw[raw.notna()]
            if len(raw) == 0:
                return
            new = list(dict.fromkeys(level_label(plain_level(v)) for v in raw))
            shown = ", ".join(repr(v) for v in new[:5]) + (f" and {len(new) - 5} more" if len(new) > 5 else "")
            raise DesignError(f"factor {self.name!r} ({where}) has new level(s) {shown} not seen when the "
                              f"model was built (known levels: {', '.join(self.labels[:10])}"
                              f"{', ...' if len(self.levels) > 10 else ''})")
        raise DesignError(f"factor {self.expr!r} ({where}) has values outside its levels at rows "
                          f"{', '.join(str(i) for i in bad[:5])}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-serializable)."""
        out: dict[str, Any] = {"expr": self.expr, "name": self.name, "kind": self.kind,
                               "source": self.source, "suffixes": list(self.suffixes),
                               "levels": to_plain(list(self.levels)), "contrasts": to_plain(self.contrasts),
                               "column": self.column}
        if self.spec is not None:
            out["spec"] = {"formula": f"0 + {r_power_to_python(self.expr)}",
                           "transform_state": to_plain(dict(self.spec.transform_state)),
                           "encoder_state": to_plain(dict(self.spec.encoder_state))}
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FactorEncoding":
        """Rebuild from ``to_dict`` output."""
        spec = None
        if d.get("spec") is not None:
            spec = ModelSpec(formula=d["spec"]["formula"], output="sparse", na_action="ignore",
                             transform_state=from_plain(d["spec"]["transform_state"]),
                             encoder_state=from_plain(d["spec"]["encoder_state"]))
        return cls(expr=d["expr"], name=d["name"], kind=d["kind"], source=d["source"],
                   suffixes=tuple(d["suffixes"]), levels=tuple(from_plain(d["levels"])),
                   contrasts=from_plain(d["contrasts"]), spec=spec, column=d.get("column"))


def fit_factor(factor: Factor, frame: pd.DataFrame, written: str, where: str) -> tuple[FactorEncoding, np.ndarray]:
    """Learn the encoding of one factor from the model frame.

    Args:
        factor: formulaic factor (its ``expr`` and evaluation method).
        frame: Complete-case model frame.
        written: The factor as the user wrote it (for names).
        where: Formula piece, for error messages.

    Returns:
        ``(encoding, values)``; values as in ``FactorEncoding.evaluate``.
    """
    expr = factor.expr
    if factor.eval_method == Factor.EvalMethod.LOOKUP:
        column = frame[expr]
        if not is_categorical_column(column):
            enc = FactorEncoding(expr=expr, name=expr, kind=NUMERIC, source=LOOKUP, column=expr)
            return enc, column.to_numpy(dtype=float, na_value=np.nan).reshape(-1, 1)
        codes, levels = factorize(column)
        ordered = isinstance(column.dtype, pd.CategoricalDtype) and bool(column.dtype.ordered)
        enc = FactorEncoding(expr=expr, name=expr, kind=CATEGORICAL, source=LOOKUP, levels=tuple(levels),
                             contrasts=PolyContrasts() if ordered else None, column=expr)
        return enc, codes
    evaluated = r_power_to_python(expr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            matrix = model_matrix(f"0 + {evaluated}", frame, context=FORMULA_CONTEXT,
                                  output="sparse", na_action="ignore")
        except Exception as exc:  # noqa: BLE001 - user expression, re-raised with context
            raise DesignError(f"cannot evaluate {written!r} ({where}): {exc}") from None
    spec = matrix.model_spec
    states = list(spec.encoder_state.values())
    kind, state = states[0] if len(states) == 1 else (Factor.Kind.NUMERICAL, {})
    if kind == Factor.Kind.CATEGORICAL:
        name, column = _categorical_name(written)
        contrasts_state = state.get("contrasts")
        enc = FactorEncoding(expr=expr, name=name, kind=CATEGORICAL, source=FORMULAIC,
                             levels=tuple(plain_level(v) for v in state["categories"]),
                             contrasts=getattr(contrasts_state, "contrasts", None), spec=spec, column=column)
        return enc, _codes_from_dummies(matrix)
    normalized = str(spec.structure[0].term) if spec.structure else evaluated
    suffixes = tuple(_suffix(str(c), normalized) for c in spec.column_names)
    enc = FactorEncoding(expr=expr, name=written, kind=NUMERIC, source=FORMULAIC, suffixes=suffixes, spec=spec)
    return enc, matrix.toarray()


def _materialize(spec: ModelSpec, frame: pd.DataFrame, expr: str, where: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return spec.get_model_matrix(frame, context=FORMULA_CONTEXT)
        except Exception as exc:  # noqa: BLE001 - user expression, re-raised with context
            raise DesignError(f"cannot evaluate {expr!r} ({where}) on new data: {exc}") from None


def _codes_from_dummies(matrix) -> np.ndarray:
    coo = matrix.tocoo() if hasattr(matrix, "tocoo") else None
    n = matrix.shape[0]
    codes = np.full(n, -1, dtype=np.int64)
    if coo is None:
        dense = np.asarray(matrix, dtype=float)
        hit = dense.max(axis=1) > 0
        codes[hit] = dense[hit].argmax(axis=1)
        return codes
    keep = coo.data != 0
    codes[coo.row[keep]] = coo.col[keep]
    return codes


def _suffix(column: str, expr: str) -> str:
    if column.startswith(expr + "[") and column.endswith("]"):
        return column[len(expr) + 1:-1]
    return "" if column == expr else column


def _categorical_name(written: str) -> tuple[str, str | None]:
    """Name prefix of a categorical expression: ``C(f, Sum)`` -> ``("f", "f")``."""
    try:
        tree = ast.parse(written.strip(), mode="eval").body
    except SyntaxError:
        return written, None
    if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "C" and tree.args:
        first = tree.args[0]
        text = ast.get_source_segment(written.strip(), first) or written
        return text, first.id if isinstance(first, ast.Name) else None
    return written, None
