"""Versioned plain-data form of ``MixedFit``: ``to_dict``/``from_dict``, ``save``/``load``.

Schema version 1: a JSON-ready dict of the ``MixedFit`` fields (arrays as
nested lists, ``terms`` as a list of dicts) plus ``"schema_version": 1`` and
``"kind": "MixedFit"``.  The design encoding is stored as
``{"type": <class name>, "state": encoding.to_dict()}`` and rebuilt through
``ENCODING_LOADERS``; an encoding that cannot be rebuilt stays a plain dict
(with a warning) so the numbers still load, and ``predict(newdata)`` then
raises ``UnavailableError``.  ``optimizer`` and ``extra`` keep JSON-able values;
arrays inside them become ``{"__ndarray__": list, "dtype": str}``;
callables (``extra["refit_ml"]``) and other objects are dropped and their
keys listed under ``"dropped_extra"``.  ``model_state`` (a trained network's
config and weights, ``method="vi"``) is stored the same way, or ``None``.
"""

from __future__ import annotations

import gzip
import json
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tabmixr.errors import SerializationError

SCHEMA_VERSION = 1


def _load_design_encoding(state: dict) -> Any:
    from tabmixr.design.encoding import DesignEncoding  # late: design may import results
    return DesignEncoding.from_dict(state)


#: Encoding class name -> function rebuilding it from its ``to_dict()``.
ENCODING_LOADERS: dict[str, Callable[[dict], Any]] = {"DesignEncoding": _load_design_encoding}

_NOT_PLAIN = object()


def to_plain(obj: Any) -> Any:
    """JSON-ready copy of ``obj``; ``_NOT_PLAIN`` for what cannot be stored."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            pv = to_plain(v)
            if pv is not _NOT_PLAIN:
                out[str(k)] = pv
        return out
    if isinstance(obj, (list, tuple)):
        items = [to_plain(v) for v in obj]
        return _NOT_PLAIN if any(v is _NOT_PLAIN for v in items) else items
    return _NOT_PLAIN


def from_plain(obj: Any) -> Any:
    """Inverse of ``to_plain`` (arrays restored)."""
    if isinstance(obj, dict):
        if "__ndarray__" in obj:
            return np.asarray(obj["__ndarray__"], dtype=obj.get("dtype"))
        return {k: from_plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_plain(v) for v in obj]
    return obj


def _array(d: dict, key: str, shape: tuple[int, ...], dtype=float) -> np.ndarray:
    return np.asarray(d[key], dtype=dtype).reshape(shape)


def _optional_array(value, n: int) -> np.ndarray | None:
    return None if value is None else np.asarray(value, dtype=float).reshape(n)


def _encoding_to_plain(encoding: Any) -> dict | None:
    if encoding is None:
        return None
    if isinstance(encoding, dict) and "type" in encoding and "state" in encoding:
        return encoding  # kept from a load without a matching loader
    if not hasattr(encoding, "to_dict"):
        raise SerializationError(f"the fit's encoding ({type(encoding).__name__}) has no "
                                 "to_dict(); it cannot be saved")
    return {"type": type(encoding).__name__, "state": to_plain(encoding.to_dict())}


def _encoding_from_plain(d: dict | None) -> Any:
    if d is None:
        return None
    loader = ENCODING_LOADERS.get(d.get("type"))
    if loader is None:
        warnings.warn(f"unknown encoding type {d.get('type')!r} (known: "
                      f"{', '.join(ENCODING_LOADERS)}); the fit loads without it, so "
                      "predict(newdata=...) is unavailable", stacklevel=3)
        return d
    try:
        return loader(from_plain(d["state"]))
    except ImportError as err:
        warnings.warn(f"cannot rebuild the design encoding ({err}); the fit loads without it, "
                      "so predict(newdata=...) is unavailable", stacklevel=3)
        return d


def _term_to_dict(term) -> dict:
    return {"group": term.group, "columns": list(term.columns), "levels": list(term.levels),
            "cov": np.asarray(term.cov, dtype=float).tolist(),
            "b": np.asarray(term.b, dtype=float).tolist(),
            "cond_var": np.asarray(term.cond_var, dtype=float).tolist(),
            "X": np.asarray(term.X, dtype=float).tolist(),
            "codes": np.asarray(term.codes, dtype=int).tolist()}


def _term_from_dict(d: dict, n: int):
    from tabmixr.results.fit import RandomTermFit
    q, L = len(d["columns"]), len(d["levels"])
    return RandomTermFit(group=d["group"], columns=tuple(d["columns"]), levels=tuple(d["levels"]),
                         cov=_array(d, "cov", (q, q)), b=_array(d, "b", (L, q)),
                         cond_var=_array(d, "cond_var", (L, q, q)), X=_array(d, "X", (n, q)),
                         codes=_array(d, "codes", (n,), dtype=int))


def _model_state_to_plain(state: dict | None) -> dict | None:
    """A trained model's state as plain data; it must convert completely."""
    if state is None:
        return None
    plain = to_plain(state)
    if plain is _NOT_PLAIN or set(plain) != set(state):
        raise SerializationError("the fit's model_state holds values that cannot be saved as "
                                 "plain data")
    return plain


class SerializationMixin:
    """``to_dict``, ``from_dict``, ``save``."""

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serializable dict of the fit (schema version 1).

        Raises:
            SerializationError: the encoding cannot be converted.
        """
        p = len(self.fixed_names)
        extra = {k: v for k, v in self.extra.items() if to_plain(v) is not _NOT_PLAIN}
        return {
            "schema_version": SCHEMA_VERSION, "kind": "MixedFit",
            "method": self.method, "family": self.family, "formula": self.formula,
            "response_name": self.response_name, "fixed_names": list(self.fixed_names),
            "beta": np.asarray(self.beta, dtype=float).tolist(),
            "vcov_beta": np.asarray(self.vcov_beta, dtype=float).reshape(p, p).tolist(),
            "terms": [_term_to_dict(t) for t in self.terms],
            "sigma": float(self.sigma), "theta": np.asarray(self.theta, dtype=float).tolist(),
            "criterion": float(self.criterion), "reml": bool(self.reml), "nobs": int(self.nobs),
            "y": np.asarray(self.y, dtype=float).tolist(),
            "X": np.asarray(self.X, dtype=float).tolist(),
            "weights": None if self.weights is None else np.asarray(self.weights, float).tolist(),
            "offset": None if self.offset is None else np.asarray(self.offset, float).tolist(),
            "fitted": np.asarray(self.fitted, dtype=float).tolist(),
            "encoding": _encoding_to_plain(self.encoding),
            "optimizer": to_plain(dict(self.optimizer or {})),
            "singular": bool(self.singular), "messages": list(self.messages),
            "fit_time": float(self.fit_time), "extra": to_plain(extra),
            "dropped_extra": sorted(set(self.extra) - set(extra)),
            "model_state": _model_state_to_plain(self.model_state),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        """Rebuild a fit from ``to_dict()`` output.

        Raises:
            SerializationError: unknown ``schema_version`` or kind, missing
                or malformed fields.
        """
        if not isinstance(d, dict):
            raise SerializationError(f"expected a dict, got {type(d).__name__}")
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise SerializationError(f"unknown MixedFit schema_version {version!r}; this "
                                     f"tabmixr reads version {SCHEMA_VERSION}")
        if d.get("kind", "MixedFit") != "MixedFit":
            raise SerializationError(f"expected kind 'MixedFit', got {d.get('kind')!r}")
        try:
            n, p = int(d["nobs"]), len(d["fixed_names"])
            return cls(
                method=d["method"], family=d["family"], formula=d["formula"],
                response_name=d["response_name"], fixed_names=tuple(d["fixed_names"]),
                beta=_array(d, "beta", (p,)), vcov_beta=_array(d, "vcov_beta", (p, p)),
                terms=[_term_from_dict(t, n) for t in d["terms"]], sigma=float(d["sigma"]),
                theta=np.asarray(d["theta"], dtype=float), criterion=float(d["criterion"]),
                reml=bool(d["reml"]), nobs=n, y=_array(d, "y", (n,)),
                X=_array(d, "X", (n, p)), weights=_optional_array(d["weights"], n),
                offset=_optional_array(d["offset"], n), fitted=_array(d, "fitted", (n,)),
                encoding=_encoding_from_plain(d.get("encoding")),
                optimizer=from_plain(d["optimizer"]), singular=bool(d["singular"]),
                messages=list(d.get("messages", [])), fit_time=float(d.get("fit_time", 0.0)),
                extra=from_plain(d.get("extra", {})),
                model_state=from_plain(d.get("model_state")))
        except KeyError as err:
            raise SerializationError(f"saved fit lacks the field {err.args[0]!r}") from None
        except (TypeError, ValueError) as err:
            raise SerializationError(f"saved fit is malformed: {err}") from None

    def save(self, path: str | Path) -> None:
        """Write the fit as JSON (gzip-compressed when ``path`` ends in ``.gz``)."""
        text = json.dumps(self.to_dict())
        path = Path(path)
        if path.suffix == ".gz":
            with gzip.open(path, "wt", encoding="utf-8") as fh:
                fh.write(text)
        else:
            path.write_text(text, encoding="utf-8")


def load(path: str | Path):
    """Read a fit written by ``MixedFit.save``.

    Raises:
        SerializationError: unreadable file or unknown schema.
    """
    from tabmixr.results.fit import MixedFit
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                d = json.load(fh)
        else:
            d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, EOFError) as err:
        raise SerializationError(f"cannot read a saved fit from {str(path)!r}: {err}") from None
    return MixedFit.from_dict(d)
