"""Design stage: a parsed formula materialized on data (``build_design``)."""

from tabmixr.design.builder import build_design, model_columns
from tabmixr.design.design import Design, RandomTermDesign
from tabmixr.design.encoding import DesignEncoding, NewDesign, NewTermDesign
from tabmixr.design.fixed import RankDeficiencyWarning, independent_columns
from tabmixr.design.model_matrix import ModelMatrixEncoding, parse_rhs

__all__ = [
    "build_design", "model_columns", "Design", "RandomTermDesign", "DesignEncoding", "NewDesign",
    "NewTermDesign", "RankDeficiencyWarning", "independent_columns", "ModelMatrixEncoding", "parse_rhs",
]
