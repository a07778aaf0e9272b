"""Plots of fitted models (matplotlib, imported only when a plot is drawn)."""

from tabmixr.plots.dag import dag_layout, plot_dag

__all__ = ["dag_layout", "plot_dag"]
