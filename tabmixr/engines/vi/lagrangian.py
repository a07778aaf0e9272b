"""Augmented Lagrangian structure learning for the ``gsem`` backbone (``h(B) = 0``).

NOTEARS' scheme (Zheng et al. 2018, Algorithm 1): for a fixed multiplier
``alpha`` and penalty weight ``rho`` minimize the SEM part of the per-row
objective,

    - mean_i log p(z_i | B, sigma) + alpha h(B) + rho / 2 h(B)^2 + lambda_l1 |B|_1,

by bound-constrained L-BFGS-B (``B = B_pos - B_neg``, both non-negative);
if ``h`` did not fall below ``H_PROGRESS`` times its previous value, redo
that minimization from the same start with ``rho`` times ``RHO_FACTOR``;
then ``alpha += rho h``; stop once ``h <= h_tol`` or ``rho`` reaches
``rho_max``.  The SEM term needs only the nodes' second moments
``S = Z^T Z / n`` (``LinearSEM.mean_loglik``), so each evaluation costs
``O(d^3)`` whatever the number of rows (NumPy, one BLAS thread).

This is the SEM block of a block-coordinate pass over the whole objective:
at the warm start the heads read the backbone features through zero
weights, so the response contributes no gradient to ``B`` and this block
is minimized exactly.  The learned structure is then frozen and the usual
loop fits everything else: the response does not redraw the DAG of the
features.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.linalg
import scipy.optimize
import torch
from threadpoolctl import threadpool_limits

from tabmixr.engines.vi.gsem import LinearSEM
from tabmixr.engines.vi.model import Batch, VIModel
from tabmixr.engines.vi.options import VIOptions

#: ``h`` must fall below this fraction of its previous value, else ``rho`` grows.
H_PROGRESS = 0.25
#: Factor by which ``rho`` grows.
RHO_FACTOR = 10.0
#: Iteration limit of each L-BFGS-B solve.
LBFGSB_MAXITER = 5000
#: Projected-gradient tolerance of each L-BFGS-B solve (scipy's default).
LBFGSB_GTOL = 1e-5


def structure_objective(sem: LinearSEM, S: torch.Tensor) -> torch.Tensor:
    """SEM part of the per-row objective: ``-mean log p(z) + penalty`` (torch, differentiable;
    the reference for the closed form ``structure_value_and_grad`` that L-BFGS-B calls).

    Args:
        sem: The SEM.
        S: Second moments of the nodes, ``(d, d)``.

    Returns:
        A scalar tensor.
    """
    return -sem.mean_loglik(S) + sem.penalty()


def structure_value_and_grad(x: np.ndarray, S: np.ndarray, alpha: float, rho: float,
                             lambda_l1: float) -> tuple[float, np.ndarray]:
    """``structure_objective`` and its gradient in closed form, on the flat parameters.

    With ``x = [B_pos, B_neg, log_sigma]`` (row-major), ``B = B_pos - B_neg``
    off the diagonal, ``R = I - B``, ``rss = tr(R^T S R)``, ``s2 = sigma^2``
    and ``E = exp(B o B)``: ``d/dB (rss / (2 s2)) = -S R / s2``,
    ``d/dlog_sigma = d - rss / s2``, ``d/dB (alpha h + rho h^2 / 2) =
    (alpha + rho h) E^T o 2B``, and the L1 term adds ``lambda_l1`` to the
    gradient of both ``B_pos`` and ``B_neg``.  NumPy, not torch: a ``d x d``
    evaluation is dominated by per-call overhead, and L-BFGS-B makes thousands.

    Args:
        x: Flat parameters, ``2 d^2 + 1``.
        S: Second moments of the nodes, ``(d, d)``.
        alpha: Lagrange multiplier.
        rho: Penalty weight.
        lambda_l1: L1 weight.

    Returns:
        ``(value, gradient)``.
    """
    d = S.shape[0]
    mask = 1.0 - np.eye(d)
    P, N, log_sigma = x[:d * d].reshape(d, d), x[d * d:2 * d * d].reshape(d, d), x[-1]
    B = (P - N) * mask
    R = np.eye(d) - B
    SR = S @ R
    rss = float((R * SR).sum())
    inv_s2 = math.exp(-2.0 * log_sigma)
    E = scipy.linalg.expm(B * B)
    h = float(np.trace(E)) - d
    value = (0.5 * rss * inv_s2 + d * (log_sigma + 0.5 * math.log(2.0 * math.pi))
             + alpha * h + 0.5 * rho * h * h + lambda_l1 * float(((P + N) * mask).sum()))
    grad_B = (-SR * inv_s2 + (alpha + rho * h) * E.T * 2.0 * B) * mask
    grad = np.concatenate([(grad_B + lambda_l1 * mask).ravel(), (-grad_B + lambda_l1 * mask).ravel(),
                           [d - rss * inv_s2]])
    return value, grad


def solve_structure(sem: LinearSEM, S: torch.Tensor, tol: float) -> tuple[float, int]:
    """Minimize ``structure_objective`` at the current ``(alpha, rho)`` by L-BFGS-B.

    Args:
        sem: The SEM; its parameters are left at the minimizer.
        S: Second moments of the nodes.
        tol: Relative change of the objective at which L-BFGS-B stops (``ftol``).

    Returns:
        ``(objective, iterations)``.
    """
    params = [sem.B_pos, sem.B_neg, sem.log_sigma]
    bounds = sem.bounds()
    lo = np.concatenate([bounds["B_pos"][0].ravel(), bounds["B_neg"][0].ravel(), [-np.inf]])
    hi = np.concatenate([bounds["B_pos"][1].ravel(), bounds["B_neg"][1].ravel(), [np.inf]])
    S_np = S.detach().cpu().to(torch.float64).numpy()
    args = (S_np, float(sem.alpha), float(sem.rho), sem.lambda_l1)
    x0 = torch.cat([p.detach().reshape(-1) for p in params]).cpu().to(torch.float64).numpy()
    result = scipy.optimize.minimize(structure_value_and_grad, x0, args=args, jac=True,
                                     method="L-BFGS-B", bounds=scipy.optimize.Bounds(lo, hi),
                                     options={"maxiter": LBFGSB_MAXITER, "ftol": tol,
                                              "gtol": LBFGSB_GTOL})
    with torch.no_grad():
        flat = torch.as_tensor(result.x, dtype=S.dtype, device=S.device)
        for p, piece in zip(params, torch.split(flat, [p.numel() for p in params])):
            p.copy_(piece.reshape(p.shape))
    return float(result.fun), int(result.nit)


def node_moments(model: VIModel, train: Batch) -> torch.Tensor:
    """``S = Z^T Z / n`` of the SEM nodes of the training rows (``Z`` is centred)."""
    with torch.no_grad():
        Z = model.backbone.node_values(model.standardized(train.X))
        return Z.T @ Z / Z.shape[0]


def learn_structure(model: VIModel, train: Batch, opts: VIOptions,
                    history: list[dict] | None = None) -> list[dict]:
    """Learn the backbone's DAG to ``h(B) <= h_tol``, then freeze the SEM.

    Args:
        model: The model (standardized; ``model.backbone`` is constrained).
        train: Training rows.
        opts: Options (``h_tol``, ``rho_max``, ``max_outer``, ``tol``).
        history: List to append to.

    Returns:
        The history with one row per L-BFGS-B solve (``stage="dag"``,
        ``outer``, ``rho``, ``alpha``, ``h`` and ``iterations``).

    Warns:
        RuntimeWarning: ``h(B)`` is still above ``h_tol`` when ``rho_max``
        or ``max_outer`` is reached.
    """
    history = [] if history is None else history
    sem = model.backbone.sem
    model.backbone.prepare(model.x_scale)
    S = node_moments(model, train)
    with threadpool_limits(limits=1, user_api="blas"):  # d x d work: threads only contend
        h_prev, rho = _augmented_lagrangian(sem, S, opts, history)
    if h_prev > opts.h_tol:
        warnings.warn(f"backbone='gsem': h(B) = {h_prev:.3g} is still above h_tol = {opts.h_tol:g} "
                      f"(rho = {rho:.3g}); the reported DAG is thresholded to be acyclic, but "
                      "consider a larger lambda_l1, rho_max or max_outer", RuntimeWarning,
                      stacklevel=2)
    sem.requires_grad_(False)
    return history


def _augmented_lagrangian(sem: LinearSEM, S: torch.Tensor, opts: VIOptions,
                          history: list[dict]) -> tuple[float, float]:
    """NOTEARS' outer loop (see the module docstring); returns the final ``(h, rho)``."""
    h_prev, rho, alpha = float("inf"), 1.0, 0.0
    for outer in range(opts.max_outer):
        start = [p.detach().clone() for p in (sem.B_pos, sem.B_neg, sem.log_sigma)]
        while True:
            with torch.no_grad():
                for p, value in zip((sem.B_pos, sem.B_neg, sem.log_sigma), start):
                    p.copy_(value)
                sem.rho.fill_(rho)
                sem.alpha.fill_(alpha)
            value, iterations = solve_structure(sem, S, opts.tol)
            with torch.no_grad():
                h = float(sem.acyclicity())
            history.append({"stage": "dag", "epoch": len(history), "objective": value,
                            "lr": float("nan"), "kl_weight": opts.kl_weight,
                            "val_loss": float("nan"), "outer": outer, "rho": rho, "alpha": alpha,
                            "h": h, "iterations": iterations})
            if h > H_PROGRESS * h_prev and rho < opts.rho_max:
                rho = min(rho * RHO_FACTOR, opts.rho_max)
                continue
            break
        h_prev = h
        alpha += rho * h
        with torch.no_grad():
            sem.alpha.fill_(alpha)
        if h <= opts.h_tol or rho >= opts.rho_max:
            break
    return h_prev, rho
