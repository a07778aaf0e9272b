"""Support checks shared by the families: turn a raw response into numbers or fail clearly.

Every failure is a ``ResponseError`` whose message names the response, the
family, what the family needs and the first offending value with its row
(0-based position in the response as the design built it), e.g.
``response 'y': poisson needs non-negative integers, row 17 has -2``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from tabmixr.errors import ResponseError


def _show(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    return repr(value) if isinstance(value, str) else str(value)


def fail_at(y: np.ndarray, bad: np.ndarray, family: str, need: str, response_name: str) -> None:
    """Raise for the first ``True`` of ``bad`` (if any).

    Args:
        y: Response values (``(n,)`` or ``(n, k)``).
        bad: Boolean mask of offending rows, ``(n,)``.
        family: Family name for the message.
        need: What the family needs (``"non-negative integers"``).
        response_name: The response's name.

    Raises:
        ResponseError: Some row is bad; names the first one and its value.
    """
    bad = np.asarray(bad, dtype=bool)
    if not bad.any():
        return
    row = int(np.flatnonzero(bad)[0])
    value = y[row]
    shown = "(" + ", ".join(_show(v) for v in value) + ")" if np.ndim(value) else _show(value)
    count = int(bad.sum())
    more = f" ({count} rows in all)" if count > 1 else ""
    raise ResponseError(f"response {response_name!r}: {family} needs {need}, row {row} has {shown}{more}")


def numeric_response(y, family: str, response_name: str, columns: int = 1) -> np.ndarray:
    """The response as finite float64 numbers, ``(n,)`` or ``(n, columns)``.

    Args:
        y: Anything array-like (NumPy array, pandas Series, list); booleans become 0/1.
        family: Family name for messages.
        response_name: The response's name.
        columns: Expected number of columns (1 gives a vector).

    Returns:
        Float64 array.

    Raises:
        ResponseError: Non-numeric values, a wrong number of columns, an empty
            response, or NaN/infinite values.
    """
    raw = np.asarray(y.to_numpy() if isinstance(y, (pd.Series, pd.DataFrame)) else y)
    if raw.dtype == bool:
        raw = raw.astype(float)
    if raw.dtype == object:
        try:
            raw = raw.astype(float)
        except (TypeError, ValueError):
            bad = np.array([not isinstance(v, (int, float, np.integer, np.floating, bool)) for v in raw.ravel()])
            fail_at(raw.ravel(), bad, family, "numbers", response_name)
    if not np.issubdtype(raw.dtype, np.number):
        raise ResponseError(f"response {response_name!r}: {family} needs numbers, but the response has "
                            f"dtype {raw.dtype}; recode it, or use the 'categorical'/'ordinal' family")
    values = raw.astype(np.float64)
    if columns == 1 and values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    want = 1 if columns == 1 else 2
    if values.ndim != want or (columns > 1 and values.shape[1] != columns):
        shape = "a vector" if columns == 1 else f"{columns} columns (e.g. cbind(successes, failures))"
        raise ResponseError(f"response {response_name!r}: {family} needs {shape}, got shape {values.shape}")
    if len(values) == 0:
        raise ResponseError(f"response {response_name!r} has no rows")
    finite = np.isfinite(values) if values.ndim == 1 else np.isfinite(values).all(axis=1)
    fail_at(values, ~finite, family, "finite values", response_name)
    return values


def check_values(values: np.ndarray, ok: Callable[[np.ndarray], np.ndarray], family: str, need: str,
                 response_name: str) -> np.ndarray:
    """Apply one support condition and return ``values`` unchanged.

    Raises:
        ResponseError: Some value fails ``ok``; names the first one.
    """
    fail_at(values, ~ok(values), family, need, response_name)
    return values


def is_integer(values: np.ndarray) -> np.ndarray:
    """Elementwise: the value is a whole number."""
    return np.floor(values) == values
