"""Per-level data of structured covariance terms, read and checked at design time.

Some covariance structures need one datum per level of their grouping factor:

* ``ar1(1 | time)``, ``arma(1 | time, p = , q = )``: the level's time, read
  from the level values of the (single) grouping column.  Numbers, text that
  reads as numbers and dates (in days) are accepted; two levels at one time
  are refused.
* ``gp(1 | site, coords = c(x, y))``, ``spde(...)``: the level's coordinates,
  read from the ``coords`` columns.  They must be present on every row,
  constant within a level and different between levels.

``LEVEL_DATA`` maps a covariance name to its reader (a registry: a new
structure adds a row).  Readers run before any fitting and raise
``LevelDataError`` naming the term, the column and the level at fault.
``new_level_data`` reads the same data for levels of new data (``predict``).
"""

from __future__ import annotations

import datetime
from typing import Callable

import numpy as np
import pandas as pd

from tabmixr.design.columns import require_columns
from tabmixr.design.design import RandomTermDesign
from tabmixr.design.random_terms import RandomTermEncoding, term_label
from tabmixr.errors import LevelDataError

#: Relative tolerance for coordinates "constant within a level".
COORD_TOL = 1e-9
#: Nanoseconds per day (dates become times in days).
_NS_PER_DAY = 86400e9


# -- times (ar1, arma) ---------------------------------------------------------
def _time_column(term) -> str:
    """The grouping column that holds the times of ``term``."""
    if len(term.group_vars) != 1:
        raise LevelDataError(f"term {term_label(term)}: {term.covariance}() needs a single time "
                             f"column as its grouping factor, not {term.group!r}")
    return term.group_vars[0]


def time_value(value, term, column: str) -> float:
    """One level value as a time (a float; dates in days since 1970-01-01).

    Raises:
        LevelDataError: A value that is not a number, numeric text or a date.
    """
    if isinstance(value, (bool, np.bool_)):
        raise LevelDataError(f"term {term_label(term)}: time column {column!r} is logical; "
                             f"{term.covariance}() orders levels by numeric time values")
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, (pd.Timestamp, datetime.date, np.datetime64)):
        return float(pd.Timestamp(value).value) / _NS_PER_DAY
    try:
        return float(str(value))
    except ValueError:
        raise LevelDataError(f"term {term_label(term)}: time column {column!r} has the value "
                             f"{value!r}, which is not a number; {term.covariance}() orders levels "
                             f"by numeric time values (numbers, numeric text or dates)") from None


def _check_distinct_times(times: np.ndarray, labels, term, column: str) -> None:
    order = np.argsort(times, kind="stable")
    same = np.flatnonzero(np.diff(times[order]) == 0)
    if len(same):
        a, b = order[same[0]], order[same[0] + 1]
        raise LevelDataError(f"term {term_label(term)}: levels {labels[a]!r} and {labels[b]!r} of "
                             f"time column {column!r} are the same time ({times[a]:g}); every "
                             f"level needs its own time")


def level_times(design: RandomTermDesign, encoding: RandomTermEncoding, data: pd.DataFrame,
                mask: np.ndarray) -> np.ndarray:
    """Times of the levels of an ``ar1``/``arma`` term, in level order.

    Args:
        design: The materialized term.
        encoding: Its frozen encoding (level values of the grouping column).
        data: The full data frame (unused: times are the grouping values).
        mask: Rows used by the fit (unused).

    Returns:
        ``(n_levels,)`` float times.

    Raises:
        LevelDataError: Not a single grouping column, a non-numeric time, or
            two levels at the same time.
    """
    term = design.term
    column = _time_column(term)
    values = encoding.grouping.var_levels[0]
    times = np.array([time_value(v, term, column) for v in values], dtype=float)
    _check_distinct_times(times, design.levels, term, column)
    return times


# -- coordinates (gp, spde) ------------------------------------------------------
def _coordinate_frame(term, frame: pd.DataFrame, where: str) -> tuple[np.ndarray, list[str]]:
    """The ``coords`` columns of ``frame`` as floats, checked numeric and present."""
    columns = list(term.covariance_args.get("coords", ()))
    if not columns:
        raise LevelDataError(f"term {term_label(term)}: {term.covariance}() needs "
                             f"coords = c(x, y)")
    require_columns(columns, frame.columns, f"coordinates of {where}")
    for column in columns:
        dtype = frame[column].dtype
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            raise LevelDataError(f"term {term_label(term)}: coordinate column {column!r} is not "
                                 f"numeric ({dtype})")
    return frame[columns].to_numpy(dtype=float, na_value=np.nan), columns


def _per_level_coordinates(values: np.ndarray, codes: np.ndarray, n_levels: int, labels,
                           columns: list[str], term) -> np.ndarray:
    """One coordinate row per level; missing or varying coordinates raise."""
    missing = ~np.isfinite(values)
    if missing.any():
        row, j = np.argwhere(missing)[0]
        raise LevelDataError(f"term {term_label(term)}: coordinate column {columns[j]!r} is "
                             f"missing (or not finite) at {int(missing[:, j].sum())} row(s), e.g. "
                             f"for level {labels[codes[row]]!r}; every row needs coordinates")
    first = np.full((n_levels, values.shape[1]), np.nan)
    rows = np.arange(len(codes))[::-1]
    first[codes[rows]] = values[rows]  # the last write wins: the level's first row
    scale = np.maximum(1.0, np.abs(values).max(axis=0))
    off = np.abs(values - first[codes]) > COORD_TOL * scale
    if off.any():
        row, j = np.argwhere(off)[0]
        g = codes[row]
        raise LevelDataError(f"term {term_label(term)}: coordinate column {columns[j]!r} varies "
                             f"within level {labels[g]!r} ({first[g, j]:g} and {values[row, j]:g}); "
                             f"coordinates must be constant within a level")
    return first


def level_coordinates(design: RandomTermDesign, encoding: RandomTermEncoding, data: pd.DataFrame,
                      mask: np.ndarray) -> np.ndarray:
    """Coordinates of the levels of a ``gp``/``spde`` term, in level order.

    Args:
        design: The materialized term.
        encoding: Its frozen encoding (unused).
        data: The full data frame (coordinates need not be model columns).
        mask: Rows used by the fit.

    Returns:
        ``(n_levels, d)`` coordinates.

    Raises:
        UnknownColumnError: A ``coords`` column is not in ``data``.
        LevelDataError: Non-numeric, missing or within-level varying
            coordinates, or two levels at the same place.
    """
    term = design.term
    used = data.loc[np.asarray(mask, dtype=bool)]
    values, columns = _coordinate_frame(term, used, f"random term {term_label(term)}")
    coords = _per_level_coordinates(values, np.asarray(design.codes), design.n_levels,
                                    design.levels, columns, term)
    _, first, counts = np.unique(coords, axis=0, return_index=True, return_counts=True)
    if (counts > 1).any():
        where = np.flatnonzero((coords == coords[first[np.argmax(counts > 1)]]).all(axis=1))
        a, b = design.levels[where[0]], design.levels[where[1]]
        shown = ", ".join(f"{c}={v:g}" for c, v in zip(columns, coords[where[0]]))
        raise LevelDataError(f"term {term_label(term)}: levels {a!r} and {b!r} have the same "
                             f"coordinates ({shown}); each level needs its own place (merge them "
                             f"into one level or move one)")
    return coords


#: Covariance name -> reader of its per-level data.
LEVEL_DATA: dict[str, Callable[..., np.ndarray]] = {
    "ar1": level_times,
    "arma": level_times,
    "gp": level_coordinates,
    "spde": level_coordinates,
}


def attach_level_data(terms: list[RandomTermDesign], encodings: list[RandomTermEncoding],
                      data: pd.DataFrame, mask: np.ndarray) -> None:
    """Read every structured term's per-level data into ``term.level_data`` (in place).

    Raises:
        UnknownColumnError, LevelDataError: As the readers in ``LEVEL_DATA``.
    """
    for design, encoding in zip(terms, encodings):
        reader = LEVEL_DATA.get(design.term.covariance)
        if reader is not None:
            design.level_data = reader(design, encoding, data, mask)


# -- new data ------------------------------------------------------------------------
def new_level_data(encoding: RandomTermEncoding, newdata: pd.DataFrame,
                   rows: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Labels and per-level data of the new levels at ``rows`` of ``newdata``.

    Args:
        encoding: The term's frozen encoding.
        newdata: New data.
        rows: Positions (``iloc``) of the rows whose level is new.

    Returns:
        ``(labels, inverse, data)``: the new levels' labels, each row's index
        into them and their times ``(m,)`` or coordinates ``(m, d)``.

    Raises:
        LevelDataError: As at design time (two new levels at one time,
            missing or varying coordinates).
    """
    term = encoding.term
    raw = encoding.grouping.raw_labels(newdata, rows)
    labels, first, inverse = np.unique(np.asarray(raw, dtype=object).astype(str),
                                       return_index=True, return_inverse=True)
    labels = list(labels)
    if LEVEL_DATA.get(term.covariance) is level_times:
        column = _time_column(term)
        values = newdata[column].iloc[np.asarray(rows)[first]]
        times = np.array([time_value(v, term, column) for v in values], dtype=float)
        _check_distinct_times(times, labels, term, column)
        return labels, inverse, times
    values, columns = _coordinate_frame(term, newdata.iloc[np.asarray(rows)],
                                        f"random term {term_label(term)} (new data)")
    coords = _per_level_coordinates(values, inverse, len(labels), labels, columns, term)
    return labels, inverse, coords
