"""anova against lme4's anova.merMod."""

import numpy as np
import pytest

from results_helpers import r_matrix
from tabmixr.results import UnavailableError, anova
from tabmixr.results.anova import REFIT_NOTE
from tabmixr.results.errors import ArgumentError, ResultError

ML = {"sleep_reml": "sleep_ml", "sleep_split": "sleep_split_ml", "sleep_int": "sleep_int_ml"}


def _fit_with_refit(fits, name):
    fit = fits(name)
    fit.extra["refit_ml"] = lambda: fits(ML[name])
    return fit


def _check_table(table, expected):
    ref = r_matrix(expected["table"])
    assert list(table.columns) == list(ref.columns)
    assert list(table.index) == list(ref.index)
    # lme4's refitML starts from the REML optimum, the stored ML fits from scratch: the
    # optima agree to ~1e-7, which shows in Chisq (a difference of nearly equal logLiks)
    np.testing.assert_allclose(table.to_numpy(dtype=float), ref.to_numpy(), rtol=1e-6,
                               atol=1e-6, equal_nan=True)


def test_two_models_match_lme4(fits, lme4_json):
    table = anova(sleep_split=_fit_with_refit(fits, "sleep_split"),
                  sleep_reml=_fit_with_refit(fits, "sleep_reml"))
    _check_table(table, lme4_json["anova"])
    assert table.attrs["text"].split("\n") == lme4_json["anova"]["text"]
    assert table.attrs["messages"] == [REFIT_NOTE]


def test_three_models_ordered_by_npar_with_stars(fits, lme4_json):
    table = anova(_fit_with_refit(fits, "sleep_reml"), _fit_with_refit(fits, "sleep_int"),
                  _fit_with_refit(fits, "sleep_split"),
                  names=["sleep_reml", "sleep_int", "sleep_split"])
    _check_table(table, lme4_json["anova3"])
    r_text = [line.replace("\u2018", "'").replace("\u2019", "'")
              for line in lme4_json["anova3"]["text"]]
    assert table.attrs["text"].split("\n") == r_text


def test_default_names_and_ml_fits_need_no_refit(fits):
    table = anova(fits("sleep_int_ml"), fits("sleep_ml"))
    assert list(table.index) == ["MODEL1", "MODEL2"]
    assert table.attrs["messages"] == []


def test_single_fit_f_table(fits, lme4_json):
    fit = fits("quad")
    fit.extra["fixed_terms"] = ["(Intercept)", "Days", "I(Days^2)"]
    table = anova(fit)
    _check_table(table, lme4_json["anova_single"])
    assert table.attrs["text"].split("\n") == lme4_json["anova_single"]["text"]


def test_anova_errors(fits):
    with pytest.raises(UnavailableError, match="fixed_terms"):
        anova(fits("quad"))
    with pytest.raises(UnavailableError, match="refit_ml"):
        anova(fits("sleep_int"), fits("sleep_ml"))
    with pytest.raises(ResultError, match="same size"):
        anova(fits("sleep_ml"), fits("penicillin"))
    other = fits("sleep_int_ml")
    other.extra["data_name"] = "other"
    with pytest.raises(ResultError, match="same data"):
        anova(other, fits("sleep_ml"))
    with pytest.raises(ArgumentError, match="names"):
        anova(fits("sleep_ml"), names=["a", "b"])
    with pytest.raises(ArgumentError, match="at least one"):
        anova()
    with pytest.raises(ArgumentError, match="unique"):
        anova(fits("sleep_ml"), MODEL1=fits("sleep_int_ml"))


def test_refit_false_uses_reml_loglik(fits):
    table = anova(fits("sleep_int"), fits("sleep_reml"), refit=False)
    assert table["logLik"].iloc[1] == pytest.approx(float(fits("sleep_reml").loglik()))
