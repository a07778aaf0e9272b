"""Data columns as SHAP features: which columns, and their numeric encoding.

A SHAP feature is a *data column* read by the model, not a column of the
design matrix: a factor with five levels is one feature, ``poly(x, 2)`` is
the one feature ``x``.  The explainers of ``shap`` work on float matrices,
so each non-numeric column is coded by the integer index of its value among
the values seen in the explained rows and the background, and decoded back
to the original values before the fit's ``predict`` sees the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tabmixr.design.columns import require_columns
from tabmixr.errors import DesignError


def feature_columns(fit, data: pd.DataFrame, include_random: bool,
                    where: str = "shap_values data") -> list[str]:
    """Data columns the explained prediction depends on, in formula order.

    Args:
        fit: A ``MixedFit`` carrying its design encoding.
        data: The rows to explain (only its column names are read).
        include_random: Add the columns of the random-effect terms (their
            grouping variables and left-hand sides) after the fixed part's.

    Returns:
        Column names: those of the fixed part (offset expressions and a
        column ``offset=`` included), then, with ``include_random``, those of
        the random terms not already listed.

    Raises:
        UnknownColumnError: a column the model reads is not in ``data``.
    """
    encoding = fit.encoding
    columns = list(encoding.fixed.data_columns(data.columns, f"fixed part ({where})"))
    if encoding.offset_column is not None:
        columns.append(encoding.offset_column)
    if include_random:
        for enc in encoding.terms:
            columns.extend(enc.lhs.data_columns(data.columns, f"random term ({where})"))
            columns.extend(enc.grouping.group_vars)
    columns = list(dict.fromkeys(columns))
    require_columns(columns, data.columns, where)
    return columns


def context_columns(fit, data: pd.DataFrame, features: list[str]) -> list[str]:
    """Columns ``predict`` reads that are not features (held fixed while explaining).

    These are the random terms' columns when they are not features (the
    neural engine encodes every term even for ``re_form="NA"``) and the
    level data of structured terms (times, coordinates) when present.
    """
    wanted = []
    for enc in fit.encoding.terms:
        wanted.extend(enc.lhs.data_columns(data.columns, "random term (shap_values data)"))
        wanted.extend(enc.grouping.group_vars)
    return [c for c in dict.fromkeys(wanted) if c not in features and c in data.columns]


@dataclass
class FeatureCoder:
    """Numeric coding of the feature columns (see module docstring).

    Attributes:
        names: Feature (column) names.
        levels: Per feature, ``None`` for a numeric column, else the array of
            its distinct values (code ``k`` stands for ``levels[k]``).
        dtypes: Per feature, the original dtype (a categorical dtype is
            restored on decoding so the design encoding sees its categories).
    """

    names: list[str]
    levels: list[np.ndarray | None]
    dtypes: list

    @classmethod
    def fit(cls, frames: list[pd.DataFrame], names: list[str]) -> "FeatureCoder":
        """Learn the coding from the union of the values in ``frames``."""
        levels, dtypes = [], []
        for name in names:
            column = pd.concat([f[name] for f in frames], ignore_index=True)
            dtypes.append(column.dtype)
            if _is_numeric(column):
                levels.append(None)
            else:
                levels.append(pd.unique(column.dropna().to_numpy(dtype=object)))
        return cls(names=list(names), levels=levels, dtypes=dtypes)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """``(m, d)`` float matrix of the features (NaN where missing).

        Raises:
            DesignError: a value of a factor feature was not seen when coding.
        """
        out = np.empty((len(frame), len(self.names)))
        for j, (name, levels) in enumerate(zip(self.names, self.levels)):
            values = frame[name]
            if levels is None:
                out[:, j] = values.to_numpy(dtype=float, na_value=np.nan)
                continue
            codes = pd.Index(levels).get_indexer(values.to_numpy(dtype=object)).astype(float)
            unseen = (codes < 0) & values.notna().to_numpy()
            if unseen.any():
                raise DesignError(f"column {name!r} has value {values[unseen].iloc[0]!r} not among "
                                  f"the values the feature coding was built from")
            codes[codes < 0] = np.nan
            out[:, j] = codes
        return out

    def decode(self, X: np.ndarray) -> dict[str, object]:
        """Columns in their original form from an ``encode`` matrix (NaN codes -> missing)."""
        columns = {}
        for j, (name, levels, dtype) in enumerate(zip(self.names, self.levels, self.dtypes)):
            if levels is None:
                columns[name] = X[:, j]
                continue
            codes = X[:, j]
            known = np.isfinite(codes)
            values = np.full(len(codes), None, dtype=object)
            values[known] = levels[np.rint(codes[known]).astype(int)]
            if isinstance(dtype, pd.CategoricalDtype):
                values = pd.Categorical(values, categories=dtype.categories, ordered=dtype.ordered)
            columns[name] = values
        return columns

    def display(self, frame: pd.DataFrame) -> np.ndarray:
        """The features of ``frame`` as an object array of their original values."""
        return frame[self.names].to_numpy(dtype=object)


def _is_numeric(column: pd.Series) -> bool:
    """Numbers (not booleans, which formulas treat as factors)."""
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
