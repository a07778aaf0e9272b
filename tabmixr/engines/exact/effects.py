"""Fixed effects, spherical random effects and residuals from a factor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as la

from tabmixr.engines.exact.blocks import times_block_diagonal
from tabmixr.engines.exact.factorization import BlockedFactor
from tabmixr.engines.exact.system import BlockedSystem


@dataclass(frozen=True)
class Effects:
    """Solutions of the PLS problem at one theta.

    Attributes:
        beta: Fixed effects.
        u: Spherical random effects (all terms, level-major per term).
        b: ``Lambda u``: the conditional modes of the random effects.
        residual_w: Weighted residuals ``sqrt(W)(y - offset - X beta - Z b)``.
    """

    beta: np.ndarray
    u: np.ndarray
    b: np.ndarray
    residual_w: np.ndarray


def solve_effects(system: BlockedSystem, factor: BlockedFactor) -> Effects:
    """Back-substitute for ``beta`` and ``u``.

    Args:
        system: Cross-products.
        factor: A successful factorization.

    Returns:
        The ``Effects`` at the factor's theta.
    """
    nr, p, q0, l0 = system.nr, system.p, system.q0, system.l0
    L = factor.L_RR
    Lx = L[nr:nr + p, nr:nr + p]
    ly = L[-1, nr:nr + p]
    beta = la.solve_triangular(Lx.T, ly, lower=False, check_finite=False) if p else np.zeros(0)
    B1 = factor.B1()
    tail = system.G_R1[nr:]
    tail = np.asarray(tail.toarray() if hasattr(tail, "toarray") else tail)
    tail = times_block_diagonal(tail, B1)
    w1 = tail[-1] - beta @ tail[:p]
    wr = L[-1, :nr] - beta @ L[nr:nr + p, :nr]
    u_r = la.solve_triangular(L[:nr, :nr].T, wr, lower=False, check_finite=False) if nr else np.zeros(0)
    if nr:
        if factor.lambda_rest is None:
            lam_u = factor.rest_diag[:nr] * u_r
        else:
            lam_u = factor.lambda_rest[:nr, :nr] @ u_r
        back = np.asarray(system.G_R1[:nr].T @ lam_u).ravel()
        w1 = w1 - np.einsum("lqr,lq->lr", B1, back.reshape(l0, q0)).ravel()
    u1 = np.einsum("lji,lj->li", factor.L11inv, w1.reshape(l0, q0)).ravel()
    u = np.concatenate([u1, u_r])
    b = lambda_times(system, factor.theta, u)
    fitted_w = system.X_w @ beta + system.Z_w @ b
    return Effects(beta=beta, u=u, b=b, residual_w=system.y_w - fitted_w)


def lambda_times(system: BlockedSystem, theta: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``Lambda u`` over all terms (level-major blocks)."""
    layout = system.layout
    out = np.empty_like(u)
    start = 0
    for t, (qt, lt) in enumerate(zip(layout.q, layout.n_levels)):
        lam = layout.factor(theta, t)
        block = u[start:start + qt * lt].reshape(lt, qt)
        out[start:start + qt * lt] = (block @ lam.T).ravel()
        start += qt * lt
    return out
