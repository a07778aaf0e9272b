"""Fields that are also lme4-style accessors: ``fit.sigma`` and ``fit.sigma()``.

``MixedFit`` stores ``sigma``, ``nobs`` and ``fitted`` as data fields (the
engines fill them), while lme4's API spells them as functions (``sigma(fit)``,
``nobs(fit)``, ``fitted(fit)``).  A ``CallableField`` descriptor keeps the raw
value in the instance ``__dict__`` and hands it out wrapped in a type that
behaves like the value and answers a call with a plain copy:

    fit.sigma * 2        # a float
    fit.sigma()          # the same float
    fit.fitted[:3]       # a numpy array
    fit.fitted()         # a plain numpy copy
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np


class CallableFloat(float):
    """A ``float`` that returns itself (as a plain ``float``) when called."""

    __slots__ = ()

    def __call__(self) -> float:
        return float(self)


class CallableInt(int):
    """An ``int`` that returns itself (as a plain ``int``) when called."""

    __slots__ = ()

    def __call__(self) -> int:
        return int(self)


class CallableArray(np.ndarray):
    """A read-through view of an array that returns a plain copy when called.

    Arithmetic, ufuncs and indexing give plain ``np.ndarray`` results, so the
    wrapper does not spread beyond the attribute access.
    """

    def __call__(self) -> np.ndarray:
        return np.array(self.view(np.ndarray))

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = tuple(x.view(np.ndarray) if isinstance(x, CallableArray) else x for x in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, CallableArray) else o
                                  for o in kwargs["out"])
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __getitem__(self, key):
        return self.view(np.ndarray)[key]

    def __repr__(self) -> str:
        return repr(self.view(np.ndarray))

    def __str__(self) -> str:
        return str(self.view(np.ndarray))


def _wrap_float(value: Any) -> Any:
    return None if value is None else CallableFloat(value)


def _wrap_int(value: Any) -> Any:
    return None if value is None else CallableInt(value)


def _wrap_array(value: Any) -> Any:
    return None if value is None else np.asarray(value).view(CallableArray)


class CallableField:
    """Data descriptor for a dataclass field that doubles as an accessor.

    Class access raises ``AttributeError`` so ``dataclasses`` sees no default.
    """

    def __init__(self, wrap: Callable[[Any], Any]):
        self.wrap = wrap
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            raise AttributeError(self.name)
        try:
            return self.wrap(instance.__dict__[self.name])
        except KeyError:
            raise AttributeError(self.name) from None

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.name] = value


def float_field() -> CallableField:
    """A float field callable as ``fit.name()``."""
    return CallableField(_wrap_float)


def int_field() -> CallableField:
    """An int field callable as ``fit.name()``."""
    return CallableField(_wrap_int)


def array_field() -> CallableField:
    """An array field callable as ``fit.name()``."""
    return CallableField(_wrap_array)
