"""The fixed-effects part: model matrix, offsets and rank-deficiency dropping."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tabmixr.design.columns import evaluate_expression
from tabmixr.design.model_matrix import INTERCEPT, ModelMatrixEncoding
from tabmixr.errors import DesignError

#: lme4's default tolerance for ``chkRank.drop.cols`` (``qr(X, tol = 1e-7)``).
RANK_TOL = 1e-7


class RankDeficiencyWarning(UserWarning):
    """The fixed-effects model matrix is rank deficient; columns were dropped."""


@dataclass
class FixedPart:
    """The materialized fixed part.

    Attributes:
        encoding: Frozen encoding of the right-hand side.
        X: Model matrix after dropping, ``(n, p)``.
        names: Kept column names.
        kept: Indices of kept columns among ``encoding.columns``.
        dropped: Names of dropped columns.
        offset: Sum of ``offset(...)`` terms, ``(n,)``, or ``None``.
    """

    encoding: ModelMatrixEncoding
    X: np.ndarray
    names: tuple[str, ...]
    kept: tuple[int, ...]
    dropped: tuple[str, ...]
    offset: np.ndarray | None


def independent_columns(X: np.ndarray, tol: float = RANK_TOL) -> np.ndarray:
    """Indices of the earliest linearly independent columns of ``X``.

    Mirrors R's ``qr()`` (LINPACK ``dqrdc2`` with limited pivoting), which
    lme4 uses to drop columns: walking left to right, a column is kept when
    its distance to the span of the kept columns exceeds ``tol`` times its
    norm.  A Cholesky factor of the cross-product screens the common
    full-rank case cheaply; otherwise distances are computed on the triangular
    factor of an unpivoted Householder QR (``X = QR`` with ``Q`` orthogonal
    preserves distances).

    Args:
        X: ``(n, p)`` matrix.
        tol: Relative tolerance.

    Returns:
        Sorted indices of the kept columns.
    """
    n, p = X.shape
    if p == 0:
        return np.arange(0)
    if _clearly_full_rank(X):
        return np.arange(p)
    R = np.linalg.qr(X, mode="r") if n >= p else X
    norms = np.linalg.norm(R, axis=0)
    kept: list[int] = []
    basis = np.zeros((R.shape[0], 0))
    for j in range(p):
        if norms[j] == 0:
            continue
        r = R[:, j] - basis @ (basis.T @ R[:, j])
        r = r - basis @ (basis.T @ r)  # one re-orthogonalization
        dist = np.linalg.norm(r)
        if dist > tol * norms[j]:
            kept.append(j)
            basis = np.column_stack([basis, r / dist])
    return np.asarray(kept, dtype=int)


def _clearly_full_rank(X: np.ndarray, margin: float = 1e-4) -> bool:
    """True when every column is far (relative distance > ``margin``) from the span of the earlier ones.

    Uses the Cholesky factor of the scaled cross-product, whose diagonal gives
    those relative distances; only trusted well above ``RANK_TOL``.
    """
    if X.shape[0] < X.shape[1]:
        return False
    G = X.T @ X
    d = np.sqrt(np.diag(G))
    if np.any(d == 0):
        return False
    try:
        L = np.linalg.cholesky(G / np.outer(d, d))
    except np.linalg.LinAlgError:
        return False
    return bool(np.all(np.diag(L) > margin))


def rank_message(dropped: tuple[str, ...]) -> str:
    """lme4's message for dropped fixed-effect columns."""
    k = len(dropped)
    what = "column / coefficient" if k == 1 else "columns / coefficients"
    return f"fixed-effect model matrix is rank deficient so dropping {k} {what}: " + ", ".join(dropped)


def evaluate_offsets(expressions: tuple[str, ...], frame: pd.DataFrame) -> np.ndarray | None:
    """Sum of the ``offset(...)`` expressions, or ``None`` when there are none.

    Raises:
        DesignError: An offset is not numeric or has the wrong length.
    """
    total = None
    for expr in expressions:
        value = evaluate_expression(expr, frame, f"offset({expr})")
        try:
            value = np.broadcast_to(np.asarray(value, dtype=float), (len(frame),))
        except (TypeError, ValueError):
            raise DesignError(f"offset({expr}) must be numeric with one value per row") from None
        total = value.copy() if total is None else total + value
    return total


def build_fixed(text: str, frame: pd.DataFrame) -> FixedPart:
    """Materialize the fixed part with every column (see ``drop_dependent_columns``).

    Args:
        text: Right-hand side, e.g. ``"1 + Days"``.
        frame: Complete-case model frame.

    Returns:
        The ``FixedPart`` with nothing dropped yet.
    """
    encoding, X = ModelMatrixEncoding.fit(text, frame, "fixed part")
    offset = evaluate_offsets(encoding.offsets, frame)
    return FixedPart(encoding=encoding, X=X, names=encoding.columns, kept=tuple(range(X.shape[1])),
                     dropped=(), offset=offset)


def drop_dependent_columns(part: FixedPart, tol: float = RANK_TOL) -> FixedPart:
    """Drop rank-deficient columns like lme4, warning with lme4's message.

    Args:
        part: Output of ``build_fixed``.
        tol: Relative tolerance of ``independent_columns``.

    Returns:
        ``part`` with ``X``, ``names``, ``kept`` and ``dropped`` updated.
    """
    if part.X.shape[1] == 0 or not np.all(np.isfinite(part.X)):
        return part
    kept = independent_columns(part.X, tol)
    if len(kept) == part.X.shape[1]:
        return part
    keep = set(kept.tolist())
    dropped = tuple(c for j, c in enumerate(part.encoding.columns) if j not in keep)
    warnings.warn(rank_message(dropped), RankDeficiencyWarning, stacklevel=3)
    return FixedPart(encoding=part.encoding, X=np.ascontiguousarray(part.X[:, kept]),
                     names=tuple(part.encoding.columns[j] for j in kept),
                     kept=tuple(int(j) for j in kept), dropped=dropped, offset=part.offset)


def drop_intercept_column(part: FixedPart) -> FixedPart:
    """Drop ``(Intercept)`` from the fixed part (a family whose parameters absorb it).

    Args:
        part: The fixed part (after ``drop_dependent_columns``).

    Returns:
        ``part`` without the intercept column; unchanged when it has none.
        ``kept`` is updated so that new data are encoded the same way.
    """
    if INTERCEPT not in part.names:
        return part
    j = part.names.index(INTERCEPT)
    keep = [k for k in range(len(part.names)) if k != j]
    return FixedPart(encoding=part.encoding, X=np.ascontiguousarray(part.X[:, keep]),
                     names=tuple(part.names[k] for k in keep),
                     kept=tuple(part.kept[k] for k in keep), dropped=part.dropped, offset=part.offset)
