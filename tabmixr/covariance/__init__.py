"""Covariance structures of random-effect terms (priors of the neural engine)."""

from tabmixr.covariance.base import (CovarianceStructure, covariance_names, get_covariance,
                                     register_covariance)
from tabmixr.covariance import iid as _iid  # noqa: F401  (registers "us", "diag", "scalar")
from tabmixr.covariance import ar1 as _ar1  # noqa: F401  (registers "ar1")
from tabmixr.covariance import arma as _arma  # noqa: F401  (registers "arma")
from tabmixr.covariance import gp as _gp  # noqa: F401  (registers "gp")
from tabmixr.covariance import kinship as _kinship  # noqa: F401  (registers "kin")
from tabmixr.covariance import spde as _spde  # noqa: F401  (registers "spde")

__all__ = ["CovarianceStructure", "covariance_names", "get_covariance", "register_covariance"]
