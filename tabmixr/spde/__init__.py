"""SPDE Matern fields: sparse precision on a regular grid (with a projector) or a triangle mesh."""

from tabmixr.spde.grid import SpdeGrid, matern_range, matern_variance
from tabmixr.spde.mesh import SpdeMesh

__all__ = ["SpdeGrid", "SpdeMesh", "matern_range", "matern_variance"]
