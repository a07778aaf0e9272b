"""Plots of fitted models (matplotlib, imported only when a plot is drawn)."""

from tabmixr.plots.dag import dag_layout, plot_dag
from tabmixr.plots.shap_summary import plot_shap_summary, shap_importance

__all__ = ["dag_layout", "plot_dag", "plot_shap_summary", "shap_importance"]
