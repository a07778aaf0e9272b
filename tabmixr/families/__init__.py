"""Outcome families (likelihood heads) for the neural engine.

``get_family("poisson")``, ``get_family({"family": "Gamma", "link": "log"})``
(an R family object as the R package sends it) or a ``Family`` instance; see
``tabmixr.families.registry`` for names and aliases and ``tabmixr.families.base``
for the interface.
"""

from tabmixr.families.base import Family, PreparedResponse
from tabmixr.families.beta import BetaFamily
from tabmixr.families.binomial import Binomial
from tabmixr.families.categories import Categorical, Ordinal
from tabmixr.families.common import LinkFamily
from tabmixr.families.continuous import Gaussian, LogNormal, StudentT
from tabmixr.families.counts import NegativeBinomial, Poisson, ZeroInflatedPoisson
from tabmixr.families.links import LINKS, Link
from tabmixr.families.positive import Exponential, GammaFamily, Weibull
from tabmixr.families.registry import FAMILIES, family_names, get_family

__all__ = [
    "Family", "PreparedResponse", "get_family", "family_names", "FAMILIES", "LinkFamily", "LINKS", "Link",
    "Gaussian", "StudentT", "LogNormal", "Binomial", "Poisson", "NegativeBinomial", "ZeroInflatedPoisson",
    "GammaFamily", "Exponential", "Weibull", "BetaFamily", "Ordinal", "Categorical",
]
