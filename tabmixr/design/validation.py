"""Checks and resolution of the ``weights`` and ``offset`` arguments."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tabmixr.design.columns import unknown_column_error
from tabmixr.errors import DesignError, WeightsError


def resolve_vector(value: Any, data: pd.DataFrame, what: str) -> tuple[np.ndarray | None, str | None]:
    """Turn a column name or array-like into a float array of ``len(data)``.

    Args:
        value: ``None``, a column name, or an array-like.
        data: The user's data frame.
        what: ``"weights"`` or ``"offset"``.

    Returns:
        ``(values, column_name)``; ``column_name`` is ``None`` for arrays.

    Raises:
        UnknownColumnError: A name that is not a column.
        WeightsError: Weights of the wrong length or not numeric.
        DesignError: An offset of the wrong length or not numeric.
    """
    error = WeightsError if what == "weights" else DesignError
    if value is None:
        return None, None
    column = None
    if isinstance(value, str):
        if value not in data.columns:
            raise unknown_column_error(value, data.columns, f"{what}=")
        column = value
        value = data[value]
    if isinstance(value, pd.Series) and column is None and len(value) == len(data) and value.index.equals(data.index):
        value = value.to_numpy()
    try:
        if isinstance(value, pd.Series):
            values = value.to_numpy(dtype=float, na_value=np.nan)
        else:
            values = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise error(f"{what} must be numeric" + (f" (column {column!r})" if column else "")) from None
    if values.ndim == 0:
        values = np.full(len(data), float(values))
    values = values.reshape(-1) if values.ndim == 2 and 1 in values.shape else values
    if values.ndim != 1 or len(values) != len(data):
        raise error(f"{what} has length {values.size}, but the data have {len(data)} rows")
    return values, column


def check_weights(weights: np.ndarray | None, name: str | None) -> None:
    """Weights must be finite and non-negative (missing values are dropped earlier).

    Raises:
        WeightsError: A negative or infinite weight.
    """
    if weights is None:
        return
    label = f"weights {name!r}" if name else "weights"
    present = weights[~np.isnan(weights)]
    if np.any(np.isinf(present)):
        raise WeightsError(f"{label} must be finite; found {int(np.isinf(present).sum())} infinite value(s)")
    if np.any(present < 0):
        raise WeightsError(f"{label} must be non-negative; found {int((present < 0).sum())} negative value(s) "
                           f"(smallest {present.min():g})")


def check_offset(offset: np.ndarray | None, name: str | None) -> None:
    """Offsets must be finite where present.

    Raises:
        DesignError: An infinite offset.
    """
    if offset is not None and np.any(np.isinf(offset)):
        raise DesignError(f"offset {name!r} has infinite values" if name else "offset has infinite values")
