"""plot_dag draws one arrow per learned edge (Agg backend, no display)."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from matplotlib.patches import FancyArrowPatch  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402

from tabmixr.plots import dag_layout, plot_dag  # noqa: E402


def _dag():
    W = np.array([[0.0, 1.2, -0.8, 0.0],
                  [0.0, 0.0, 0.0, 0.6],
                  [0.0, 0.0, 0.0, -1.5],
                  [0.0, 0.0, 0.0, 0.0]])
    W[3, 0] = 0.1  # below the threshold: not an edge
    A = (np.abs(W) > 0.3).astype(int)
    return {"nodes": ["a", "b", "c", "d"], "weights": W.tolist(), "adjacency": A.tolist(), "h": 0.0}


def test_plot_dag_draws_every_edge_once():
    ax = plot_dag(_dag())
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == 4
    colours = {tuple(np.round(a.get_edgecolor(), 3)) for a in arrows}
    assert len(colours) == 2  # positive and negative weights
    labels = {t.get_text() for t in ax.texts}
    assert {"a", "b", "c", "d", "1.20", "-1.50"} <= labels
    ax.figure.canvas.draw()
    plt.close(ax.figure)


def test_layout_puts_parents_above_children_and_rejects_cycles():
    pos = dag_layout(np.array(_dag()["adjacency"]))
    A = np.array(_dag()["adjacency"])
    for i, j in zip(*np.nonzero(A)):
        assert pos[i, 1] > pos[j, 1]
    with pytest.raises(ValueError, match="acyclic"):
        dag_layout(np.array([[0, 1], [1, 0]]))


def test_plot_dag_of_a_gsem_fit_on_given_axes():
    import pandas as pd
    import tabmixr
    rng = np.random.default_rng(5)
    x1 = rng.normal(size=400)
    x2 = 1.5 * x1 + rng.normal(size=400)
    x3 = -1.0 * x2 + rng.normal(size=400)
    g = rng.integers(0, 10, 400)
    df = pd.DataFrame({"x1": x1, "x2": x2, "x3": x3, "g": pd.Categorical(g.astype(str)),
                       "y": x1 + rng.normal(size=10)[g] + rng.normal(size=400)})
    fit = tabmixr.tabmix("y ~ x1 + x2 + x3 + (1 | g)", df, method="vi", backbone="gsem")
    fig, ax = plt.subplots()
    assert plot_dag(fit, ax=ax) is ax
    n_edges = int(np.array(fit.model_state["dag"]["adjacency"]).sum())
    assert n_edges >= 2 and len([p for p in ax.patches if isinstance(p, FancyArrowPatch)]) == n_edges
    plt.close(fig)
