"""Priors of an amortized fit on the data's own scale, by brms's parameter classes.

A prior is given as a dict (or a ``Prior``); anything left out keeps its
default (``realdata.default_prior``: ``Intercept ~ N(mean(y), (10 sd(y))^2)``,
``b_x ~ N(0, (10 sd(y)/sd(x))^2)``, ``sd ~ HalfNormal(sd(y)/sd(x))`` (``sd(y)``
for the intercept), ``sigma ~ HalfNormal(sd(y))``, ``cor ~ LKJ(1)``)::

    {"Intercept": (250, 50),            # normal(mean, sd) of the intercept
     "b": {"Days": (0, 20)},            # per fixed-effect column; or one (mean, sd) for all slopes
     "sd": {"(Intercept)": 30, "Days": 10},   # half-normal scales per random effect; or one scale
     "sigma": 40,                       # half-normal scale of the residual SD
     "cor": 2.0}                        # LKJ concentration

Several priors at once (a list) give a prior-sensitivity analysis in one
network call: the model is conditioned on the prior, so every prior set is
one more data set of the batch.
"""

from __future__ import annotations

import numbers

import torch

from tabmixr.design.design import Design
from tabmixr.engines.amortized.realdata import default_prior
from tabmixr.engines.amortized.simulator import Prior
from tabmixr.errors import EngineError

PRIOR_CLASSES = ("Intercept", "b", "sd", "sigma", "cor")


def _positive(value, where: str) -> float:
    if not isinstance(value, numbers.Real) or not value > 0 or value == float("inf"):
        raise EngineError(f"prior {where} must be a positive finite number, got {value!r}")
    return float(value)


def _normal(value, where: str) -> tuple[float, float]:
    try:
        mean, sd = value
    except (TypeError, ValueError):
        raise EngineError(f"prior {where} must be a (mean, sd) pair, got {value!r}") from None
    if not isinstance(mean, numbers.Real) or abs(mean) == float("inf") or mean != mean:
        raise EngineError(f"prior {where} mean must be a finite number, got {mean!r}")
    return float(mean), _positive(sd, f"{where} sd")


def _by_name(value, names, where: str, parse) -> dict:
    """``{name: parsed}`` from a dict over ``names`` or one value for every name."""
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise EngineError(f"prior {where!r} names {', '.join(map(repr, unknown))}, not among "
                              f"{', '.join(map(repr, names)) or 'none'}")
        return {k: parse(v, f"{where}[{k!r}]") for k, v in value.items()}
    return {k: parse(value, where) for k in names}


def make_prior(design: Design, spec: dict | Prior | None = None) -> Prior:
    """A ``Prior`` of batch shape ``(1,)`` from a spec on the data scale (module docstring).

    Args:
        design: The design accepted by ``realdata.check_design``.
        spec: ``None`` (defaults), a dict by class, or a ``Prior`` (returned as is).

    Returns:
        ``Prior``.

    Raises:
        EngineError: unknown class or name, or a value that is not a valid
            hyperparameter (the message names it).
    """
    if isinstance(spec, Prior):
        return spec
    prior = default_prior(design)
    if spec is None:
        return prior
    if not isinstance(spec, dict):
        raise EngineError(f"prior must be a dict by class ({', '.join(PRIOR_CLASSES)}), a list of "
                          f"such dicts, or None; got {type(spec).__name__}")
    unknown = [k for k in spec if k not in PRIOR_CLASSES]
    if unknown:
        raise EngineError(f"unknown prior class(es) {', '.join(map(repr, unknown))}; use "
                          f"{', '.join(PRIOR_CLASSES)}")
    nu, tau, tau_s = prior.nu.clone(), prior.tau.clone(), prior.tau_s.clone()
    tau_e, eta = prior.tau_e.clone(), prior.eta.clone()
    names = list(design.fixed_names)
    if "Intercept" in spec:
        nu[0, 0], tau[0, 0] = _normal(spec["Intercept"], "'Intercept'")
    if "b" in spec:
        for name, (m, s) in _by_name(spec["b"], names[1:], "b", _normal).items():
            j = names.index(name)
            nu[0, j], tau[0, j] = m, s
    if "sd" in spec:
        columns = list(design.terms[0].columns)
        for name, s in _by_name(spec["sd"], columns, "sd", _positive).items():
            tau_s[0, columns.index(name)] = s
    if "sigma" in spec:
        tau_e[0] = _positive(spec["sigma"], "'sigma'")
    if "cor" in spec:
        eta[0] = _positive(spec["cor"], "'cor'")
    return Prior(nu=nu, tau=tau, tau_s=tau_s, tau_e=tau_e, eta=eta)


def stack_priors(priors: list[Prior]) -> Prior:
    """Several ``(1,)`` priors as one prior of batch shape ``(k,)``."""
    return Prior(*(torch.cat([getattr(p, f) for p in priors]) for f in
                   ("nu", "tau", "tau_s", "tau_e", "eta")))


__all__ = ["PRIOR_CLASSES", "make_prior", "stack_priors"]
