"""Theta-independent cross-products of the blocked PLS system.

The random-effect columns are split in two blocks (MixedModels.jl style):

* block 1 holds the first term (most levels, lme4's order).  Its part of
  ``Z^T W Z`` is block diagonal with one ``q0 x q0`` block per level, so its
  Cholesky factor is block diagonal too and costs nothing to store;
* the "rest" block holds the other terms' columns followed by the columns of
  ``X`` and ``y``.  Fill-in makes it dense after block 1 is eliminated, so it
  is stored dense (``m x m`` with ``m = nr + p + 1``).

The coupling ``[Zr X y]^T W Z0`` is kept sparse when there are rest terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from tabmixr.design.design import Design
from tabmixr.engines.exact.theta_layout import ThetaLayout
from tabmixr.errors import EngineError

#: Largest dense "rest" block the engine accepts (columns of Zr + X + y).
MAX_DENSE_REST = 20000


@dataclass
class BlockedSystem:
    """Cross-products that stay fixed while theta moves.

    Attributes:
        layout: Theta layout of the terms.
        n: Observations.
        p: Fixed-effect columns.
        nr: Random-effect columns outside block 1.
        G11: ``(l0, q0, q0)`` diagonal blocks of ``Z0^T W Z0``.
        G_R1: ``[Zr X y]^T W Z0``, ``(m, n1)``; sparse CSC when there are
            rest terms, dense when ``nr == 0``.
        G_RR: ``[Zr X y]^T W [Zr X y]``, dense ``(m, m)``.
        Zt_w: ``(sqrt(W) Z)^T`` over all terms, sparse ``(q, n)``.
        Z_w: ``sqrt(W) Z``, sparse ``(n, q)``.
        X_w: ``sqrt(W) X``.
        y_w: ``sqrt(W) (y - offset)``.
        ldW: ``sum(log(weights))`` (0 without weights).
        rest_rows, rest_cols, rest_theta: pattern of ``Lambda`` over the rest
            block (``rest_theta == -1`` marks the identity on ``X`` and ``y``).
        rest_pairs: for the gradient, arrays ``(a, b, k)``: rest-block row
            ``a`` and column ``b`` carry theta element ``k``.
    """

    layout: ThetaLayout
    n: int
    p: int
    nr: int
    G11: np.ndarray
    G_R1: np.ndarray | sp.csr_matrix
    G_RR: np.ndarray
    Zt_w: sp.csr_matrix
    X_w: np.ndarray
    y_w: np.ndarray
    ldW: float
    rest_rows: np.ndarray
    rest_cols: np.ndarray
    rest_theta: np.ndarray
    rest_pairs: tuple[np.ndarray, np.ndarray, np.ndarray]
    Z_w: sp.csr_matrix = None

    def __post_init__(self):
        diag = np.flatnonzero(self.rest_rows == self.rest_cols)
        order = np.argsort(self.rest_rows[diag])
        self.rest_diag_index = diag[order]

    @property
    def q0(self) -> int:
        """Columns of the block-1 term."""
        return self.layout.q[0]

    @property
    def l0(self) -> int:
        """Levels of the block-1 term."""
        return self.layout.n_levels[0]

    @property
    def m(self) -> int:
        """Size of the dense rest block (``nr + p + 1``)."""
        return self.nr + self.p + 1

    @property
    def rest_is_diagonal(self) -> bool:
        """Whether Lambda over the rest block is diagonal (scalar terms only)."""
        return all(q == 1 for q in self.layout.q[1:])

    def rest_diagonal(self, theta: np.ndarray) -> np.ndarray:
        """Diagonal of ``Lambda`` over the rest block (ones on X and y)."""
        ext = np.append(theta, 1.0)
        return ext[self.rest_theta[self.rest_diag_index]]

    def rest_lambda(self, theta: np.ndarray) -> sp.csr_matrix:
        """Block-diagonal ``Lambda`` over the rest block (identity on X, y)."""
        ext = np.append(theta, 1.0)
        return sp.csr_matrix((ext[self.rest_theta], (self.rest_rows, self.rest_cols)),
                             shape=(self.m, self.m))


def _rest_pattern(layout: ThetaLayout, nr: int, p: int):
    """Lambda pattern over the rest block and the gradient pairs."""
    rows, cols, kidx = [], [], []
    offset = 0
    for t in range(1, len(layout.q)):
        qt, lt = layout.q[t], layout.n_levels[t]
        s = layout.term_slice(t)
        base = offset + np.arange(lt) * qt
        for k in range(s.start, s.stop):
            rows.append(base + layout.rows[k])
            cols.append(base + layout.cols[k])
            kidx.append(np.full(lt, k))
        offset += qt * lt
    if rows:
        rows_a, cols_a, k_a = np.concatenate(rows), np.concatenate(cols), np.concatenate(kidx)
    else:
        rows_a = cols_a = k_a = np.array([], dtype=np.int64)
    ident = np.arange(nr, nr + p + 1)
    pattern_rows = np.concatenate([rows_a, ident])
    pattern_cols = np.concatenate([cols_a, ident])
    pattern_theta = np.concatenate([k_a, np.full(p + 1, -1)]).astype(np.int64)
    return pattern_rows, pattern_cols, pattern_theta, (rows_a, cols_a, k_a)


def weighted_z(terms, sw: np.ndarray) -> sp.csr_matrix:
    """``sqrt(W) Z`` over all terms as one CSR matrix (level-major per term).

    Every row holds ``sum(q_t)`` stored entries, one per term column, so the
    CSR arrays are written directly.
    """
    n = len(sw)
    offsets = np.cumsum([0] + [t.q * t.n_levels for t in terms])
    cols = np.column_stack([off + t.codes[:, None] * t.q + np.arange(t.q)[None, :]
                            for off, t in zip(offsets, terms)])
    data = np.column_stack([t.X for t in terms]) * sw[:, None]
    width = cols.shape[1]
    return sp.csr_matrix((data.ravel(), cols.ravel(), np.arange(0, n * width + 1, width)),
                         shape=(n, int(offsets[-1])))


def build_system(design: Design) -> BlockedSystem:
    """Compute the theta-independent cross-products of a design.

    Args:
        design: A design with at least one random-effect term.

    Returns:
        The ``BlockedSystem``.

    Raises:
        EngineError: no random-effect term, or the rest block is too large to
            hold dense.
    """
    terms = design.terms
    if not terms:
        raise EngineError("the exact engine needs at least one random-effect term; "
                          "for a fixed-effects-only model use an ordinary least-squares fit")
    layout = ThetaLayout.from_terms([t.q for t in terms], [t.n_levels for t in terms])
    n, p = design.X.shape
    w = np.ones(n) if design.weights is None else np.asarray(design.weights, dtype=float)
    sw = np.sqrt(w)
    y = np.asarray(design.y, dtype=float).reshape(n)
    if design.offset is not None:
        y = y - design.offset
    X_w = design.X * sw[:, None]
    y_w = y * sw
    Z_w = weighted_z(terms, sw)
    widths = np.cumsum([0] + [t.q * t.n_levels for t in terms])
    q0, l0 = terms[0].q, terms[0].n_levels
    Xt0 = terms[0].X * sw[:, None]
    G11 = np.empty((l0, q0, q0))
    for i in range(q0):
        for j in range(i, q0):
            v = np.bincount(terms[0].codes, weights=Xt0[:, i] * Xt0[:, j], minlength=l0)
            G11[:, i, j] = v
            G11[:, j, i] = v
    nr = sum(t.q * t.n_levels for t in terms[1:])
    if nr + p + 1 > MAX_DENSE_REST:
        raise EngineError(
            f"the random-effect terms after {terms[0].group!r} have {nr} columns; the exact "
            f"engine holds them dense and accepts at most {MAX_DENSE_REST - p - 1}")
    XY = np.column_stack([X_w, y_w])
    G_R1_xy = np.stack([np.bincount(terms[0].codes, weights=Xt0[:, i] * XY[:, r], minlength=l0)
                        for r in range(p + 1) for i in range(q0)])
    G_R1_xy = G_R1_xy.reshape(p + 1, q0, l0).transpose(0, 2, 1).reshape(p + 1, l0 * q0)
    if nr == 0:
        G_R1 = G_R1_xy
        G_RR = XY.T @ XY
    else:
        Z0 = Z_w[:, :widths[1]].tocsc()
        Zr = Z_w[:, widths[1]:].tocsc()
        ZrT = Zr.T.tocsr()
        top = (ZrT @ Z0).tocsr()
        bottom = sp.csr_matrix(G_R1_xy)
        G_R1 = sp.vstack([top, bottom]).tocsc()
        G_RR = np.empty((nr + p + 1, nr + p + 1))
        G_RR[:nr, :nr] = (ZrT @ Zr).toarray()
        cross = np.asarray(ZrT @ XY)
        G_RR[:nr, nr:] = cross
        G_RR[nr:, :nr] = cross.T
        G_RR[nr:, nr:] = XY.T @ XY
    Zt_w = Z_w.T.tocsr()
    rest_rows, rest_cols, rest_theta, rest_pairs = _rest_pattern(layout, nr, p)
    return BlockedSystem(layout=layout, n=n, p=p, nr=nr, G11=G11, G_R1=G_R1, G_RR=G_RR,
                         Zt_w=Zt_w, Z_w=Z_w, X_w=X_w, y_w=y_w,
                         ldW=float(np.sum(np.log(w[w > 0]))) if design.weights is not None else 0.0,
                         rest_rows=rest_rows, rest_cols=rest_cols, rest_theta=rest_theta,
                         rest_pairs=rest_pairs)
