"""Bounded quasi-Newton optimization of the profiled objective.

``OptSummary`` is a keyword-only record of the run (MixedModels.jl style):
the starting value, bounds, every evaluated ``(theta, objective)`` pair, the
final value and the optimizer's verdict.  Printing and diagnostics read it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import Any, Callable

import numpy as np
from scipy.optimize import minimize


@dataclass(kw_only=True)
class OptSummary:
    """Record of one optimization run.

    Attributes:
        optimizer: Name of the algorithm.
        theta_start: Starting value.
        lower: Lower bounds.
        theta: Final value.
        objective: Objective at ``theta``.
        gradient: Gradient at ``theta``.
        feval: Number of objective evaluations.
        converged: Whether the optimizer reported success.
        message: The optimizer's message.
        log: Every evaluated ``(theta, objective)`` pair, in order.
        seconds: Wall time of the run.
    """

    optimizer: str
    theta_start: list[float]
    lower: list[float]
    theta: list[float] = field(default_factory=list)
    objective: float = float("nan")
    gradient: list[float] = field(default_factory=list)
    feval: int = 0
    converged: bool = False
    message: str = ""
    log: list[tuple[list[float], float]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain-data copy (lists and floats only)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "log"}
        d["log"] = [[[float(x) for x in th], float(v)] for th, v in self.log]
        return d


def projected_gradient(theta: np.ndarray, grad: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Gradient with components that push against an active bound zeroed."""
    g = grad.copy()
    at_bound = (theta <= lower + 1e-10) & (g > 0)
    g[at_bound] = 0.0
    return g


#: How many times the optimizer restarts after leaving a boundary.
MAX_RESTARTS = 5
#: Step used to probe a diagonal element sitting on its bound of zero.
BOUNDARY_PROBE = 1e-2


def escape_boundary(f: Callable[[np.ndarray], float], theta: np.ndarray, value: float,
                    lower: np.ndarray) -> np.ndarray | None:
    """A better point off the boundary, or ``None`` when the boundary holds.

    The profiled objective depends on a diagonal element of Lambda only
    through its square near zero, so its gradient there is exactly zero and a
    gradient method cannot tell a minimum on the bound from a maximum.  A
    probe at ``BOUNDARY_PROBE`` decides (derivative-free optimizers such as
    lme4's BOBYQA see the same thing by sampling).

    Args:
        f: The objective.
        theta: Current optimum.
        value: Objective at ``theta``.
        lower: Lower bounds.

    Returns:
        The first probe that lowers the objective, or ``None``.
    """
    for k in np.flatnonzero(np.isfinite(lower) & (theta <= lower + 1e-8)):
        probe = theta.copy()
        probe[k] = lower[k] + BOUNDARY_PROBE
        if f(probe) < value - 1e-10 * max(1.0, abs(value)):
            return probe
    return None


def minimize_theta(fun: Callable[[np.ndarray], tuple[float, np.ndarray]], theta0: np.ndarray,
                   lower: np.ndarray, *, verbose: bool = False, maxiter: int = 1000,
                   gtol: float = 1e-6) -> OptSummary:
    """Minimize ``fun`` (value and gradient) over ``theta >= lower``.

    Args:
        fun: Returns ``(objective, gradient)``; ``inf`` objective marks an
            infeasible point.
        theta0: Starting value.
        lower: Lower bounds (``-inf`` for free elements).
        verbose: Print every evaluation.
        maxiter: Iteration limit.
        gtol: Projected-gradient tolerance.

    Returns:
        The filled ``OptSummary``.
    """
    summary = OptSummary(optimizer="L-BFGS-B", theta_start=list(map(float, theta0)),
                         lower=list(map(float, lower)))
    best: dict[str, Any] = {"f": np.inf}

    def wrapped(theta):
        f, g = fun(theta)
        summary.log.append((theta.copy(), float(f)))
        if verbose:
            print(f"iter {len(summary.log):4d}: objective {f:.10g}  theta {np.array2string(theta, precision=6)}")
        if f < best["f"]:
            best.update(f=f, theta=theta.copy(), g=g.copy())
        if not np.isfinite(f):
            return 1e300, np.zeros_like(theta)
        return f, g

    start = time.perf_counter()
    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
    theta = np.asarray(theta0, dtype=float)
    for _ in range(MAX_RESTARTS + 1):
        res = minimize(wrapped, theta, jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": maxiter, "ftol": 1e-12, "gtol": gtol, "maxcor": 20})
        theta = escape_boundary(lambda th: wrapped(th)[0], best["theta"], best["f"], lower)
        if theta is None:
            break
    summary.seconds = time.perf_counter() - start
    summary.theta = list(map(float, best["theta"]))
    summary.objective = float(best["f"])
    summary.gradient = list(map(float, best["g"]))
    summary.feval = len(summary.log)
    pg = projected_gradient(best["theta"], best["g"], lower)
    summary.converged = bool(res.success) or bool(np.max(np.abs(pg), initial=0.0) < 1e-3)
    summary.message = str(res.message)
    return summary
