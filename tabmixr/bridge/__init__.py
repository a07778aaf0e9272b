"""Small functions the R package calls through reticulate.

Everything returned is plain: dicts of numpy arrays, strings and numbers, which
reticulate turns into R lists, vectors and matrices.  The fit itself travels
as the JSON text of ``MixedFit.to_dict()`` (schema version 1), so the R object
is pure R and a reloaded one can be sent back here (``call_method``).  Errors
are not caught: the ``TabmixError`` reaches R, which re-signals its message.
"""

from tabmixr.bridge.calls import call_method, fit_for_r, fit_from_json, parts_for_r

__all__ = ["call_method", "fit_for_r", "fit_from_json", "parts_for_r"]
