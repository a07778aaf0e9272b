"""Missing values: lme4's ``na.omit`` on every variable the model uses."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tabmixr.errors import DesignError

NA_ACTIONS = ("omit", "exclude", "fail")


def complete_rows(data: pd.DataFrame, columns: list[str], arrays: dict[str, np.ndarray | None],
                  na_action: str = "omit") -> np.ndarray:
    """Boolean mask of the rows with no missing value in any used variable.

    Args:
        data: The user's data frame.
        columns: Data columns the model uses.
        arrays: Extra per-row arrays (weights, offset) by name; ``None`` skipped.
        na_action: ``"omit"``/``"exclude"`` drop incomplete rows, ``"fail"``
            raises on any missing value.

    Returns:
        Mask of length ``len(data)``.

    Raises:
        DesignError: Unknown ``na_action``, or missing values with ``"fail"``.
    """
    if na_action not in NA_ACTIONS:
        raise DesignError(f"na_action must be one of {', '.join(map(repr, NA_ACTIONS))}, not {na_action!r}")
    mask = np.ones(len(data), dtype=bool)
    culprits: list[str] = []
    for name in columns:
        missing = data[name].isna().to_numpy()
        if missing.any():
            mask &= ~missing
            culprits.append(name)
    for name, values in arrays.items():
        if values is None:
            continue
        missing = np.isnan(values)
        if missing.any():
            mask &= ~missing
            culprits.append(name)
    if na_action == "fail" and not mask.all():
        raise DesignError(f"missing values in {', '.join(map(repr, culprits))} with na_action='fail'; "
                          f"{int((~mask).sum())} row(s) affected")
    return mask


def nan_rows(*arrays: np.ndarray | None) -> np.ndarray | None:
    """Rows where any evaluated array (``(n,)`` or ``(n, k)``) is ``NaN``; ``None`` if none."""
    mask = None
    for a in arrays:
        if a is None:
            continue
        m = np.isnan(a) if a.ndim == 1 else np.isnan(a).any(axis=1)
        mask = m if mask is None else mask | m
    return mask if mask is not None and mask.any() else None
