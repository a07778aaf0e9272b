"""Numeric factorization of the blocked PLS system for one theta.

For ``A = Lambda^T Z^T W Z Lambda + I`` augmented with the columns of ``X``
and ``y`` the lower Cholesky factor has three pieces:

* ``L11``: block diagonal, one ``q0 x q0`` block per level of the first term;
* ``L21 = Lambda_R^T G_R1 Lambda_0 L11^{-T}``: the coupling, never formed:
  ``L21 L21^T = Lambda_R^T G_R1 C G_R1^T Lambda_R`` with block-diagonal
  ``C = Lambda_0 A11^{-1} Lambda_0^T`` is one weighted Gram product on the
  fixed pattern of ``G_R1``;
* ``L_RR``: dense Cholesky of ``Lambda_R^T G_RR Lambda_R + D - L21 L21^T``.

The rest factor ``L_RR`` ends with the rows of ``X`` (giving ``R_X^T``) and of
``y`` (whose last diagonal element is ``sqrt(pwrss)``), as in lme4's and
MixedModels.jl's augmented formulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from tabmixr.engines.exact.blocks import weighted_gram
from tabmixr.engines.exact.system import BlockedSystem


@dataclass
class BlockedFactor:
    """The Cholesky factor at one theta.

    Attributes:
        theta: The parameter value.
        lambda0: ``Lambda`` factor of the first term, ``(q0, q0)``.
        L11: ``(l0, q0, q0)`` lower-triangular blocks of block 1.
        L11inv: Their inverses.
        A11inv: ``(L11 L11^T)^{-1}`` blocks.
        rest_diag: Diagonal of ``Lambda`` over the rest block.
        lambda_rest: Sparse ``Lambda`` over the rest block, or ``None`` when
            it is diagonal (scalar rest terms only).
        E: ``G_RR - G_R1 C G_R1^T`` with ``C = Lambda0 A11^{-1} Lambda0^T``
            blockwise: the rest cross-products after eliminating block 1,
            before scaling by ``Lambda_R``.
        L_RR: Dense rest factor, ``(m, m)``; ``None`` when not positive definite.
    """

    theta: np.ndarray
    lambda0: np.ndarray
    L11: np.ndarray
    L11inv: np.ndarray
    A11inv: np.ndarray
    rest_diag: np.ndarray
    lambda_rest: sp.csr_matrix | None
    E: np.ndarray
    L_RR: np.ndarray | None

    @property
    def ok(self) -> bool:
        """Whether the factorization succeeded."""
        return self.L_RR is not None

    def rest_lambda_left(self, M: np.ndarray) -> np.ndarray:
        """``Lambda_R^T M`` for a dense ``M`` with ``m`` rows."""
        if self.lambda_rest is None:
            return self.rest_diag[:, None] * M
        return np.asarray(self.lambda_rest.T @ M)

    def B1(self) -> np.ndarray:
        """``Lambda0 L11^{-T}`` blocks: ``L21 = Lambda_R^T G_R1 blockdiag(B1)``."""
        return self.lambda0 @ np.transpose(self.L11inv, (0, 2, 1))


def _lower_inverse(L: np.ndarray) -> np.ndarray:
    """Inverses of a stack of small lower-triangular matrices."""
    if L.shape[1] == 1:
        return 1.0 / L
    return np.linalg.inv(L)


def factorize(system: BlockedSystem, theta: np.ndarray) -> BlockedFactor:
    """Factor the augmented PLS matrix at ``theta``.

    Args:
        system: Theta-independent cross-products.
        theta: Relative covariance parameters (lme4's order).

    Returns:
        The ``BlockedFactor``; ``L_RR`` is ``None`` when the rest block is not
        numerically positive definite.
    """
    lam0 = system.layout.factor(theta, 0)
    A11 = lam0.T @ system.G11 @ lam0
    A11 += np.eye(system.q0)
    L11 = np.linalg.cholesky(A11)
    L11inv = _lower_inverse(L11)
    A11inv = np.transpose(L11inv, (0, 2, 1)) @ L11inv
    C = lam0 @ A11inv @ lam0.T
    E = weighted_gram(system.G_R1, C)
    np.subtract(system.G_RR, E, out=E)
    d = system.rest_diagonal(theta)
    lam_r = None
    if not system.nr:
        ARR = E
    elif system.rest_is_diagonal:
        ARR = E * d[:, None]
        ARR *= d
    else:
        lam_r = system.rest_lambda(theta)
        ARR = np.asarray(lam_r.T @ (lam_r.T @ E).T)
    ARR[np.arange(system.nr), np.arange(system.nr)] += 1.0
    try:
        # numpy's call costs less for tiny blocks, scipy's LAPACK runs faster on large ones
        L_RR = (la.cholesky(ARR, lower=True, check_finite=False, overwrite_a=ARR is not E)
                if len(ARR) > 64 else np.linalg.cholesky(ARR))
    except (np.linalg.LinAlgError, la.LinAlgError):
        L_RR = None
    return BlockedFactor(theta=np.array(theta, dtype=float), lambda0=lam0, L11=L11,
                         L11inv=L11inv, A11inv=A11inv, rest_diag=d, lambda_rest=lam_r, E=E,
                         L_RR=L_RR)


@dataclass(frozen=True)
class DeviancePieces:
    """Pieces of the profiled objective at one theta.

    Attributes:
        logdet_Z: ``log det(Lambda^T Z^T W Z Lambda + I)``.
        logdet_X: ``log det(R_X^T R_X)``.
        pwrss: Penalized weighted residual sum of squares.
    """

    logdet_Z: float
    logdet_X: float
    pwrss: float


def deviance_pieces(system: BlockedSystem, factor: BlockedFactor) -> DeviancePieces:
    """Read log-determinants and pwrss off the factor's diagonals."""
    nr, p = system.nr, system.p
    d11 = factor.L11[:, np.arange(system.q0), np.arange(system.q0)]
    dRR = np.diag(factor.L_RR)
    logdet_Z = 2.0 * (np.sum(np.log(d11)) + np.sum(np.log(dRR[:nr])))
    logdet_X = 2.0 * np.sum(np.log(dRR[nr:nr + p]))
    return DeviancePieces(float(logdet_Z), float(logdet_X), float(dRR[-1] ** 2))


def objective(system: BlockedSystem, pieces: DeviancePieces, reml: bool) -> float:
    """Profiled deviance (ML) or REML criterion, lme4's definitions.

    ML: ``logdet_Z - ldW + n (1 + log(2 pi pwrss / n))``;
    REML: ``logdet_Z + logdet_X - ldW + (n-p)(1 + log(2 pi pwrss / (n-p)))``.
    """
    n, p = system.n, system.p
    if reml:
        dof = n - p
        return (pieces.logdet_Z + pieces.logdet_X - system.ldW
                + dof * (1.0 + np.log(2.0 * np.pi * pieces.pwrss / dof)))
    return pieces.logdet_Z - system.ldW + n * (1.0 + np.log(2.0 * np.pi * pieces.pwrss / n))
