"""tabmixr: mixed-effects models in lme4's formula language, from Python and R.

>>> import tabmixr
>>> fit = tabmixr.tabmix("Reaction ~ Days + (Days | Subject)",
...                      data=tabmixr.datasets.load("sleepstudy"))
>>> print(fit.summary())
"""

from tabmixr import datasets, errors
from tabmixr.api import tabmix
from tabmixr.design import build_design
from tabmixr.errors import TabmixError
from tabmixr.formula import parse_formula
from tabmixr.results import MixedFit, anova, compare, load

__version__ = "0.1.0"

__all__ = ["MixedFit", "TabmixError", "anova", "build_design", "compare", "datasets", "errors",
           "load", "parse_formula", "tabmix", "__version__"]
