"""Interpretation of fitted models: variance decomposition, R^2, ICC."""

from tabmixr.interpret.variance import VarianceDecomposition, icc, r2_nakagawa, variance_decomposition

__all__ = ["VarianceDecomposition", "icc", "r2_nakagawa", "variance_decomposition"]
