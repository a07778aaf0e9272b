"""Covariance structures of random-effect terms (priors of the neural engine)."""

from tabmixr.covariance.base import (CovarianceStructure, covariance_names, get_covariance,
                                     register_covariance)
from tabmixr.covariance import iid as _iid  # noqa: F401  (registers "us", "diag", "scalar")

__all__ = ["CovarianceStructure", "covariance_names", "get_covariance", "register_covariance"]
