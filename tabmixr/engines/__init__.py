"""Inference engines, one per ``method``; importing this package registers them."""

from tabmixr.engines.base import Engine, engine_methods, get_engine, register_engine
from tabmixr.engines.exact import engine as _exact  # noqa: F401  (registers "reml", "ml")
from tabmixr.engines import vi as _vi  # noqa: F401  (registers "vi")
from tabmixr.engines.amortized import engine as _amortized  # noqa: F401  (registers "amortized")

__all__ = ["Engine", "engine_methods", "get_engine", "register_engine"]
