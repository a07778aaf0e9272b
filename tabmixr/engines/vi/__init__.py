"""The neural mixed-model engine (``method="vi"``); importing it registers the engine and
the predictor of its fits."""

from tabmixr.engines.vi import predict as _predict  # noqa: F401  (registers the predictor)
from tabmixr.engines.vi.engine import VIEngine
from tabmixr.engines.vi.options import VIOptions
from tabmixr.engines.vi.predict import load_model

__all__ = ["VIEngine", "VIOptions", "load_model"]
