"""Fitted-model results: ``MixedFit`` and the lme4-style API around it."""

from tabmixr.results.accessors import LogLik
from tabmixr.results.anova import anova
from tabmixr.results.compare import compare
from tabmixr.results.errors import ArgumentError, NotSupportedError, ResultError, UnavailableError
from tabmixr.results.fit import MixedFit, RandomTermFit
from tabmixr.results.serialization import load
from tabmixr.results.summary import Summary

__all__ = ["ArgumentError", "LogLik", "MixedFit", "NotSupportedError", "RandomTermFit",
           "ResultError", "Summary", "UnavailableError", "anova", "compare", "load"]
