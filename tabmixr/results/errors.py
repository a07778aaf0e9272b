"""Errors raised by the results stage (all ``TabmixError`` subclasses).

These live here rather than in ``tabmixr.errors`` while the results API
settles; ``tabmixr.results`` re-exports them.
"""

from __future__ import annotations

from tabmixr.errors import TabmixError


class ResultError(TabmixError):
    """A question about a fitted model cannot be answered as asked."""


class UnavailableError(ResultError):
    """The fit does not hold what was asked for.

    Examples: ``deviance()`` of a REML fit, ``reml_criterion()`` of an ML fit,
    ``predict(newdata)`` on a fit without a design encoding, ``anova`` of a
    REML fit that cannot be refitted by ML.
    """


class NotSupportedError(UnavailableError, NotImplementedError):
    """The requested method exists in lme4 but not (yet) in tabmixr."""


class ArgumentError(ResultError, ValueError):
    """An argument has a value the accessor does not understand."""
