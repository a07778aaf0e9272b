"""The linear structural equation model behind the ``gsem`` backbone.

Nodes are the non-constant fixed-effect columns, centred and divided by one
common scale (the RMS of their standard deviations), so their relative
scales survive: an equal-variance Gaussian SEM is identifiable from its
distribution (Peters & Buehlmann 2014), and per-column standardization would
throw that information away (Reisach et al. 2021, "Beware of the simulated
DAG").  With ``z`` a row of nodes,

    z = z B + xi,   xi ~ N(0, sigma^2 I),   i.e.  z = xi (I - B)^-1,

``B[i, j]`` the weight of the edge ``i -> j``.  For a DAG ``det(I - B) = 1``,
so ``log p(z) = sum_j log N(xi_j; 0, sigma^2)``; during training (``B`` not
yet acyclic) the same expression is NOTEARS' least-squares score with a
learned noise scale.  ``B = B_pos - B_neg`` with both parts non-negative
makes ``lambda_l1 |B|_1 = lambda_l1 sum(B_pos + B_neg)`` smooth under bound
constraints (Zheng et al. 2018, section 4).  The structural penalty added to
the per-row objective is

    alpha h(B) + rho / 2 h(B)^2 + lambda_l1 |B|_1,

with ``alpha`` and ``rho`` set by the augmented Lagrangian (``lagrangian.py``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from tabmixr.engines.vi.dag import acyclicity, edge_list, threshold_dag


class LinearSEM(nn.Module):
    """Weighted adjacency, noise scale and Lagrangian state of a linear Gaussian SEM.

    Args:
        d: Number of nodes.
        lambda_l1: Weight of the L1 penalty on ``B`` (per row).

    Attributes:
        B_pos, B_neg: Non-negative parts of ``B`` (diagonals held at 0).
        log_sigma: Log noise SD of every node (on the common scale).
        node_scale: Per node, its column SD over the common scale (set by ``set_scale``).
        alpha, rho: Lagrange multiplier and penalty weight of ``h(B) = 0``.
    """

    def __init__(self, d: int, lambda_l1: float = 0.03):
        super().__init__()
        self.d = int(d)
        self.lambda_l1 = float(lambda_l1)
        self.B_pos = nn.Parameter(torch.zeros(d, d))
        self.B_neg = nn.Parameter(torch.zeros(d, d))
        self.log_sigma = nn.Parameter(torch.zeros(()))
        self.register_buffer("mask", 1.0 - torch.eye(d))
        self.register_buffer("node_scale", torch.ones(d))
        self.register_buffer("alpha", torch.zeros(()))
        self.register_buffer("rho", torch.ones(()))

    def weights(self) -> torch.Tensor:
        """``B``, ``(d, d)``, with a zero diagonal."""
        return (self.B_pos - self.B_neg) * self.mask

    def set_scale(self, column_scale: torch.Tensor) -> None:
        """Store ``column_scale / rms(column_scale)`` (the nodes' SDs over the common scale).

        Args:
            column_scale: The nodes' column SDs, ``(d,)``.
        """
        with torch.no_grad():
            rms = torch.sqrt((column_scale ** 2).mean()).clamp(min=1e-12)
            self.node_scale.copy_(column_scale / rms)

    def nodes(self, Xs_nodes: torch.Tensor) -> torch.Tensor:
        """Node values ``z`` from the per-column standardized node columns, ``(n, d)``."""
        return Xs_nodes * self.node_scale

    def residuals(self, z: torch.Tensor) -> torch.Tensor:
        """Exogenous noises ``xi = z (I - B)``, ``(n, d)``."""
        return z - z @ self.weights()

    def loglik(self, z: torch.Tensor) -> torch.Tensor:
        """``log p(z_i)`` per row under the SEM, ``(n,)`` (exact when ``B`` is a DAG)."""
        r = self.residuals(z)
        return (-0.5 * (r ** 2).sum(1) * torch.exp(-2.0 * self.log_sigma)
                - self.d * (self.log_sigma + 0.5 * math.log(2.0 * math.pi)))

    def mean_loglik(self, S: torch.Tensor) -> torch.Tensor:
        """Mean of ``loglik`` over rows whose second moments are ``S = Z^T Z / n``.

        ``mean ||z (I - B)||^2 = tr((I - B)^T S (I - B))``, so a full pass over
        the data costs ``O(d^3)``.
        """
        I_B = torch.eye(self.d, dtype=S.dtype, device=S.device) - self.weights()
        rss = torch.trace(I_B.T @ S @ I_B)
        return (-0.5 * rss * torch.exp(-2.0 * self.log_sigma)
                - self.d * (self.log_sigma + 0.5 * math.log(2.0 * math.pi)))

    def acyclicity(self) -> torch.Tensor:
        """``h(B)`` (0 exactly for a DAG)."""
        return acyclicity(self.weights())

    def penalty(self) -> torch.Tensor:
        """``alpha h + rho / 2 h^2 + lambda_l1 |B|_1`` (per row of the objective)."""
        h = self.acyclicity()
        l1 = ((self.B_pos + self.B_neg) * self.mask).sum()
        return self.alpha * h + 0.5 * self.rho * h * h + self.lambda_l1 * l1

    def bounds(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Lower/upper bounds of the bounded parameters, by attribute name.

        Returns:
            ``{"B_pos": (lo, hi), "B_neg": (lo, hi)}`` with ``lo = 0`` and
            ``hi = inf`` off the diagonal, ``0`` on it.
        """
        hi = np.where(np.eye(self.d, dtype=bool), 0.0, np.inf)
        return {name: (np.zeros((self.d, self.d)), hi) for name in ("B_pos", "B_neg")}


def dag_summary(sem: LinearSEM, names: list[str], threshold: float) -> dict[str, Any]:
    """The learned DAG as plain data (saved with the fit).

    Args:
        sem: The trained SEM.
        names: Node names (fixed-effect column names).
        threshold: Smallest absolute weight kept as an edge.

    Returns:
        Dict with ``nodes``, ``weights`` (continuous ``B``, row = parent),
        ``adjacency`` (0/1, thresholded and acyclic), ``edges`` (parent,
        child, weight), ``threshold`` (as asked), ``threshold_used``, ``h``
        (``h(B)`` of the continuous weights), ``sigma``, ``alpha``, ``rho``.
    """
    with torch.no_grad():
        B = sem.weights().detach().cpu().to(torch.float64)
        h = float(acyclicity(B))
    W = B.numpy()
    adjacency, used = threshold_dag(W, threshold)
    return {"nodes": list(names), "weights": W.tolist(), "adjacency": adjacency.tolist(),
            "edges": [list(e) for e in edge_list(adjacency, W, list(names))],
            "threshold": float(threshold), "threshold_used": used, "h": h,
            "sigma": float(torch.exp(sem.log_sigma.detach())), "alpha": float(sem.alpha),
            "rho": float(sem.rho)}


def learned_dag(fit) -> dict[str, Any]:
    """The DAG a ``backbone="gsem"`` fit learned (``dag_summary``'s plain data).

    Args:
        fit: A ``MixedFit`` (fresh or loaded).

    Returns:
        The dict stored under ``fit.model_state["dag"]``.

    Raises:
        UnavailableError: the fit has no learned DAG (another method or backbone).
    """
    from tabmixr.results.errors import UnavailableError
    dag = (fit.model_state or {}).get("dag")
    if dag is None:
        raise UnavailableError("this fit has no learned DAG; fit with method='vi', backbone='gsem'")
    return dag


def total_effects(fit, task: int = 0):
    """Total effect of each SEM node on a task's linear predictor, through the learned DAG.

    Raising node ``j`` by one unit moves its descendants by
    ``[(I - W)^-1]_{j, k}`` (``W``: the DAG's weights, on the scale of ``X``,
    which the common node scale leaves unchanged), so its total effect is
    ``sum_k [(I - W)^-1]_{j, k} beta_k``; for a node without children it is
    its coefficient.

    Args:
        fit: A ``backbone="gsem"`` fit.
        task: Task index (multitask fits).

    Returns:
        ``pandas.Series`` indexed by node name.

    Raises:
        UnavailableError: the fit has no learned DAG.
        ValueError: a task with several linear predictors (categorical outcomes).
    """
    import pandas as pd

    dag = learned_dag(fit)
    beta = np.asarray(fit.model_state["tasks"][task]["beta"], dtype=float)
    if beta.ndim == 2 and beta.shape[1] != 1:
        raise ValueError(f"task {task} has {beta.shape[1]} linear predictors; total effects need one")
    nodes = fit.model_state["config"]["backbone_options"]["nodes"]
    W = np.asarray(dag["weights"]) * np.asarray(dag["adjacency"])
    effects = np.linalg.solve(np.eye(len(nodes)) - W, beta.reshape(-1)[nodes])
    return pd.Series(effects, index=dag["nodes"], name="total_effect")
