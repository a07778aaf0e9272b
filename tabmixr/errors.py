"""The one error hierarchy of tabmixr.

Every message names the term, column or value at fault and, where possible,
what to do about it.  The R package turns these into R errors carrying the
same message.
"""

from __future__ import annotations


class TabmixError(Exception):
    """Base class of every error tabmixr raises on purpose."""


class FormulaError(TabmixError):
    """The model formula cannot be parsed (syntax, bars, wrappers)."""


class DesignError(TabmixError):
    """The data do not fit the formula (columns, types, levels, weights)."""


class UnknownColumnError(DesignError):
    """A variable named in the formula is not a column of the data."""


class ResponseError(DesignError):
    """The response is not numeric, is constant, or is entirely missing."""


class GroupingError(DesignError):
    """A grouping factor has too few or too many levels for its term."""


class WeightsError(DesignError):
    """Prior weights are negative, non-finite or of the wrong length."""


class NewLevelError(DesignError):
    """New data holds grouping levels the fit has never seen."""


class RelationshipError(DesignError):
    """A pedigree or relationship matrix passed in ``relmat=`` does not fit its ``kin()`` term
    (name not given, ids missing, matrix not symmetric or not positive definite)."""


class LevelDataError(DesignError):
    """Per-level data of a structured covariance term is unusable: ``ar1``/``arma`` times
    that are not numbers or that two levels share, ``gp``/``spde`` coordinates that are
    missing, vary within a level or coincide for two levels."""


class EngineError(TabmixError):
    """The chosen engine cannot fit this model (unsupported feature)."""


class ConvergenceError(TabmixError):
    """The optimizer failed in a way that leaves no usable estimate."""


class SerializationError(TabmixError):
    """A saved fit cannot be read (unknown schema version, corrupt file)."""


class DatasetError(TabmixError):
    """An unknown dataset name was asked for."""


class FamilyError(EngineError):
    """An unknown outcome family, a link the family does not support, or bad family parameters."""


class PedigreeError(TabmixError):
    """A pedigree is malformed (duplicate ids, self-parenting, cycles)."""


class PedigreeWarning(UserWarning):
    """A pedigree was repaired (e.g. parents missing from ``id`` added as founders)."""


class GenotypeError(TabmixError):
    """A genotype matrix holds codes other than 0/1/2 or has the wrong shape."""


class GenotypeWarning(UserWarning):
    """Genotype markers were dropped (no observed call)."""


class SpdeError(TabmixError):
    """An SPDE grid or its parameters are invalid (spacing, kappa, tau, points outside)."""


class KernelError(TabmixError, ValueError):
    """A compiled kernel refused its input (shape, pattern, non-finite values)."""


class NotPositiveDefiniteError(KernelError):
    """A matrix that must be positive definite is not; ``column`` is where the Cholesky broke down."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.column = column
