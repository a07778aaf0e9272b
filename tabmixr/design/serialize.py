"""Tagged plain-data encoding of formulaic's stateful-transform and encoder state.

``DesignEncoding.to_dict`` must return JSON-serializable data, but formulaic
keeps its state in dicts with integer keys, NumPy scalars, enums and contrast
objects.  ``to_plain`` turns such values into lists, strings and numbers with a
small set of ``"__tag__"`` markers; ``from_plain`` undoes it exactly.
"""

from __future__ import annotations

import enum
import math
from typing import Any

import numpy as np
import formulaic.transforms.contrasts as contrasts_module
from formulaic.parser.types import Factor
from formulaic.transforms.contrasts import Contrasts, ContrastsState

from tabmixr.errors import SerializationError

_UNSET = getattr(contrasts_module, "UNSET", None)


def to_plain(value: Any) -> Any:
    """Encode ``value`` as JSON-serializable data (see module docstring).

    Raises:
        SerializationError: ``value`` holds an object of an unsupported type.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and not isinstance(value, enum.Enum):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.generic):
        return to_plain(value.item())
    if isinstance(value, np.ndarray):
        return {"__ndarray__": to_plain(value.tolist()), "dtype": str(value.dtype)}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [to_plain(v) for v in value]}
    if isinstance(value, dict):
        return {"__dict__": [[to_plain(k), to_plain(v)] for k, v in value.items()]}
    if isinstance(value, Factor.Kind):
        return {"__kind__": value.value}
    if isinstance(value, ContrastsState):
        return {"__contrasts_state__": [to_plain(value.contrasts), to_plain(list(value.levels))]}
    if isinstance(value, Contrasts):
        return {"__contrasts__": type(value).__name__, "attrs": to_plain(dict(vars(value)))}
    if _UNSET is not None and value is _UNSET:
        return {"__unset__": True}
    raise SerializationError(f"cannot store a value of type {type(value).__name__} in a design encoding")


def from_plain(value: Any) -> Any:
    """Decode data produced by ``to_plain``."""
    if isinstance(value, list):
        return [from_plain(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__float__" in value:
        return float(value["__float__"])
    if "__ndarray__" in value:
        return np.asarray(from_plain(value["__ndarray__"]), dtype=value["dtype"])
    if "__tuple__" in value:
        return tuple(from_plain(v) for v in value["__tuple__"])
    if "__dict__" in value:
        return {_hashable(from_plain(k)): from_plain(v) for k, v in value["__dict__"]}
    if "__kind__" in value:
        return Factor.Kind(value["__kind__"])
    if "__contrasts_state__" in value:
        contrasts, levels = value["__contrasts_state__"]
        return ContrastsState(contrasts=from_plain(contrasts), levels=from_plain(levels))
    if "__contrasts__" in value:
        cls = getattr(contrasts_module, value["__contrasts__"], None)
        if cls is None or not (isinstance(cls, type) and issubclass(cls, Contrasts)):
            raise SerializationError(f"unknown contrasts class {value['__contrasts__']!r}")
        obj = cls.__new__(cls)
        obj.__dict__.update(from_plain(value["attrs"]))
        return obj
    if "__unset__" in value:
        return _UNSET
    raise SerializationError(f"unknown tagged value with keys {sorted(value)}")


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key
