"""Bad input through ``tabmixr.tabmix`` fails before anything is fitted.

Every case of the foundation issue raises a ``TabmixError`` subclass whose
message names the column, term or value at fault; the exact engine's ``fit``
is patched to fail loudly, so a test passes only if the error comes from the
parse or design stage.  Two inputs are *not* errors, as in lme4: a
rank-deficient fixed-effects matrix (the column is dropped with lme4's
message) and rows with missing values (dropped, and counted in a message).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import tabmixr
from tabmixr.design.fixed import RankDeficiencyWarning
from tabmixr.engines.exact.engine import ExactEngine
from tabmixr.errors import (DesignError, EngineError, FormulaError, GroupingError, ResponseError,
                            TabmixError, UnknownColumnError, WeightsError)
from r_helpers import needs_r, r_json

SLEEP = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture
def no_fit(monkeypatch):
    """Make any call of the exact engine's ``fit`` fail the test."""
    def fit(*args, **kwargs):
        raise AssertionError("the engine was called on bad input")

    monkeypatch.setattr(ExactEngine, "fit", fit)


@pytest.fixture
def sleep() -> pd.DataFrame:
    """A fresh copy of sleepstudy (tests add columns to it)."""
    return tabmixr.datasets.load("sleepstudy").copy()


def _raises(error, pattern, formula, data, **kwargs):
    with pytest.raises(error, match=pattern) as info:
        tabmixr.tabmix(formula, data, **kwargs)
    assert isinstance(info.value, TabmixError)
    return info.value


# ------------------------------------------------------------------ formula


@pytest.mark.parametrize("formula, pattern", [
    ("Reaction ~ Dayz + (Days | Subject)", r"column 'Dayz' \(used in fixed part.*did you mean 'Days'"),
    ("Reaction ~ Days + (Dayz | Subject)", r"column 'Dayz' \(used in random term.*did you mean 'Days'"),
    ("Reaction ~ Days + (Days | Subjekt)",
     r"column 'Subjekt' \(used in grouping factor.*did you mean 'Subject'"),
    ("Reactoin ~ Days + (Days | Subject)", r"column 'Reactoin' \(used in response.*did you mean 'Reaction'"),
], ids=["fixed", "random-lhs", "grouping", "response"])
def test_unknown_column_is_named_with_a_close_match(no_fit, sleep, formula, pattern):
    _raises(UnknownColumnError, pattern, formula, sleep)


def test_bar_without_grouping_factor(no_fit, sleep):
    _raises(FormulaError, r"'\(Days \|\s*\)' has an empty grouping factor", "Reaction ~ Days + (Days | )", sleep)


@pytest.mark.parametrize("formula, pattern", [
    ("Reaction ~ Days + (Days | Subject", r"unbalanced parentheses: '\(' .* never closed"),
    ("Reaction ~ Days + Days | Subject)", r"unbalanced parentheses: '\)' .* closes nothing"),
    ("Reaction ~ (Days + (Days | Subject)", r"unbalanced parentheses: '\(' .* never closed"),
], ids=["open-bar", "close-bar", "open-fixed"])
def test_unbalanced_parentheses(no_fit, sleep, formula, pattern):
    _raises(FormulaError, pattern, formula, sleep)


# ----------------------------------------------------------------- response


def test_non_numeric_response(no_fit, sleep):
    sleep["label"] = "r" + sleep["Reaction"].round().astype(int).astype(str)
    _raises(ResponseError, r"response 'label' must be numeric", "label ~ Days + (1 | Subject)", sleep)


def test_constant_response(no_fit, sleep):
    sleep["flat"] = 3.0
    _raises(ResponseError, r"response 'flat' is constant \(every value is 3\)", "flat ~ Days + (1 | Subject)",
            sleep)


def test_response_all_missing(no_fit, sleep):
    sleep["gone"] = np.nan
    _raises(ResponseError, r"column 'gone' is entirely missing", "gone ~ Days + (1 | Subject)", sleep)


# --------------------------------------------------------- grouping factors


def test_grouping_factor_with_one_level(no_fit, sleep):
    sleep["lab"] = "only"
    _raises(GroupingError, r"grouping factor 'lab' .* has 1 level\(s\).*> 1 sampled level",
            "Reaction ~ Days + (1 | lab)", sleep)


def test_grouping_factor_with_a_level_per_observation(no_fit, sleep):
    sleep["row"] = np.arange(len(sleep))
    _raises(GroupingError, r"number of levels of each grouping factor must be < number of observations "
                           r"\(grouping factor 'row' has 180 levels for 180 observations",
            "Reaction ~ Days + (1 | row)", sleep)


# ------------------------------------------------------------------ weights


@pytest.mark.parametrize("make, pattern", [
    (lambda n: np.r_[-1.0, np.ones(n - 1)], r"weights must be non-negative; found 1 negative value\(s\) \(smallest -1\)"),
    (lambda n: np.ones(n - 1), r"weights has length 179, but the data have 180 rows"),
    (lambda n: np.r_[np.inf, np.ones(n - 1)], r"weights must be finite"),
], ids=["negative", "wrong-length", "infinite"])
def test_bad_weights(no_fit, sleep, make, pattern):
    _raises(WeightsError, pattern, SLEEP, sleep, weights=make(len(sleep)))


def test_negative_weights_by_column_name(no_fit, sleep):
    sleep["w"] = 1.0
    sleep.loc[7, "w"] = -0.5
    _raises(WeightsError, r"weights 'w' must be non-negative", SLEEP, sleep, weights="w")


def test_missing_weights_with_na_action_fail(no_fit, sleep):
    w = np.ones(len(sleep))
    w[3] = np.nan
    _raises(DesignError, r"missing values in 'weights' with na_action='fail'; 1 row\(s\) affected",
            SLEEP, sleep, weights=w, na_action="fail")


@needs_r
def test_missing_weights_drop_the_row_as_lme4():
    """lme4 puts ``weights`` in the model frame, so ``na.omit`` drops a NaN weight's row."""
    sleep = tabmixr.datasets.load("sleepstudy")
    w = np.ones(len(sleep))
    w[3] = np.nan
    fit = tabmixr.tabmix("Reaction ~ Days + (1 | Subject)", sleep, weights=w)
    ref = r_json("w <- rep(1, 180); w[4] <- NA; "
                 "nobs(lmer(Reaction ~ Days + (1 | Subject), sleepstudy, weights = w))")
    assert fit.nobs() == ref == 179
    assert "1 observation(s) deleted due to missingness" in fit.messages


# ------------------------------------------------------ method, family, data


def test_unknown_method(no_fit, sleep):
    _raises(EngineError, r"unknown method 'remlx'; known methods: .*ml.*reml", SLEEP, sleep, method="remlx")


@pytest.mark.parametrize("method", ["reml", "ml"])
def test_non_gaussian_family_with_exact_method(no_fit, sleep, method):
    _raises(EngineError, rf"method '{method}' fits family 'gaussian' only, got 'poisson'.*method='vi'",
            SLEEP, sleep, family="poisson", method=method)


@pytest.mark.parametrize("data", [{"Reaction": [1.0, 2.0]}, np.zeros((3, 2)), None],
                         ids=["dict", "ndarray", "None"])
def test_data_must_be_a_data_frame(no_fit, data):
    _raises(DesignError, r"data must be a pandas DataFrame, got " + type(data).__name__, SLEEP, data)


@pytest.mark.parametrize("term", ["ar1(1 | Subject)", "ar1(Days | Subject)"])
def test_structured_covariance_with_exact_engine(no_fit, sleep, term):
    err = _raises(EngineError, r"unstructured covariances only.*method='vi'", f"Reaction ~ Days + {term}", sleep)
    assert "ar1" in str(err)


# ------------------------------------- not errors: rank deficiency and NAs


@needs_r
def test_rank_deficient_fixed_part_drops_a_column_as_lme4(sleep):
    sleep["Days2"] = 2 * sleep["Days"]
    formula = "Reaction ~ Days + Days2 + (1 | Subject)"
    with pytest.warns(RankDeficiencyWarning, match="rank deficient so dropping 1 column / coefficient"):
        fit = tabmixr.tabmix(formula, sleep)
    ref = r_json(f"""
        d <- sleepstudy; d$Days2 <- 2 * d$Days
        msgs <- character(0)
        f <- withCallingHandlers(lmer({formula}, d),
                                 message = function(m) {{ msgs <<- c(msgs, conditionMessage(m));
                                                          invokeRestart("muffleMessage") }})
        list(fixef = as.list(fixef(f)), messages = I(trimws(msgs)))
    """)
    lme4_message = "fixed-effect model matrix is rank deficient so dropping 1 column / coefficient"
    assert ref["messages"] == [lme4_message]
    assert any(m.startswith(lme4_message) and m.endswith("Days2") for m in fit.messages)
    assert list(fit.fixef().index) == list(ref["fixef"]) == ["(Intercept)", "Days"]
    np.testing.assert_allclose(fit.fixef().to_numpy(), list(ref["fixef"].values()), rtol=1e-5)


@needs_r
def test_rows_with_missing_values_are_dropped_as_lme4(sleep):
    sleep.loc[[0, 5], "Reaction"] = np.nan
    sleep.loc[[10, 5], "Days"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # dropping rows is a message, not a warning
        fit = tabmixr.tabmix(SLEEP, sleep)
    ref = r_json("""
        d <- sleepstudy; d$Reaction[c(1, 6)] <- NA; d$Days[c(11, 6)] <- NA
        f <- lmer(Reaction ~ Days + (Days | Subject), d)
        list(nobs = nobs(f), fixef = as.list(fixef(f)))
    """)
    assert fit.nobs() == ref["nobs"] == 177
    assert "3 observation(s) deleted due to missingness" in fit.messages
    np.testing.assert_allclose(fit.fixef().to_numpy(), list(ref["fixef"].values()), rtol=1e-5)


def test_missing_values_with_na_action_fail(no_fit, sleep):
    sleep.loc[[0, 5], "Reaction"] = np.nan
    _raises(DesignError, r"missing values in 'Reaction' with na_action='fail'; 2 row\(s\) affected",
            SLEEP, sleep, na_action="fail")


def test_zero_weight_is_refused_by_the_exact_engine(no_fit):
    data = tabmixr.datasets.load("sleepstudy")
    w = np.ones(len(data))
    w[5] = 0.0
    with pytest.raises(WeightsError, match="weight 0"):
        tabmixr.tabmix("Reaction ~ Days + (Days | Subject)", data, weights=w)
