"""Directed acyclic graphs from weighted adjacency matrices (the ``gsem`` backbone).

Convention: ``B[i, j]`` is the weight of the edge ``i -> j``, so a linear
structural equation model over row vectors reads ``z = z B + xi``.

NOTEARS acyclicity (Zheng et al. 2018, "DAGs with NO TEARS", eq. 6):

    h(B) = tr(exp(B o B)) - d,   grad h(B) = exp(B o B)^T o 2 B,

``h(B) >= 0`` with equality exactly when ``B`` is the weighted adjacency
matrix of a DAG (``tr((B o B)^k)`` sums the weights of closed walks of
length ``k``).
"""

from __future__ import annotations

import numpy as np
import torch


def acyclicity(B: torch.Tensor) -> torch.Tensor:
    """NOTEARS ``h(B) = tr(exp(B o B)) - d`` (differentiable through autograd).

    Args:
        B: Square weighted adjacency matrix ``(d, d)``.

    Returns:
        A scalar tensor, 0 for a DAG and positive otherwise.
    """
    E = torch.linalg.matrix_exp(B * B)
    return torch.diagonal(E).sum() - B.shape[0]


def acyclicity_grad(B: torch.Tensor) -> torch.Tensor:
    """Closed-form gradient of ``acyclicity``: ``exp(B o B)^T o 2 B``.

    Args:
        B: Square weighted adjacency matrix ``(d, d)``.

    Returns:
        ``(d, d)`` tensor.
    """
    return torch.linalg.matrix_exp(B * B).T * 2.0 * B


def is_acyclic(adjacency: np.ndarray) -> bool:
    """Whether a 0/1 (or weighted) adjacency matrix has no directed cycle.

    Repeatedly removes nodes without incoming edges (Kahn's algorithm).

    Args:
        adjacency: ``(d, d)`` array; nonzero ``[i, j]`` is an edge ``i -> j``.

    Returns:
        ``True`` for a DAG.
    """
    A = np.asarray(adjacency) != 0
    alive = np.ones(A.shape[0], dtype=bool)
    while alive.any():
        sources = alive & ~A[alive].any(axis=0)
        if not sources.any():
            return False
        alive &= ~sources
    return True


def threshold_dag(weights: np.ndarray, threshold: float) -> tuple[np.ndarray, float]:
    """Edges with ``|weight| > threshold``, the threshold raised until they form a DAG.

    A continuous solution with ``h(B)`` near zero can still keep a faint
    cycle above the threshold; the smallest larger threshold that breaks every
    cycle is used then (as in GOLEM, Ng et al. 2020).

    Args:
        weights: ``(d, d)`` continuous adjacency.
        threshold: Smallest absolute weight kept.

    Returns:
        ``(adjacency, threshold_used)``: a 0/1 integer matrix and the threshold applied.
    """
    W = np.abs(np.asarray(weights, dtype=float))
    used = float(threshold)
    candidates = np.unique(W[W > used])
    for cut in [used] + list(candidates):
        A = (W > cut).astype(int)
        if is_acyclic(A):
            return A, float(cut)
    return np.zeros_like(W, dtype=int), float(W.max(initial=used))  # unreachable: no edges is a DAG


def structural_hamming_distance(estimated: np.ndarray, truth: np.ndarray) -> int:
    """Edge insertions, deletions and reversals turning ``estimated`` into ``truth``.

    A reversed edge counts once (the usual convention of the causal-discovery
    literature, e.g. NOTEARS' ``count_accuracy``).

    Args:
        estimated: ``(d, d)`` 0/1 adjacency.
        truth: ``(d, d)`` 0/1 adjacency.

    Returns:
        The distance.
    """
    E, T = np.asarray(estimated) != 0, np.asarray(truth) != 0
    skeleton_e, skeleton_t = np.triu(E | E.T, 1), np.triu(T | T.T, 1)
    missing_or_extra = int((skeleton_e != skeleton_t).sum())
    both = skeleton_e & skeleton_t
    reversed_ = int((both & (np.triu(E, 1) != np.triu(T, 1))).sum())
    return missing_or_extra + reversed_


def edge_list(adjacency: np.ndarray, weights: np.ndarray, names: list[str]) -> list[tuple[str, str, float]]:
    """``(parent, child, weight)`` for every edge of ``adjacency``.

    Args:
        adjacency: ``(d, d)`` 0/1 matrix.
        weights: ``(d, d)`` continuous weights.
        names: Node names.

    Returns:
        Edges in row-major order.
    """
    rows, cols = np.nonzero(np.asarray(adjacency))
    return [(names[i], names[j], float(weights[i][j])) for i, j in zip(rows, cols)]
