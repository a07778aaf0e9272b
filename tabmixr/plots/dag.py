"""Drawing the DAG a ``backbone="gsem"`` fit learned.

Nodes sit in layers by their depth (the longest directed path reaching
them), so every edge points down the page; an edge's width grows with
``|weight|`` and its colour gives the sign.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Edge colours by sign of the weight.
POSITIVE, NEGATIVE = "#1f77b4", "#d62728"


def dag_layout(adjacency: np.ndarray) -> np.ndarray:
    """Node positions ``(d, 2)``: ``y = -depth``, ``x`` spread evenly within each layer.

    Args:
        adjacency: ``(d, d)`` 0/1 matrix of a DAG (``[i, j]``: edge ``i -> j``).

    Returns:
        Coordinates, one row per node.

    Raises:
        ValueError: the graph has a directed cycle.
    """
    A = np.asarray(adjacency) != 0
    d = A.shape[0]
    depth = np.full(d, -1)
    for _ in range(d):
        for j in range(d):
            parents = np.flatnonzero(A[:, j])
            if len(parents) == 0:
                depth[j] = 0
            elif (depth[parents] >= 0).all():
                depth[j] = 1 + depth[parents].max()
    if (depth < 0).any():
        raise ValueError("dag_layout needs an acyclic adjacency matrix")
    pos = np.zeros((d, 2))
    for level in np.unique(depth):
        members = np.flatnonzero(depth == level)
        pos[members, 0] = np.arange(len(members)) - (len(members) - 1) / 2.0
        pos[members, 1] = -float(level)
    return pos


def plot_dag(fit_or_dag: Any, ax=None, show_weights: bool = True, node_size: float = 900.0):
    """Draw a learned DAG: nodes in depth layers, one arrow per edge.

    Args:
        fit_or_dag: A ``backbone="gsem"`` fit or its ``learned_dag`` dict.
        ax: Matplotlib axes to draw on (a new figure when ``None``).
        show_weights: Write each edge's weight at its midpoint.
        node_size: Marker area of the nodes (points^2).

    Returns:
        The matplotlib ``Axes``; each edge is one ``FancyArrowPatch`` in ``ax.patches``.

    Raises:
        UnavailableError: a fit without a learned DAG.
        ImportError: matplotlib is not installed (``pip install matplotlib``).
    """
    from matplotlib import pyplot as plt
    from matplotlib.patches import FancyArrowPatch

    from tabmixr.engines.vi.gsem import learned_dag

    dag = fit_or_dag if isinstance(fit_or_dag, dict) else learned_dag(fit_or_dag)
    A, W = np.asarray(dag["adjacency"]), np.asarray(dag["weights"], dtype=float)
    names = list(dag["nodes"])
    pos = dag_layout(A)
    if ax is None:
        width, height = np.ptp(pos[:, 0]) + 1.0, np.ptp(pos[:, 1]) + 1.0
        _, ax = plt.subplots(figsize=(max(4.0, 1.2 * width), max(3.0, 1.2 * height)))
    big = max(float(np.abs(W[A != 0]).max()) if A.any() else 1.0, 1e-12)
    for i, j in zip(*np.nonzero(A)):
        w = W[i, j]
        arrow = FancyArrowPatch(pos[i], pos[j], arrowstyle="-|>", mutation_scale=14,
                                linewidth=0.8 + 2.5 * abs(w) / big, shrinkA=14, shrinkB=14,
                                color=POSITIVE if w >= 0 else NEGATIVE,
                                connectionstyle="arc3,rad=0.08")
        ax.add_patch(arrow)
        if show_weights:
            mid = (pos[i] + pos[j]) / 2.0
            ax.text(mid[0], mid[1], f"{w:.2f}", fontsize=7, ha="center", va="center",
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8})
    ax.scatter(pos[:, 0], pos[:, 1], s=node_size, c="white", edgecolors="black", zorder=3)
    for (x, y), name in zip(pos, names):
        ax.text(x, y, name, ha="center", va="center", fontsize=8, zorder=4)
    pad = 0.6
    ax.set_xlim(pos[:, 0].min() - pad, pos[:, 0].max() + pad)
    ax.set_ylim(pos[:, 1].min() - pad, pos[:, 1].max() + pad)
    ax.set_axis_off()
    ax.set_title(f"learned DAG: {int(A.sum())} edges, h(B) = {dag['h']:.2g}")
    return ax
