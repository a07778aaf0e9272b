"""The response: a column, an expression (``log(y)``) or ``cbind(a, b)``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tabmixr.design.columns import evaluate_expression, expression_variables
from tabmixr.design.formula_text import call_arguments
from tabmixr.errors import ResponseError


def response_parts(text: str) -> list[str]:
    """The expressions making up the response (several for ``cbind``)."""
    text = text.strip()
    if not text:
        return []
    args = call_arguments(text, "cbind")
    return args if args is not None else [text]


def response_variables(text: str, columns) -> list[str]:
    """Data columns the response uses.

    Raises:
        UnknownColumnError: A name is not a column.
    """
    used: list[str] = []
    for part in response_parts(text):
        names = [part] if part in set(columns) else expression_variables(part, columns, f"response {text!r}")
        used.extend(n for n in names if n not in used)
    return used


#: ``response_kind`` values: numbers only, or categories kept as they are.
RESPONSE_KINDS = ("numeric", "categorical")


def check_response_columns(text: str, data: pd.DataFrame, kind: str = "numeric") -> None:
    """Before NA removal: the response's columns are numeric and not all missing.

    Args:
        text: Response text.
        data: The user's data frame.
        kind: ``"numeric"``, or ``"categorical"`` (strings, factors, booleans allowed).

    Raises:
        ResponseError: A response column holds strings or categories (numeric
            kind), or is entirely missing.
    """
    for name in response_variables(text, data.columns):
        column = data[name]
        if column.isna().all():
            raise ResponseError(f"response {text!r}: column {name!r} is entirely missing (all NA)")
        if kind == "numeric" and (text.strip() == name or name in response_parts(text)):
            if not (pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype)):
                raise ResponseError(f"response {name!r} must be numeric, but has dtype {column.dtype}; "
                                    f"recode it as numbers (or use a family for categorical outcomes)")


def evaluate_response(text: str, frame: pd.DataFrame, check_constant: bool = True,
                      kind: str = "numeric") -> np.ndarray | pd.Categorical | None:
    """The response on the complete-case frame.

    Args:
        text: Response text (``""`` for a one-sided formula).
        frame: Complete-case model frame.
        check_constant: Refuse a constant single-column response (lme4 does
            for linear mixed models).
        kind: ``"numeric"`` (float array), or ``"categorical"``: the values as
            they are, unconverted and unchecked (a ``pd.Categorical`` for a
            categorical column, keeping its category order; else a NumPy
            array of strings/objects, booleans or numbers).

    Returns:
        ``(n,)`` for one column, ``(n, k)`` for ``cbind``, ``None`` when one-sided.

    Raises:
        ResponseError: Not numeric, or constant; ``cbind`` with the categorical kind.
    """
    parts = response_parts(text)
    if not parts:
        return None
    if kind == "categorical":
        if len(parts) > 1:
            raise ResponseError(f"response {text!r}: a categorical response must be one column, not cbind(...)")
        column = frame[parts[0]] if parts[0] in frame.columns else None
        if column is not None and isinstance(column.dtype, pd.CategoricalDtype):
            return pd.Categorical(column)
        return np.asarray(evaluate_expression(parts[0], frame, f"response {text!r}"))
    columns = []
    for part in parts:
        value = evaluate_expression(part, frame, f"response {text!r}")
        if value.dtype == bool:
            value = value.astype(float)
        if not np.issubdtype(value.dtype, np.number):
            raise ResponseError(f"response {part!r} must be numeric, but evaluates to dtype {value.dtype}")
        columns.append(np.broadcast_to(value.astype(float), (len(frame),)))
    y = np.column_stack(columns) if len(columns) > 1 else np.array(columns[0], dtype=float)
    if check_constant and y.ndim == 1 and len(y) > 0 and np.nanmin(y) == np.nanmax(y):
        raise ResponseError(f"response {text!r} is constant (every value is {y[0]:g}); "
                            f"a mixed model needs a response that varies")
    return y
