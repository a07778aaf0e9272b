"""Profiled (RE)ML for scalar terms with relationship matrices (``kin()``), pedigreemm's model.

Each scalar term ``t`` has effects ``b_t ~ N(0, sigma^2 theta_t^2 A_t)`` over
``N_t`` animals (``A_t`` from a pedigree, ancestors without records included,
or a given matrix; ``A_t = I`` over the levels for an ordinary ``(1 | g)``).
With ``Lambda = blockdiag(theta_t T_t)``, ``A_t = T_t T_t^T``, lme4's PLS
matrix is ``Lambda^T Z^T W Z Lambda + I = T^T M T`` with

    M(theta) = D Z^T W Z D + blockdiag(A_t^-1),   D = blockdiag(theta_t I),

so ``log det(Lambda^T Z^T W Z Lambda + I) = sum_t log det A_t + log det M``:
one sparse Cholesky of ``M`` per theta on a pattern analysed once
(``A^-1`` of a pedigree is sparse, Henderson 1976), with ``M`` finite at
``theta_t = 0``.  In ``b_s = T u`` (so ``b = D b_s``) Henderson's mixed-model
equations give ``beta``, ``b_s`` and the pwrss through the Schur complement
of ``[X y]`` (lme4's ``R_X`` and ``sqrt(pwrss)`` as one dense Cholesky).

The gradient (see ``RelationshipSystem.gradient``) needs ``tr(M^-1 dM)``
from the selected inverse; ``pwrss`` follows from the envelope theorem.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from tabmixr.design.design import Design, RandomTermDesign
from tabmixr.engines.exact.factorization import DeviancePieces
from tabmixr.errors import NotPositiveDefiniteError
from tabmixr.linalg import SparseCholesky


def term_columns(term: RandomTermDesign) -> tuple[int, np.ndarray, sp.csc_array, float]:
    """Columns of one scalar term in ``M``.

    Returns:
        ``(N_t, column of each row, precision A_t^-1, log det A_t)``; an
        ordinary term has ``A_t = I`` over its levels.
    """
    rel = term.relationship
    if rel is None:
        return term.n_levels, term.codes, sp.identity(term.n_levels, format="csc"), 0.0
    return rel.n, rel.level_index[term.codes], rel.precision(), rel.logdet


@dataclass
class RelationshipState:
    """Everything computed at one theta.

    Attributes:
        theta: The parameter value.
        pieces: Log-determinants and pwrss (as the blocked engine's).
        beta: Fixed effects.
        b_s: Effects in ``T u`` scale over all columns of ``M`` (``b = D b_s``).
        F: ``M^-1 D Z^T W [X y]``, ``(N, p + 1)``.
        S_inv: Inverse of the Schur complement on ``X``, ``(p, p)``.
        L_x: Lower Cholesky factor of that Schur complement.
    """

    theta: np.ndarray
    pieces: DeviancePieces
    beta: np.ndarray
    b_s: np.ndarray
    F: np.ndarray
    S_inv: np.ndarray
    L_x: np.ndarray


class RelationshipSystem:
    """Theta-independent pieces of ``M(theta)`` and of the mixed-model equations.

    Args:
        design: A design whose terms are all scalar (``q == 1``).

    Attributes:
        n, p: Observations and fixed-effect columns.
        widths: ``N_t`` per term; ``starts`` their first column in ``M``.
        col_term: Term of every column of ``M``.
        Z_w: ``sqrt(W) Z`` over the columns of ``M``, CSR ``(n, N)``.
        logdet_A: ``sum_t log det A_t``.
        chol: ``SparseCholesky`` of ``M`` (pattern analysed once).
    """

    def __init__(self, design: Design):
        terms = design.terms
        n, p = design.X.shape
        w = np.ones(n) if design.weights is None else np.asarray(design.weights, dtype=float)
        sw = np.sqrt(w)
        y = np.asarray(design.y, dtype=float).reshape(n)
        if design.offset is not None:
            y = y - design.offset
        parts = [term_columns(t) for t in terms]
        self.n, self.p = n, p
        self.widths = np.array([width for width, *_ in parts], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.widths)[:-1]]).astype(np.int64)
        self.col_term = np.repeat(np.arange(len(terms)), self.widths)
        cols = np.column_stack([start + col for start, (_, col, _, _) in zip(self.starts, parts)])
        vals = np.column_stack([t.X[:, 0] for t in terms]) * sw[:, None]
        k = len(terms)
        self.Z_w = sp.csr_array((vals.ravel(), cols.ravel(), np.arange(0, n * k + 1, k)),
                                shape=(n, int(self.widths.sum())))
        self.X_w, self.y_w = design.X * sw[:, None], y * sw
        self.ldW = float(np.sum(np.log(w))) if design.weights is not None else 0.0
        self.logdet_A = float(sum(ld for *_, ld in parts))
        XY = np.column_stack([self.X_w, self.y_w])
        self.ZtXY = np.asarray(self.Z_w.T @ XY)
        self.XYtXY = XY.T @ XY
        self.C = sp.csr_array(self.Z_w.T @ self.Z_w)
        precision = sp.block_diag([prec for *_, prec, _ in parts], format="csc")
        pattern = sp.csc_array((abs(self.C) + abs(precision) + sp.identity(self.C.shape[0])) != 0,
                               dtype=float)
        self.chol = SparseCholesky(pattern, factorize=False)
        self.C_values = self.chol.values_on_pattern(self.C)
        self.P_values = self.chol.values_on_pattern(precision)
        counts = np.diff(self.chol.indptr)
        self.entry_col_term = self.col_term[np.repeat(np.arange(len(counts)), counts)]
        self.entry_row_term = self.col_term[self.chol.indices]

    @property
    def n_theta(self) -> int:
        """Number of terms (one theta each)."""
        return len(self.widths)

    def column_theta(self, theta: np.ndarray) -> np.ndarray:
        """Diagonal of ``D``: ``theta_t`` on every column of term ``t``."""
        return np.asarray(theta, dtype=float)[self.col_term]

    def evaluate(self, theta: np.ndarray) -> RelationshipState | None:
        """Factor ``M(theta)`` and solve the mixed-model equations.

        Args:
            theta: One non-negative relative standard deviation per term.

        Returns:
            The ``RelationshipState``, or ``None`` when a matrix is not
            numerically positive definite.
        """
        theta = np.asarray(theta, dtype=float)
        values = (self.C_values * theta[self.entry_row_term] * theta[self.entry_col_term]
                  + self.P_values)
        try:
            self.chol.factorize(values)
        except NotPositiveDefiniteError:
            return None
        B = self.column_theta(theta)[:, None] * self.ZtXY
        F = self.chol.solve(B)
        schur = self.XYtXY - B.T @ F
        try:
            L = np.linalg.cholesky(schur)
        except np.linalg.LinAlgError:
            return None
        p = self.p
        L_x = L[:p, :p]
        beta = la.solve_triangular(L_x.T, L[p, :p], lower=False) if p else np.zeros(0)
        b_s = F[:, p] - F[:, :p] @ beta
        L_inv = la.solve_triangular(L_x, np.eye(p), lower=True) if p else np.zeros((0, 0))
        pieces = DeviancePieces(logdet_Z=self.logdet_A + self.chol.logdet(),
                                logdet_X=float(2.0 * np.sum(np.log(np.diag(L_x)))),
                                pwrss=float(L[p, p] ** 2))
        return RelationshipState(theta=theta, pieces=pieces, beta=beta, b_s=b_s, F=F,
                                 S_inv=L_inv.T @ L_inv, L_x=L_x)

    def residual_w(self, state: RelationshipState) -> np.ndarray:
        """Weighted residuals ``sqrt(W)(y - offset - X beta - Z b)``."""
        return (self.y_w - self.X_w @ state.beta
                - self.Z_w @ (self.column_theta(state.theta) * state.b_s))

    def gradient(self, state: RelationshipState, reml: bool) -> np.ndarray:
        """Gradient of the ML deviance or REML criterion in theta (after ``evaluate``).

        With ``dM_t = E_t C D + D C E_t`` (``C = Z^T W Z``, ``E_t`` selecting
        term ``t``), ``F_X = M^-1 D Z^T W X`` and ``S`` the Schur complement:

            d log det M / d theta_t   = tr(M^-1 dM_t),
            d log det S / d theta_t   = 2 tr(S^-1 F_Xt^T ((C D F_X)_t - (Z^T W X)_t)),
            d pwrss / d theta_t       = -2 (Z^T W r)_t^T b_st.
        """
        theta = state.theta
        own_row = self.entry_row_term[None, :] == np.arange(self.n_theta)[:, None]
        own_col = self.entry_col_term[None, :] == np.arange(self.n_theta)[:, None]
        dM = self.C_values * (own_row * theta[self.entry_col_term]
                              + own_col * theta[self.entry_row_term])
        grad = np.atleast_1d(self.chol.trace_inv_product(dM)).astype(float)
        zr = self.Z_w.T @ self.residual_w(state)
        dpwrss = -2.0 * np.bincount(self.col_term, weights=zr * state.b_s, minlength=self.n_theta)
        dof = self.n - self.p if reml else self.n
        grad += dof * dpwrss / state.pieces.pwrss
        if reml and self.p:
            FX = state.F[:, :self.p]
            inner = self.C @ (self.column_theta(theta)[:, None] * FX) - self.ZtXY[:, :self.p]
            for t in range(self.n_theta):
                rows = slice(self.starts[t], self.starts[t] + self.widths[t])
                grad[t] += 2.0 * np.sum(state.S_inv * (FX[rows].T @ inner[rows]))
        return grad
