"""Unknown columns, weights and other bad input fail at design time."""

from __future__ import annotations

import numpy as np
import pytest

from tabmixr.design import build_design
from tabmixr.errors import DesignError, GroupingError, UnknownColumnError, WeightsError


@pytest.mark.parametrize("response, fixed, lhs, group, pattern", [
    ("Y", "1 + x", "1", "site", r"column 'Y' \(used in response 'Y'\).*did you mean 'y'"),
    ("y", "1 + xx", "1", "site", r"column 'xx' \(used in fixed part.*did you mean 'x'"),
    ("y", "1 + log(nn)", "1", "site", r"column 'nn'.*did you mean 'n'"),
    ("y", "1 + C(ff, Sum)", "1", "site", r"column 'ff'.*did you mean 'f'"),
    ("y", "1 + x", "1 + zz", "site", r"column 'zz' \(used in random term.*did you mean 'z'"),
    ("y", "1 + x", "1", "sitee", r"column 'sitee' \(used in grouping factor.*did you mean 'site'"),
    ("y", "1 + x", "1", "g:sites", r"column 'sites'.*did you mean 'site'"),
    ("y", "1 + offset(zed)", "1", "site", r"column 'zed' \(used in offset"),
    ("y", "1 + qqqq", "1", "site", r"column 'qqqq'.*not in the data$"),
])
def test_unknown_columns(toy, spec, term, response, fixed, lhs, group, pattern):
    with pytest.raises(UnknownColumnError, match=pattern):
        build_design(spec(response, fixed, term(lhs, group)), toy())


def test_unknown_function(toy, spec, term):
    with pytest.raises(DesignError, match=r"unknown function 'frobnicate'"):
        build_design(spec("y", "1 + frobnicate(x)", term("1", "site")), toy())


def test_unknown_weights_and_offset_columns(toy, spec, term):
    s = spec("y", "1 + x", term("1", "site"))
    with pytest.raises(UnknownColumnError, match=r"column 'wt' \(used in weights=\)"):
        build_design(s, toy(), weights="wt")
    with pytest.raises(UnknownColumnError, match=r"column 'zz' \(used in offset=\).*'z'"):
        build_design(s, toy(), offset="zz")


@pytest.mark.parametrize("weights, pattern", [
    (np.ones(59), r"weights has length 59, but the data have 60 rows"),
    (np.r_[-1.0, np.ones(59)], r"weights must be non-negative; found 1 negative"),
    (np.r_[np.inf, np.ones(59)], r"weights must be finite"),
    (["a"] * 60, r"weights must be numeric"),
])
def test_bad_weights(toy, spec, term, weights, pattern):
    with pytest.raises(WeightsError, match=pattern):
        build_design(spec("y", "1 + x", term("1", "site")), toy(), weights=weights)


def test_weights_by_column_name(toy, spec, term):
    data = toy()
    d = build_design(spec("y", "1 + x", term("1", "site")), data, weights="n")
    np.testing.assert_allclose(d.weights, data["n"])
    data.loc[0, "n"] = -2.0
    with pytest.raises(WeightsError, match=r"weights 'n' must be non-negative"):
        build_design(spec("y", "1 + x", term("1", "site")), data, weights="n")


def test_offset_wrong_length(toy, spec, term):
    with pytest.raises(DesignError, match="offset has length 3"):
        build_design(spec("y", "1 + x", term("1", "site")), toy(), offset=[1.0, 2.0, 3.0])


def test_single_level_factor_with_contrasts(toy, spec, term):
    data = toy()
    data["k"] = "only"
    with pytest.raises(DesignError, match=r"factor 'k' \(fixed part\) has a single level 'only'"):
        build_design(spec("y", "1 + k", term("1", "site")), data)


def test_data_must_be_a_frame(spec, term):
    with pytest.raises(DesignError, match="must be a pandas DataFrame"):
        build_design(spec("y", "1", term("1", "site")), {"y": [1, 2]})


def test_errors_share_the_hierarchy():
    assert issubclass(UnknownColumnError, DesignError) and issubclass(GroupingError, DesignError)


def test_infinite_values_are_named(toy, spec, term):
    data = toy()
    data.loc[0, "n"] = 0.0
    with pytest.raises(DesignError, match=r"column 'log\(n\)' of the fixed part has infinite values at 1 row"):
        build_design(spec("y", "1 + log(n)", term("1", "site")), data)


def test_backtick_names(toy, spec, term):
    data = toy()
    data["my var"] = data["x"] + 20
    d = build_design(spec("log(`my var`)", "1 + `my var` + log(`my var`)", term("1", "site")), data)
    assert d.fixed_names == ("(Intercept)", "my var", "log(`my var`)")
    np.testing.assert_allclose(d.y, np.log(data["my var"]))
