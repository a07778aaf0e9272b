"""Response evaluation and lme4-style NA omission."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabmixr.design import build_design
from tabmixr.errors import DesignError, ResponseError


def test_response_expression_and_bool(toy, spec, term):
    data = toy()
    data["yy"] = np.exp(data["y"])
    d = build_design(spec("log(yy)", "1 + x", term("1", "site")), data)
    np.testing.assert_allclose(d.y, data["y"])
    assert d.response_name == "log(yy)"
    d = build_design(spec("l", "1 + x", term("1", "site")), data)
    assert d.y.dtype == float and set(np.unique(d.y)) <= {0.0, 1.0}


def test_cbind_response(toy, spec, term):
    data = toy()
    data["k"] = np.floor(data["n"] / 2)
    d = build_design(spec("cbind(k, n - k)", "1 + x", term("1", "site")), data)
    assert d.y.shape == (60, 2)
    np.testing.assert_allclose(d.y.sum(axis=1), data["n"])


def test_one_sided_formula(toy, spec, term):
    d = build_design(spec("", "1 + x", term("1", "site")), toy())
    assert d.y is None and d.X.shape == (60, 2)


@pytest.mark.parametrize("column, values, pattern", [
    ("f", None, r"response 'f' must be numeric.*dtype (object|str)"),
    ("cat", pd.Categorical(["a", "b"] * 30), r"response 'cat' must be numeric.*category"),
    ("allna", np.full(60, np.nan), r"column 'allna' is entirely missing"),
    ("const", np.full(60, 3.0), r"response 'const' is constant \(every value is 3\)"),
])
def test_response_errors(toy, spec, term, column, values, pattern):
    data = toy()
    if values is not None:
        data[column] = values
    with pytest.raises(ResponseError, match=pattern):
        build_design(spec(column, "1 + x", term("1", "site")), data)


def test_na_omission_records_rows(toy, spec, term):
    data = toy()
    data.index = [f"r{i}" for i in range(60)]
    data.loc["r3", "y"] = np.nan
    data.loc["r5", "x"] = np.nan          # fixed variable
    data.loc["r7", "z"] = np.nan          # lhs variable
    data.loc["r9", "site"] = None         # grouping variable
    data.loc["r11", "f"] = None           # unused column: row kept
    w = np.ones(60)
    w[13] = np.nan                        # weights
    d = build_design(spec("y", "1 + x", term("1 + z", "site")), data, weights=w)
    assert list(d.dropped_rows) == ["r3", "r5", "r7", "r9", "r13"]
    assert d.n == 55 and len(d.row_index) == 55 and "r11" in set(d.row_index)
    np.testing.assert_allclose(d.y, data.loc[d.row_index, "y"])
    assert len(d.weights) == 55 and d.terms[0].X.shape == (55, 2)


def test_na_in_offset_column_drops_row(toy, spec, term):
    data = toy()
    data.loc[4, "z"] = np.nan
    d = build_design(spec("y", "1 + x", term("1", "site")), data, offset="z")
    assert list(d.dropped_rows) == [4] and np.all(np.isfinite(d.offset))


def test_expression_giving_nan_drops_row(toy, spec, term):
    data = toy()
    data.loc[2, "n"] = -1.0
    with np.errstate(invalid="ignore"):
        d = build_design(spec("y", "1 + log(n)", term("1", "site")), data)
    assert list(d.dropped_rows) == [2] and np.all(np.isfinite(d.X))


def test_levels_only_in_dropped_rows_disappear(toy, spec, term):
    data = toy()
    data["site"] = data["site"].astype(object)
    data.loc[0, "site"] = "lonely"
    data.loc[0, "y"] = np.nan
    d = build_design(spec("y", "1", term("1", "site")), data)
    assert "lonely" not in d.terms[0].levels


def test_all_rows_dropped(toy, spec, term):
    data = toy()
    data["x"] = np.nan
    with pytest.raises(ResponseError, match=r"no complete rows.*'x'"):
        build_design(spec("y", "1 + x", term("1", "site")), data)


def test_na_action_fail(toy, spec, term):
    data = toy()
    data.loc[1, "x"] = np.nan
    with pytest.raises(DesignError, match=r"missing values in 'x' with na_action='fail'"):
        build_design(spec("y", "1 + x", term("1", "site")), data, na_action="fail")
    with pytest.raises(DesignError, match="na_action must be one of"):
        build_design(spec("y", "1 + x", term("1", "site")), data, na_action="drop-ish")
