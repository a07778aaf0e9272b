"""The exact (RE)ML engine for Gaussian linear mixed models.

One objective evaluation is a short composition of named steps:
``factorize`` (set theta, update the factor) -> ``deviance_pieces`` ->
``objective``; the gradient adds ``solve_effects`` and the selected inverse.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from tabmixr import kernels
from tabmixr.design.design import Design
from tabmixr.engines.base import Engine, register_engine
from tabmixr.engines.exact.effects import solve_effects
from tabmixr.engines.exact.factorization import deviance_pieces, factorize, objective
from tabmixr.engines.exact.gradient import objective_gradient, selected_inverse
from tabmixr.engines.exact.optimize import minimize_theta, projected_gradient
from tabmixr.engines.exact.relationship_fit import (check_relationship_terms, fit_relationship_model,
                                                    has_relationship_terms)
from tabmixr.engines.exact.start import moment_start
from tabmixr.engines.exact.system import BlockedSystem, build_system
from tabmixr.errors import ConvergenceError, EngineError, WeightsError
from tabmixr.results.fit import MixedFit, RandomTermFit

#: lme4's isSingular tolerance on diagonal elements of theta.
SINGULAR_TOL = 1e-4
#: lme4's check.conv.grad tolerance (absolute, on the projected gradient).
GRADIENT_TOL = 2e-3


def compiled_objective(system: BlockedSystem, theta: np.ndarray, reml: bool):
    """Objective and gradient through the C++ single-term kernel.

    Same numbers as ``profiled_objective`` for a model with one random-effect
    term (an empty rest block), without per-step Python overhead.
    """
    value, grad, _ = kernels.single_term_objective(theta, system.G11, system.G_R1, system.G_RR,
                                                   system.n, system.ldW, reml)
    return value, grad


def objective_function(system: BlockedSystem, reml: bool):
    """The ``theta -> (objective, gradient)`` function the optimizer calls."""
    if system.nr == 0:
        return lambda theta: compiled_objective(system, theta, reml)
    return lambda theta: profiled_objective(system, theta, reml)


def profiled_objective(system: BlockedSystem, theta: np.ndarray, reml: bool,
                       with_gradient: bool = True):
    """Objective (and gradient) at ``theta``; ``inf`` when not positive definite.

    Args:
        system: Cross-products of the design.
        theta: Relative covariance parameters.
        reml: REML criterion (True) or ML deviance (False).
        with_gradient: Also return the analytic gradient.

    Returns:
        The objective, or ``(objective, gradient)`` when ``with_gradient``.
    """
    factor = factorize(system, theta)
    if not factor.ok:
        return (np.inf, np.zeros_like(theta)) if with_gradient else np.inf
    pieces = deviance_pieces(system, factor)
    value = objective(system, pieces, reml)
    if not with_gradient:
        return value
    effects = solve_effects(system, factor)
    return value, objective_gradient(system, factor, pieces, effects, reml)


def check_supported(design: Design) -> None:
    """Reject what the exact engine cannot fit.

    Raises:
        EngineError: a structured covariance term other than ``kin()``, a
            ``kin()`` term next to vector-valued terms, or a multi-column response.
        WeightsError: a prior weight of zero (lme4 itself fails on these).
    """
    for term in design.terms:
        if term.term.covariance not in ("us", "kin"):
            raise EngineError(
                f"the exact engine fits unstructured covariances only (and kin() terms); term "
                f"{term.term.text!r} uses {term.term.covariance!r}: use method='vi' for "
                f"structured covariances")
    if has_relationship_terms(design):
        check_relationship_terms(design)
    if design.weights is not None and np.any(np.asarray(design.weights) == 0):
        rows = np.flatnonzero(np.asarray(design.weights) == 0)
        raise WeightsError(
            f"the exact engine needs positive weights; {len(rows)} row(s) have weight 0 "
            f"(first at position {rows[0]}): drop those rows from the data instead")
    if np.ndim(design.y) != 1 and np.shape(design.y)[1] != 1:
        raise EngineError(f"the exact engine needs a single numeric response, got "
                          f"{design.response_name!r} with {np.shape(design.y)[1]} columns")


def _term_fits(design: Design, system: BlockedSystem, theta, effects, factor, sigma):
    """Per-term covariance, conditional modes and conditional variances."""
    layout = system.layout
    S11, S22, _ = selected_inverse(system, factor, include_x=False)
    fits, start, rest = [], 0, 0
    for t, term in enumerate(design.terms):
        qt, lt = term.q, term.n_levels
        lam = layout.factor(theta, t)
        if t == 0:
            blocks = S11
        else:
            idx = rest + np.arange(lt)[:, None] * qt + np.arange(qt)[None, :]
            blocks = S22[idx[:, :, None], idx[:, None, :]]
            rest += qt * lt
        cond_var = sigma ** 2 * (lam @ blocks @ lam.T)
        b = effects.b[start:start + qt * lt].reshape(lt, qt)
        fits.append(RandomTermFit(group=term.group, columns=tuple(term.columns),
                                  levels=tuple(term.levels), cov=sigma ** 2 * lam @ lam.T,
                                  b=b, cond_var=cond_var, X=term.X, codes=term.codes))
        start += qt * lt
    return fits


def fit_notes(singular: bool, theta: np.ndarray, gradient, lower: np.ndarray) -> list[str]:
    """lme4's notes on a finished fit: the singular-fit message, or a convergence
    warning when the projected gradient exceeds ``GRADIENT_TOL``."""
    if singular:
        return ["boundary (singular) fit: see help('isSingular')"]
    pg = projected_gradient(theta, np.array(gradient), lower)
    if np.max(np.abs(pg), initial=0.0) > GRADIENT_TOL:
        return [f"Model failed to converge with max|grad| = {np.max(np.abs(pg)):.3g} "
                f"(tol = {GRADIENT_TOL})"]
    return []


@register_engine
class ExactEngine(Engine):
    """Profiled (RE)ML with a block-structured Cholesky and analytic gradient."""

    methods = ("reml", "ml")
    families = ("gaussian",)

    def check_design(self, design: Design) -> None:
        """Structured covariances, multi-column responses, zero weights: see ``check_supported``."""
        check_supported(design)

    def fit(self, design: Design, method: str = "reml", *, verbose: bool = False,
            start: np.ndarray | None = None, **options: Any) -> MixedFit:
        """Fit a Gaussian LMM by REML or ML.

        Args:
            design: The materialized model.
            method: ``"reml"`` or ``"ml"``.
            verbose: Print the optimizer trace.
            start: Starting theta; by default the better (lower objective) of
                lme4's identity start and a moment start (see ``start.py``).
            **options: Unknown options raise an error.

        Returns:
            The ``MixedFit``.

        Raises:
            EngineError: unsupported terms or options.
            ConvergenceError: no feasible point.
        """
        if options:
            raise EngineError(f"unknown option(s) for method {method!r}: {', '.join(options)}")
        check_supported(design)
        if has_relationship_terms(design):
            fit = fit_relationship_model(design, method, verbose=verbose, start=start,
                                         messages=list(_design_messages(design)))
            fit.extra["refit_ml"] = ((lambda: self.fit(design, "ml", start=fit.theta)) if fit.reml
                                     else (lambda: fit))
            return fit
        t0 = time.perf_counter()
        reml = method == "reml"
        system = build_system(design)
        layout = system.layout
        lower = layout.lower_bounds()
        if start is None:
            candidates = [layout.start(), moment_start(design, layout)]
        else:
            candidates = [np.asarray(start, dtype=float)]
        if system.nr == 0:
            values = [compiled_objective(system, th, reml)[0] for th in candidates]
        else:
            values = [profiled_objective(system, th, reml, with_gradient=False) for th in candidates]
        theta0 = candidates[int(np.argmin(values))]
        if not np.isfinite(min(values)):
            raise ConvergenceError("the objective is not finite at the starting value; "
                                   "check the fixed-effects design for collinear columns")
        opt = minimize_theta(objective_function(system, reml), theta0, lower, verbose=verbose)
        theta = np.array(opt.theta)
        theta[layout.is_diagonal & (theta < 0)] = 0.0
        factor = factorize(system, theta)
        pieces = deviance_pieces(system, factor)
        effects = solve_effects(system, factor)
        dof = system.n - system.p if reml else system.n
        sigma = float(np.sqrt(pieces.pwrss / dof))
        L_x = factor.L_RR[system.nr:system.nr + system.p, system.nr:system.nr + system.p]
        Rinv = np.linalg.inv(L_x) if system.p else np.zeros((0, 0))
        vcov = sigma ** 2 * (Rinv.T @ Rinv)
        terms = _term_fits(design, system, theta, effects, factor, sigma)
        fitted = design.X @ effects.beta + sum(
            np.einsum("nq,nq->n", t.X, t.b[t.codes]) for t in terms)
        if design.offset is not None:
            fitted = fitted + design.offset
        singular = bool(np.any(theta[layout.is_diagonal] < SINGULAR_TOL))
        messages = list(_design_messages(design)) + fit_notes(singular, theta, opt.gradient, lower)
        fit = MixedFit(method=method, family="gaussian", formula=design.spec.formula,
                       response_name=design.response_name, fixed_names=tuple(design.fixed_names),
                       beta=effects.beta, vcov_beta=vcov, terms=terms, sigma=sigma, theta=theta,
                       criterion=float(objective(system, pieces, reml)), reml=reml,
                       nobs=system.n, y=np.asarray(design.y, dtype=float).reshape(-1), X=design.X,
                       weights=design.weights, offset=design.offset, fitted=fitted,
                       encoding=design.encoding, optimizer=opt.to_dict(), singular=singular,
                       messages=messages, fit_time=time.perf_counter() - t0)
        fit.extra["refit_ml"] = (lambda: self.fit(design, "ml", start=theta)) if reml else (lambda: fit)
        return fit


def _design_messages(design: Design):
    """Notes the design stage left for the user."""
    if len(design.dropped_rows):
        yield f"{len(design.dropped_rows)} observation(s) deleted due to missingness"
    yield from design.messages
