"""Summary plot of SHAP values (a beeswarm, like ``shap.plots.beeswarm``).

One row per feature, ordered by mean ``|SHAP|`` with the largest on top;
each explained row is a point at its SHAP value, spread vertically where
points pile up, coloured by the feature's value (its rank among the rows,
low = blue, high = red; grey where missing).
"""

from __future__ import annotations

import numpy as np

from tabmixr.results.errors import ArgumentError

#: Half the height of a feature's row taken by its swarm.
ROW_HALF_HEIGHT = 0.4


def shap_importance(explanation) -> tuple[list[str], np.ndarray]:
    """Features and their mean ``|SHAP|``, most important first.

    Args:
        explanation: A ``shap.Explanation`` (or anything with ``values``
            ``(m, d)`` and ``feature_names``), e.g. from ``shap_values``.

    Returns:
        ``(names, mean_abs)`` sorted by decreasing ``mean_abs``.

    Raises:
        ArgumentError: ``values`` is not a 2-D array matching ``feature_names``.
    """
    values = np.asarray(explanation.values, dtype=float)
    names = list(explanation.feature_names or [f"feature {j}" for j in range(values.shape[-1])])
    if values.ndim != 2 or values.shape[1] != len(names):
        raise ArgumentError(f"SHAP values must be (rows, features) with one name per feature; got "
                            f"shape {values.shape} and {len(names)} name(s)")
    mean_abs = np.abs(values).mean(axis=0)
    order = np.argsort(-mean_abs, kind="stable")
    return [names[j] for j in order], mean_abs[order]


def swarm_offsets(x: np.ndarray, n_bins: int = 50) -> np.ndarray:
    """Vertical offsets in ``[-ROW_HALF_HEIGHT, ROW_HALF_HEIGHT]`` that spread piled-up points.

    Points are binned along ``x``; within a bin they alternate above and
    below the row's centre line, further out the more there are.
    """
    x = np.asarray(x, dtype=float)
    offsets = np.zeros(len(x))
    span = np.ptp(x) if len(x) else 0.0
    if span == 0.0:
        bins = np.zeros(len(x), dtype=int)
    else:
        bins = np.minimum(((x - x.min()) / span * n_bins).astype(int), n_bins - 1)
    largest = max(np.bincount(bins).max() if len(x) else 1, 1)
    for b in np.unique(bins):
        members = np.flatnonzero(bins == b)
        rank = np.arange(len(members))
        sign = np.where(rank % 2 == 0, 1.0, -1.0)
        offsets[members] = sign * np.ceil(rank / 2.0) / np.ceil(largest / 2.0)
    return offsets * ROW_HALF_HEIGHT


def _colour_values(column: np.ndarray) -> np.ndarray:
    """Ranks of a feature's values scaled to ``[0, 1]`` (NaN stays NaN)."""
    column = np.asarray(column, dtype=float)
    out = np.full(len(column), np.nan)
    finite = np.isfinite(column)
    if finite.sum() > 1:
        ranks = np.argsort(np.argsort(column[finite], kind="stable"), kind="stable")
        out[finite] = ranks / (finite.sum() - 1)
    elif finite.any():
        out[finite] = 0.5
    return out


def plot_shap_summary(explanation, ax=None, max_display: int = 20, cmap: str = "coolwarm"):
    """Draw the SHAP summary (beeswarm) of an explanation.

    Args:
        explanation: A ``shap.Explanation`` from ``tabmixr.interpret.shap_values``
            (``values`` ``(m, d)``, ``data`` ``(m, d)`` numeric, ``feature_names``).
        ax: Matplotlib axes to draw into; a new figure when ``None``.
        max_display: Most features shown (the most important ones).
        cmap: Colormap of the feature values.

    Returns:
        The axes: one scatter collection per shown feature, y tick labels
        the feature names (most important on top).

    Raises:
        ArgumentError: malformed explanation or ``max_display < 1``.
    """
    from matplotlib import pyplot as plt

    if int(max_display) < 1:
        raise ArgumentError(f"max_display must be a positive integer, got {max_display!r}")
    names, _ = shap_importance(explanation)
    all_names = list(explanation.feature_names or [f"feature {j}" for j in range(len(names))])
    values = np.asarray(explanation.values, dtype=float)
    data = None if explanation.data is None else np.asarray(explanation.data, dtype=float)
    shown = names[:int(max_display)]
    if ax is None:
        _, ax = plt.subplots(figsize=(7.0, 0.45 * len(shown) + 1.5))
    colormap = plt.get_cmap(cmap)
    for row, name in enumerate(shown):
        j = all_names.index(name)
        y = len(shown) - 1 - row
        colour = np.full(len(values), 0.5) if data is None else _colour_values(data[:, j])
        rgba = colormap(np.nan_to_num(colour, nan=0.5))
        rgba[~np.isfinite(colour)] = (0.6, 0.6, 0.6, 1.0)
        ax.scatter(values[:, j], y + swarm_offsets(values[:, j]), c=rgba, s=12, linewidths=0)
    ax.axvline(0.0, color="0.5", linewidth=0.8, zorder=0)
    ax.set_yticks(range(len(shown)))
    ax.set_yticklabels(list(reversed(shown)))
    ax.set_ylim(-0.6, len(shown) - 0.4)
    ax.set_xlabel("SHAP value (impact on the prediction)")
    mappable = plt.cm.ScalarMappable(cmap=colormap, norm=plt.Normalize(0.0, 1.0))
    bar = ax.figure.colorbar(mappable, ax=ax, ticks=[0.0, 1.0], aspect=40)
    bar.set_ticklabels(["low", "high"])
    bar.set_label("feature value")
    return ax
