"""Engine interface and registry: one engine per ``method`` name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from tabmixr.design.design import Design
from tabmixr.errors import EngineError

_ENGINES: dict[str, type["Engine"]] = {}


class Engine(ABC):
    """Fits a materialized ``Design``; subclasses register under method names."""

    #: Method names this engine answers to, e.g. ``("reml", "ml")``.
    methods: tuple[str, ...] = ()
    #: Outcome families it fits; empty means any.
    families: tuple[str, ...] = ()

    def check_family(self, method: str, family: str) -> None:
        """Refuse a family this engine cannot fit, before any work is done.

        Raises:
            EngineError: ``family`` is not in ``self.families``.
        """
        if self.families and family not in self.families:
            raise EngineError(f"method {method!r} fits family {', '.join(map(repr, self.families))} "
                              f"only, got {family!r}; use method='vi' for other families")

    def check_design(self, design: Design) -> None:
        """Refuse a design this engine cannot fit, before fitting (default: accept all)."""

    @abstractmethod
    def fit(self, design: Design, method: str, **options: Any):
        """Fit the model.

        Args:
            design: The materialized model.
            method: One of ``self.methods``.
            **options: Engine-specific options.

        Returns:
            A ``tabmixr.results.MixedFit``.
        """


def register_engine(cls: type[Engine]) -> type[Engine]:
    """Class decorator adding an engine to the registry under its methods."""
    for name in cls.methods:
        _ENGINES[name] = cls
    return cls


def get_engine(method: str) -> Engine:
    """Return a new engine instance for ``method``.

    Raises:
        EngineError: ``method`` is not registered.
    """
    try:
        return _ENGINES[method]()
    except KeyError:
        known = ", ".join(sorted(_ENGINES))
        raise EngineError(f"unknown method {method!r}; known methods: {known}") from None


def engine_methods() -> tuple[str, ...]:
    """Names of all registered methods."""
    return tuple(sorted(_ENGINES))
