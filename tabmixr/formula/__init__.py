"""Formula parsing: lme4 formula text -> ``ModelSpec`` (plain data).

``parse_formula("Reaction ~ Days + (Days | Subject)")`` splits off the
random-effect bars (like lme4's ``findbars``/``nobars``), expands ``||`` and
``a/b``, reads covariance wrappers (``ar1()``, ``arma()``, ``kin()``, ``gp()``,
``spde()``) and leaves the fixed part as formulaic text.
"""

from tabmixr.formula.parse import apply_cov_mapping, parse_formula
from tabmixr.formula.spec import COVARIANCE_STRUCTURES, ModelSpec, RandomTerm
from tabmixr.formula.wrappers import GP_KERNELS, WRAPPERS

__all__ = [
    "COVARIANCE_STRUCTURES",
    "GP_KERNELS",
    "WRAPPERS",
    "ModelSpec",
    "RandomTerm",
    "apply_cov_mapping",
    "parse_formula",
]
