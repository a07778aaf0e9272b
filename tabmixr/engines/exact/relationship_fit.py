"""Exact (RE)ML fits of models with ``kin()`` terms: optimize theta, assemble the ``MixedFit``.

The objective and its gradient come from ``RelationshipSystem``
(``relationship.py``); the optimizer is the blocked engine's bounded
L-BFGS-B (``minimize_theta``).  Effects are reported on the term's levels
(the animals with records); the effects of every animal the prior covers,
ancestors included, are kept in ``extra["relationship_effects"]``.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from tabmixr.design.design import Design
from tabmixr.engines.exact.factorization import objective
from tabmixr.engines.exact.optimize import minimize_theta
from tabmixr.engines.exact.relationship import RelationshipState, RelationshipSystem
from tabmixr.errors import ConvergenceError, EngineError
from tabmixr.results.fit import MixedFit, RandomTermFit

#: Starting values tried (relative standard deviation; 1 means h^2 = 0.5 with one term).
START_VALUES = (0.5, 1.0, 2.0)


def has_relationship_terms(design: Design) -> bool:
    """Whether the design has a ``kin()`` term."""
    return any(t.term.covariance == "kin" for t in design.terms)


def check_relationship_terms(design: Design) -> None:
    """Refuse what the relationship path cannot fit.

    Raises:
        EngineError: a term with more than one column, or a ``kin()`` term
            without its resolved relationship.
    """
    for t in design.terms:
        if t.q != 1:
            raise EngineError(
                f"the exact engine fits kin() terms together with scalar terms only; term "
                f"{t.term.text!r} has {t.q} columns: split it with || or use method='vi'")
        if t.term.covariance == "kin" and t.relationship is None:
            raise EngineError(f"term {t.term.text!r} has no relationship matrix: build the design "
                              f"with relmat= (tabmix(..., relmat={{...}}))")


def _objective_function(system: RelationshipSystem, reml: bool):
    """``theta -> (objective, gradient)``; ``inf`` where not positive definite."""
    def fun(theta):
        state = system.evaluate(theta)
        if state is None:
            return np.inf, np.zeros_like(theta)
        return objective(system, state.pieces, reml), system.gradient(state, reml)
    return fun


def _term_fits(design: Design, system: RelationshipSystem, state: RelationshipState,
               sigma: float) -> tuple[list[RandomTermFit], list[dict]]:
    """Per-term fits on the levels, and every animal's effects for ``kin()`` terms."""
    diag_inv = system.chol.diag_inverse()
    fits, everyone = [], []
    for t, term in enumerate(design.terms):
        cols = slice(system.starts[t], system.starts[t] + system.widths[t])
        rel = term.relationship
        pos = rel.level_index if rel is not None else np.arange(term.n_levels)
        theta_t = float(state.theta[t])
        b_all = theta_t * state.b_s[cols]
        var_all = sigma ** 2 * theta_t ** 2 * diag_inv[cols]
        fits.append(RandomTermFit(group=term.group, columns=tuple(term.columns),
                                  levels=tuple(term.levels),
                                  cov=np.array([[sigma ** 2 * theta_t ** 2]]),
                                  b=b_all[pos][:, None], cond_var=var_all[pos][:, None, None],
                                  X=term.X, codes=term.codes))
        if rel is not None:
            everyone.append({"group": term.group, "source": rel.source, "ids": list(rel.ids),
                             "b": b_all, "cond_var": var_all})
    return fits, everyone


def fit_relationship_model(design: Design, method: str, *, verbose: bool = False,
                           start: np.ndarray | None = None, messages: Sequence[str] = ()) -> MixedFit:
    """Fit a Gaussian LMM with ``kin()`` (and ordinary scalar) terms by REML or ML.

    Args:
        design: Design with resolved relationships (``build_design(..., relmat=)``).
        method: ``"reml"`` or ``"ml"``.
        verbose: Print the optimizer trace.
        start: Starting theta (one value per term); by default the best of
            ``START_VALUES``.
        messages: Notes from the design stage, put first in ``fit.messages``.

    Returns:
        The ``MixedFit`` (``theta[t]`` is term ``t``'s SD relative to sigma).

    Raises:
        EngineError: unsupported terms (see ``check_relationship_terms``).
        ConvergenceError: no finite objective at the start.
    """
    from tabmixr.engines.exact.engine import SINGULAR_TOL, fit_notes

    check_relationship_terms(design)
    t0 = time.perf_counter()
    reml = method == "reml"
    system = RelationshipSystem(design)
    fun = _objective_function(system, reml)
    k = system.n_theta
    candidates = ([np.asarray(start, dtype=float)] if start is not None
                  else [np.full(k, v) for v in START_VALUES])
    values = [fun(th)[0] for th in candidates]
    if not np.isfinite(min(values)):
        raise ConvergenceError("the objective is not finite at the starting value; check the "
                               "fixed-effects design for collinear columns")
    lower = np.zeros(k)
    opt = minimize_theta(fun, candidates[int(np.argmin(values))], lower, verbose=verbose)
    theta = np.maximum(np.array(opt.theta), 0.0)
    state = system.evaluate(theta)
    dof = system.n - system.p if reml else system.n
    sigma = float(np.sqrt(state.pieces.pwrss / dof))
    terms, everyone = _term_fits(design, system, state, sigma)
    fitted = design.X @ state.beta + sum(t.X[:, 0] * t.b[t.codes, 0] for t in terms)
    if design.offset is not None:
        fitted = fitted + design.offset
    singular = bool(np.any(theta < SINGULAR_TOL))
    notes = list(messages) + fit_notes(singular, theta, opt.gradient, lower)
    fit = MixedFit(method=method, family="gaussian", formula=design.spec.formula,
                   response_name=design.response_name, fixed_names=tuple(design.fixed_names),
                   beta=state.beta, vcov_beta=sigma ** 2 * state.S_inv, terms=terms, sigma=sigma,
                   theta=theta, criterion=float(objective(system, state.pieces, reml)), reml=reml,
                   nobs=system.n, y=np.asarray(design.y, dtype=float).reshape(-1), X=design.X,
                   weights=design.weights, offset=design.offset, fitted=fitted,
                   encoding=design.encoding, optimizer=opt.to_dict(), singular=singular,
                   messages=notes, fit_time=time.perf_counter() - t0)
    fit.extra["relationship_effects"] = everyone
    return fit
