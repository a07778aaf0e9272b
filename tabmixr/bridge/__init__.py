"""Small functions the R package calls through reticulate.

Everything returned is plain: dicts of lists, strings and numbers, which
reticulate turns into R lists and vectors (arrays cross as flat lists in R's
column-major order).  The fit itself travels as the JSON text of
``MixedFit.to_dict()``, so the R object is pure R and a reloaded one can be
sent back here (``call_method``).  Errors are not caught: the
``TabmixError`` reaches R, which re-signals its message.
"""

from tabmixr.bridge.calls import call_method, fit_for_r, fit_from_json, parts_for_r
from tabmixr.bridge.plain import family_for_python, fit_parts, plain_for_r

__all__ = ["call_method", "family_for_python", "fit_for_r", "fit_from_json", "fit_parts",
           "parts_for_r", "plain_for_r"]
