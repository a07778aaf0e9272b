"""``build_design``: a parsed formula materialized on a data frame (lme4's ``lFormula``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tabmixr.design.columns import require_columns
from tabmixr.design.design import Design
from tabmixr.design.encoding import DesignEncoding
from tabmixr.design.fixed import build_fixed, drop_dependent_columns, drop_intercept_column, rank_message
from tabmixr.design.level_data import attach_level_data
from tabmixr.design.missing import complete_rows, nan_rows
from tabmixr.design.model_matrix import parse_rhs
from tabmixr.design.random_terms import build_random_terms, check_grouping as check_grouping_factors, term_label
from tabmixr.design.relmat import attach_relationships
from tabmixr.design.response import RESPONSE_KINDS, check_response_columns, evaluate_response, response_variables
from tabmixr.design.validation import check_offset, check_weights, resolve_vector
from tabmixr.errors import DesignError, ResponseError
from tabmixr.formula.spec import ModelSpec


def model_columns(spec: ModelSpec, data: pd.DataFrame) -> list[str]:
    """Every data column the model uses, in order (response, fixed, random terms).

    Raises:
        UnknownColumnError: A variable is not a column, with close matches.
    """
    used = response_variables(spec.response, data.columns)
    used += parse_rhs(spec.fixed).data_columns(data.columns, f"fixed part {spec.fixed!r}")
    for term in spec.random:
        where = f"random term {term_label(term)}"
        used += parse_rhs(term.lhs).data_columns(data.columns, where)
        require_columns(term.group_vars, data.columns, f"grouping factor of {where}")
        used += list(term.group_vars)
    return list(dict.fromkeys(used))


def build_design(spec: ModelSpec, data: pd.DataFrame, weights=None, offset=None,
                 na_action: str = "omit", check_grouping: bool = True, response_kind: str = "numeric",
                 relmat=None, drop_intercept: bool = False) -> Design:
    """Materialize a parsed formula on a data frame.

    Steps (each in its own module): find the columns used, drop incomplete
    rows (lme4's ``na.omit``), build the fixed part (R-style names, offsets
    pulled out, rank-deficient columns dropped), the response, and every
    random term (term matrix, grouping codes, lme4's term order), then check
    the grouping factors.

    Args:
        spec: Parsed formula.
        data: Data frame holding every variable.
        weights: Prior weights: column name or array of ``len(data)``.
        offset: Offset added to the formula's ``offset(...)`` terms: column
            name or array of ``len(data)``.
        na_action: ``"omit"`` (default; ``"exclude"`` is the same here) or ``"fail"``.
        check_grouping: Apply lme4's grouping-factor checks (exact engine).
        response_kind: ``"numeric"`` (default), or ``"categorical"`` for
            ordinal/categorical families: a string, factor or boolean response
            is kept as it is (``pd.Categorical`` for a categorical column,
            else a NumPy array) and not checked for being constant.
        relmat: Name -> pedigree or relationship matrix for ``kin()`` terms
            (see ``tabmixr.design.relmat``); each kin term gets its
            ``relationship``.
        drop_intercept: Drop the ``(Intercept)`` column (families whose own
            parameters absorb it, e.g. ordinal cut points).

    Returns:
        The ``Design``; ``design.encoding`` is a ``DesignEncoding``.

    Raises:
        UnknownColumnError: A variable is not a column of ``data``.
        ResponseError: Non-numeric, entirely missing or constant response, or
            no complete row.
        WeightsError: Weights of the wrong length, negative or infinite.
        GroupingError: A grouping factor with < 2 levels or >= n levels.
        RelationshipError: A kin term's pedigree or matrix is missing, does
            not cover the term's levels, or is not symmetric positive definite.
        LevelDataError: A structured term's per-level data (``ar1``/``arma``
            times, ``gp``/``spde`` coordinates) is unusable (see
            ``tabmixr.design.level_data``).
        DesignError: Anything else the data cannot satisfy.
    """
    if not isinstance(data, pd.DataFrame):
        raise DesignError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    if response_kind not in RESPONSE_KINDS:
        raise DesignError(f"response_kind must be one of {', '.join(map(repr, RESPONSE_KINDS))}, "
                          f"not {response_kind!r}")
    used = model_columns(spec, data)
    w, w_name = resolve_vector(weights, data, "weights")
    o, o_name = resolve_vector(offset, data, "offset")
    check_weights(w, w_name)
    check_offset(o, o_name)
    if spec.response:
        check_response_columns(spec.response, data, response_kind)
    mask = complete_rows(data, used, {"weights": w, "offset": o}, na_action)
    numeric = response_kind == "numeric"
    parts = _materialize(spec, data, used, mask, response_kind)
    extra = nan_rows(parts[0] if numeric else None, parts[1].X, parts[1].offset, *(t.X for t in parts[2]))
    if extra is not None:  # an expression (log(x) at x < 0) gave NaN: R's model frame drops those rows too
        if na_action == "fail":
            raise DesignError(f"{int(extra.sum())} row(s) give missing values after evaluating the "
                              f"formula's expressions, with na_action='fail'")
        mask[np.flatnonzero(mask)[extra]] = False
        parts = _materialize(spec, data, used, mask, response_kind)
    y, fixed, terms, encodings = parts
    _check_finite(spec, y if numeric else None, fixed, terms)
    if numeric and y is not None and y.ndim == 1 and np.nanmin(y) == np.nanmax(y):
        raise ResponseError(f"response {spec.response!r} is constant (every value is {y[0]:g}); "
                            f"a mixed model needs a response that varies")
    fixed = drop_dependent_columns(fixed)
    if drop_intercept:
        fixed = drop_intercept_column(fixed)
    n = int(mask.sum())
    if check_grouping:
        check_grouping_factors(terms, n)
    attach_relationships(terms, relmat)
    attach_level_data(terms, encodings, data, mask)
    total_offset = fixed.offset
    if o is not None:
        total_offset = o[mask] if total_offset is None else total_offset + o[mask]
    encoding = DesignEncoding(fixed=fixed.encoding, kept=fixed.kept, response=spec.response,
                              terms=encodings, offset_column=o_name)
    index = data.index.to_numpy()
    return Design(spec=spec, X=fixed.X, fixed_names=fixed.names, y=y, response_name=spec.response,
                  weights=None if w is None else w[mask], offset=total_offset, terms=terms,
                  row_index=index[mask], dropped_rows=index[~mask], dropped_fixed=fixed.dropped,
                  encoding=encoding, messages=(rank_message(fixed.dropped),) if fixed.dropped else ())


def _check_finite(spec: ModelSpec, y, fixed, terms) -> None:
    """Infinite values (``log(0)``) cannot be fitted: name the column."""
    if y is not None and np.isinf(y).any():
        raise ResponseError(f"response {spec.response!r} has infinite values at "
                            f"{int(np.isinf(y).any(axis=-1).sum() if y.ndim > 1 else np.isinf(y).sum())} row(s)")
    checks = [("fixed part", fixed.names, fixed.X)]
    checks += [(f"random term {term_label(t.term)}", t.columns, t.X) for t in terms]
    for where, names, X in checks:
        bad = np.flatnonzero(np.isinf(X).any(axis=0))
        if len(bad):
            raise DesignError(f"column {names[bad[0]]!r} of the {where} has infinite values "
                              f"at {int(np.isinf(X[:, bad[0]]).sum())} row(s)")
    if fixed.offset is not None and np.isinf(fixed.offset).any():
        raise DesignError("the offset(...) terms give infinite values")


def _materialize(spec: ModelSpec, data: pd.DataFrame, used: list[str], mask: np.ndarray,
                 response_kind: str = "numeric"):
    if not mask.any():
        raise ResponseError(f"no complete rows: every row of the data has a missing value in one of "
                            f"{', '.join(map(repr, used))} (or in weights/offset)")
    frame = data[used] if mask.all() else data.loc[mask, used]
    y = evaluate_response(spec.response, frame, check_constant=False, kind=response_kind)
    fixed = build_fixed(spec.fixed, frame)
    terms, encodings = build_random_terms(spec.random, frame)
    return y, fixed, terms, encodings
