"""Fixed part: rank deficiency, offsets, expressions; kept columns vs lme4."""

from __future__ import annotations

import os
import tempfile
import warnings

import numpy as np
import pytest

import r_helpers
from tabmixr.design import RankDeficiencyWarning, build_design, independent_columns


def _rank_data(toy):
    data = toy()
    data["x2"] = 2.0 * data["x"]
    data["xz"] = data["x"] + data["z"]
    # an empty cell: f == "c" never meets g == "v"
    data["h"] = np.where((data["f"] == "c") & (data["g"] == "v"), "u", data["g"])
    return data


RANK_TABLE = [
    ("1 + x + x2", "y ~ x + x2 + (1 | site)"),
    ("1 + x + z + xz + f", "y ~ x + z + xz + f + (1 | site)"),
    ("1 + f:g", "y ~ f:g + (1 | site)"),
    ("1 + f*h", "y ~ f*h + (1 | site)"),
    ("0 + f + g + f:g", "y ~ 0 + f + g + f:g + (1 | site)"),
]


@pytest.fixture(scope="module")
def lme4_kept(toy):
    data = _rank_data(toy)
    with tempfile.TemporaryDirectory(prefix="tabmixr-design-") as tmp:
        path = os.path.join(tmp, "rank.csv")
        out = data.copy()
        out["l"] = np.where(out["l"], "TRUE", "FALSE")
        out.to_csv(path, index=False)
        formulas = ", ".join(r_helpers._r_string(r) for _, r in RANK_TABLE)
        expr = f"""
        d <- read.csv({r_helpers._r_string(path)}, stringsAsFactors = TRUE)
        lapply(c({formulas}), function(f) {{
          msgs <- character(0)
          X <- withCallingHandlers(lme4::lFormula(stats::as.formula(f), d)$X,
                 message = function(m) {{ msgs <<- c(msgs, trimws(conditionMessage(m))); invokeRestart("muffleMessage") }})
          list(kept = I(colnames(X)), messages = I(msgs))
        }})
        """
        return r_helpers.r_json(expr)


@r_helpers.needs_r
@pytest.mark.parametrize("k", range(len(RANK_TABLE)), ids=[r for _, r in RANK_TABLE])
def test_kept_columns_and_message_match_lme4(k, lme4_kept, toy, spec, term):
    fixed = RANK_TABLE[k][0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = build_design(spec("y", fixed, term("1", "site")), _rank_data(toy))
    ref = lme4_kept[k]
    assert list(d.fixed_names) == list(ref["kept"])
    ours = [str(w.message) for w in caught if issubclass(w.category, RankDeficiencyWarning)]
    theirs = [m for m in ref["messages"] if "rank deficient" in m]
    assert len(ours) == len(theirs)
    for mine, lme4 in zip(ours, theirs):
        assert mine.startswith(lme4)  # lme4's text; ours adds the column names


def test_rank_deficiency_records_and_warns(toy, spec, term):
    with pytest.warns(RankDeficiencyWarning,
                      match=r"^fixed-effect model matrix is rank deficient so dropping 1 column / coefficient: x2$"):
        d = build_design(spec("y", "1 + x + x2", term("1", "site")), _rank_data(toy))
    assert d.fixed_names == ("(Intercept)", "x")
    assert d.dropped_fixed == ("x2",)
    assert d.X.shape == (60, 2)
    assert d.messages == ("fixed-effect model matrix is rank deficient so dropping 1 column / coefficient: x2",)
    assert d.encoding.fixed_names == d.fixed_names


def test_plural_message(toy, spec, term):
    data = _rank_data(toy)
    data["x3"] = -data["x"]
    with pytest.warns(RankDeficiencyWarning, match="dropping 2 columns / coefficients: x2, x3"):
        build_design(spec("y", "1 + x + x2 + x3", term("1", "site")), data)


def test_full_rank_no_warning(toy, spec, term):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = build_design(spec("y", "1 + x*f", term("1", "site")), toy())
    assert d.dropped_fixed == () and d.messages == ()


def test_independent_columns_keeps_earliest():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 50))
    X = np.column_stack([a, a + b, b, np.zeros(50), 3 * a, rng.normal(size=50)])
    np.testing.assert_array_equal(independent_columns(X), [0, 1, 5])
    np.testing.assert_array_equal(independent_columns(np.zeros((5, 0))), [])


def test_near_dependence_within_tolerance_is_dropped():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 200))
    X = np.column_stack([a, b, a + 1e-9 * rng.normal(size=200), a + 1e-3 * rng.normal(size=200)])
    np.testing.assert_array_equal(independent_columns(X), [0, 1, 3])


def test_formula_offset_and_argument_offset_add(toy, spec, term):
    data = toy()
    d = build_design(spec("y", "1 + x + offset(log(n))", term("1", "site")), data, offset="z")
    np.testing.assert_allclose(d.offset, np.log(data["n"]) + data["z"])
    assert d.fixed_names == ("(Intercept)", "x")
    d2 = build_design(spec("y", "1 + x", term("1", "site")), data, offset=np.arange(60.0))
    np.testing.assert_allclose(d2.offset, np.arange(60.0))
    assert build_design(spec("y", "1 + x", term("1", "site")), data).offset is None


def test_r_power_inside_expressions(toy, spec, term):
    data = toy()
    d = build_design(spec("y", "1 + x + I(x^2)", term("1", "site")), data)
    assert d.fixed_names == ("(Intercept)", "x", "I(x^2)")
    np.testing.assert_allclose(d.X[:, 2], data["x"] ** 2)


def test_no_fixed_columns(toy, spec, term):
    d = build_design(spec("y", "0", term("1", "site")), toy())
    assert d.X.shape == (60, 0) and d.fixed_names == ()
