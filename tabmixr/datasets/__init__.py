"""Data sets from lme4, nlme and mlmRev, bundled for examples, tests and benchmarks.

Each data set is a gzipped CSV file plus a JSON sidecar in ``data/`` (written by
``export_from_r.R``).  The sidecar records every column's R type and, for
factors, the level order, so :func:`load` returns factors as pandas
``Categorical`` with R's levels (ordered factors ordered), numeric columns as
float64 and integer columns as int64 (nullable ``Int64`` when they hold NA).

Example:
    >>> from tabmixr import datasets
    >>> sleep = datasets.load("sleepstudy")
    >>> sleep.shape
    (180, 3)
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tabmixr.errors import DatasetError

__all__ = ["load", "names", "info"]

DATA_DIR = Path(__file__).resolve().parent / "data"

# How each R column type is read from the CSV text before conversion.  Numbers
# are parsed by Python's float(), which rounds correctly, so the values are
# R's doubles bit for bit whatever pandas' own parser does.
_READ_DTYPE = {
    "numeric": "str",
    "integer": "Int64",
    "logical": "str",
    "character": "str",
    "factor": "str",
    "ordered": "str",
}


def names() -> list[str]:
    """Names of the bundled data sets, sorted case-insensitively."""
    return sorted((p.name[: -len(".json")] for p in DATA_DIR.glob("*.json")), key=str.lower)


def info(name: str) -> dict[str, Any]:
    """The sidecar of a data set: package, package_version, nrow, columns (name, type, levels).

    Raises:
        DatasetError: ``name`` is not a bundled data set.
    """
    return json.loads(json.dumps(_sidecar(_resolve(name))))  # a copy the caller may change


def load(name: str) -> pd.DataFrame:
    """Load a bundled data set as a pandas DataFrame with R's column types.

    Args:
        name: data set name as in R, e.g. ``"sleepstudy"``; a package prefix
            (``"nlme::Orthodont"``) is accepted and checked.

    Returns:
        A new DataFrame (safe to modify).  Factors are ``Categorical`` with
        R's level order; ordered factors are ordered.

    Raises:
        DatasetError: ``name`` is not a bundled data set.
    """
    return _read(_resolve(name)).copy()


def _resolve(name: str) -> str:
    if not isinstance(name, str):
        raise DatasetError(f"dataset name must be a string, got {type(name).__name__}")
    package, _, bare = name.rpartition("::")
    available = names()
    if bare not in available:
        raise DatasetError(f"unknown dataset {name!r}; available: {', '.join(available)}")
    if package and _sidecar(bare)["package"] != package:
        raise DatasetError(
            f"dataset {bare!r} comes from R package {_sidecar(bare)['package']!r}, "
            f"not {package!r}; use {_sidecar(bare)['package']}::{bare} or just {bare!r}"
        )
    return bare


@functools.lru_cache(maxsize=None)
def _sidecar(name: str) -> dict[str, Any]:
    with open(DATA_DIR / f"{name}.json", encoding="utf-8") as handle:
        return json.load(handle)


@functools.lru_cache(maxsize=8)
def _read(name: str) -> pd.DataFrame:
    meta = _sidecar(name)
    columns = meta["columns"]
    frame = pd.read_csv(
        DATA_DIR / f"{name}.csv.gz",
        dtype={c["name"]: _READ_DTYPE[c["type"]] for c in columns},
        keep_default_na=False,
        na_values=[""],
    )
    if list(frame.columns) != [c["name"] for c in columns]:
        raise DatasetError(f"dataset {name!r}: CSV header does not match its sidecar; re-export it")
    if len(frame) != meta["nrow"]:
        raise DatasetError(
            f"dataset {name!r}: {len(frame)} rows on disk but {meta['nrow']} in its sidecar; re-export it"
        )
    for column in columns:
        frame[column["name"]] = _convert(name, column, frame[column["name"]])
    return frame


def _convert(name: str, column: dict[str, Any], values: pd.Series) -> pd.Series:
    kind = column["type"]
    missing = values.isna()
    if kind in ("factor", "ordered"):
        result = pd.Series(
            pd.Categorical(values, categories=column["levels"], ordered=kind == "ordered"),
            index=values.index,
        )
        unknown = result.isna() & ~missing
        if unknown.any():
            bad = values[unknown].iloc[0]
            raise DatasetError(
                f"dataset {name!r}, column {column['name']!r}: value {bad!r} is not a level "
                "in the sidecar; re-export the data set"
            )
        return result
    if kind == "integer":
        return values if missing.any() else values.astype(np.int64)
    if kind == "logical":
        mapped = values.map({"TRUE": True, "FALSE": False})
        return mapped.astype("boolean") if missing.any() else mapped.astype(bool)
    if kind == "character":
        return values
    parsed = [np.nan if is_missing else float(text) for text, is_missing in zip(values, missing)]
    return pd.Series(np.asarray(parsed, dtype=np.float64), index=values.index)
