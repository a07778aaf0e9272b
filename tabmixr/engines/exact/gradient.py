"""Analytic gradient of the profiled deviance / REML criterion in theta.

With ``A = Lt^T G Lt + D`` (``Lt`` = Lambda extended by the identity on the
columns of X for REML, ``G`` the weighted cross-product of ``[Z X]``):

    d log det A / d theta_k = 2 sum_{(a,b) in E_k} (Sigma Lt^T G)[b, a],

where ``Sigma = A^{-1}`` is needed only on the diagonal blocks of every
term and on the dense rest block (selected inversion, Takahashi et al. 1973)
and ``E_k`` lists where ``theta_k`` sits in Lambda.  By the envelope theorem,

    d pwrss / d Lambda[a, b] = -2 (Z^T W r)[a] u[b].

Block 1's contributions reduce to ``blockdiag(G_R1^T S G_R1)`` for a dense
``S``: one pass of the C++ kernel over the fixed pattern of ``G_R1``.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as la

from tabmixr.engines.exact.blocks import blockdiag_of_quadform
from tabmixr.engines.exact.effects import Effects
from tabmixr.engines.exact.factorization import BlockedFactor, DeviancePieces
from tabmixr.engines.exact.system import BlockedSystem


def _inverse_from_cholesky(L: np.ndarray) -> np.ndarray:
    """``(L L^T)^{-1}`` from a lower Cholesky factor."""
    if L.shape[0] == 0:
        return np.zeros((0, 0))
    inv, info = la.lapack.dpotri(L, lower=1)
    if info != 0:
        raise la.LinAlgError("dpotri failed")
    # dpotri fills the lower triangle; the upper one keeps L's zeros.
    full = inv + inv.T
    full[np.diag_indices_from(full)] *= 0.5
    return full


def selected_inverse(system: BlockedSystem, factor: BlockedFactor, include_x: bool):
    """Entries of ``A^{-1}`` needed by the gradient and conditional variances.

    Args:
        system: Cross-products.
        factor: Factor at theta.
        include_x: Whether ``A`` includes the columns of X (REML) or only Z.

    Returns:
        ``(S11, S22, T)``: the ``(l0, q0, q0)`` diagonal blocks of the inverse
        on block 1, the dense inverse on the rest block (size ``nr`` or
        ``nr + p``), and ``T = blockdiag(G_R1^T Lambda_R S22 Lambda_R^T G_R1)``.
    """
    mm = system.nr + (system.p if include_x else 0)
    S22 = _inverse_from_cholesky(factor.L_RR[:mm, :mm])
    S_pad = np.zeros((system.m, system.m))
    S_pad[:mm, :mm] = S22
    if factor.lambda_rest is None:
        if system.nr:
            S_pad *= np.outer(factor.rest_diag, factor.rest_diag)
    else:
        lam = factor.lambda_rest
        S_pad = np.asarray(lam @ (lam @ S_pad).T)
    T = blockdiag_of_quadform(system.G_R1, S_pad, system.q0)
    B = factor.lambda0 @ factor.A11inv
    S11 = factor.A11inv + np.transpose(B, (0, 2, 1)) @ T @ B
    return S11, S22, T


def logdet_gradient(system: BlockedSystem, factor: BlockedFactor, include_x: bool) -> np.ndarray:
    """Gradient of ``log det A`` (``A`` with or without the X columns)."""
    layout = system.layout
    grad = np.zeros(layout.size)
    mm = system.nr + (system.p if include_x else 0)
    S11, S22, T = selected_inverse(system, factor, include_x)
    B = factor.lambda0 @ factor.A11inv
    Q0 = S11 @ factor.lambda0.T @ system.G11 - np.transpose(B, (0, 2, 1)) @ T
    Qsum = Q0.sum(axis=0)
    s0 = layout.term_slice(0)
    grad[s0] = 2.0 * Qsum[layout.cols[s0], layout.rows[s0]]
    if system.nr:
        a_idx, b_idx, k_idx = system.rest_pairs
        M = factor.rest_lambda_left(factor.E)[:mm, :mm]
        vals = np.einsum("ij,ji->i", S22[b_idx], M[:, a_idx])
        grad += 2.0 * np.bincount(k_idx, weights=vals, minlength=layout.size)
    return grad


def pwrss_gradient(system: BlockedSystem, effects: Effects) -> np.ndarray:
    """Gradient of the penalized weighted residual sum of squares."""
    layout = system.layout
    zr = system.Zt_w @ effects.residual_w
    grad = np.zeros(layout.size)
    start = 0
    for t, (qt, lt) in enumerate(zip(layout.q, layout.n_levels)):
        s = layout.term_slice(t)
        zr_t = zr[start:start + qt * lt].reshape(lt, qt)
        u_t = effects.u[start:start + qt * lt].reshape(lt, qt)
        cross = zr_t.T @ u_t
        grad[s] = -2.0 * cross[layout.rows[s], layout.cols[s]]
        start += qt * lt
    return grad


def objective_gradient(system: BlockedSystem, factor: BlockedFactor, pieces: DeviancePieces,
                       effects: Effects, reml: bool) -> np.ndarray:
    """Gradient of the ML deviance or REML criterion in theta."""
    dof = system.n - system.p if reml else system.n
    return (logdet_gradient(system, factor, include_x=reml)
            + dof * pwrss_gradient(system, effects) / pieces.pwrss)
