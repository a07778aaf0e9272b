"""Interpretation of fitted models: variance decomposition, R^2, ICC, SHAP values."""

from tabmixr.interpret.shapley import shap_values
from tabmixr.interpret.variance import VarianceDecomposition, icc, r2_nakagawa, variance_decomposition

__all__ = ["VarianceDecomposition", "icc", "r2_nakagawa", "shap_values", "variance_decomposition"]
