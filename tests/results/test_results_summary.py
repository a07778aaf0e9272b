"""summary() text and numbers against lme4's print(summary(fit))."""

import re

import numpy as np
import pytest

from tabmixr.results import Summary

MODELS = ["sleep_reml", "sleep_ml", "sleep_split", "sleep_split_ml", "quad", "penicillin",
          "pastes_nested", "singular", "tri", "weighted", "cake"]
NUMBER = re.compile(r"-?\d+\.?\d*(?:e[-+]\d+)?")


def _r_lines(lme4_json, name):
    return list(lme4_json[name]["expected"]["summary"])


@pytest.mark.parametrize("name", MODELS)
def test_summary_text_equals_lme4(fits, lme4_json, name):
    ours = str(fits(name).summary()).split("\n")
    if name == "cake":  # lme4 sends this note to stderr; we keep it in the text
        cut = ours.index("Correlation matrix not shown by default, as p = 18 > 12.")
        assert ours[cut + 1].startswith("Use print(")
        ours = ours[:cut - 1]
    assert ours == _r_lines(lme4_json, name)


@pytest.mark.parametrize("name", MODELS)
def test_summary_numbers_equal_lme4(fits, lme4_json, name):
    """Same structure and the same printed numbers, line by line."""
    ours = str(fits(name).summary()).split("\n")
    for mine, theirs in zip(ours, _r_lines(lme4_json, name)):
        assert NUMBER.findall(mine) == NUMBER.findall(theirs)
        assert mine.split() == theirs.split()


def test_summary_correlation_forced(fits, lme4_json):
    text = fits("cake").summary().format(correlation=True)
    assert text.split("\n") == lme4_json["cake"]["expected"]["summary_correlation"]
    assert "Correlation" not in fits("sleep_reml").summary().format(correlation=False)


def test_summary_object_fields(fits, lme4_json):
    s = fits("quad").summary()
    assert isinstance(s, Summary) and repr(s) == str(s)
    assert list(s.coefficients.columns) == ["Estimate", "Std. Error", "t value"]
    d = lme4_json["quad"]
    np.testing.assert_allclose(s.coefficients["Estimate"], d["beta"])
    np.testing.assert_allclose(s.coefficients["Std. Error"], np.sqrt(np.diag(d["vcov"])))
    np.testing.assert_allclose(s.varcorr["vcov"], d["expected"]["varcorr"]["vcov"])
    assert s.aictab == {"REML": pytest.approx(d["criterion"])}
    assert s.ngrps == {"Subject": 18} and s.nobs == 180
    ml = fits("sleep_ml").summary()
    assert list(ml.aictab) == ["AIC", "BIC", "logLik", "deviance", "df.resid"]


def test_summary_header_variants(fits):
    fit = fits("sleep_reml")
    fit.extra.pop("data_name")
    text = str(fit.summary())
    assert "Data:" not in text
    assert text.startswith("Linear mixed model fit by REML ['lmerMod']\nFormula: Reaction ~ Days")
    fit.method, fit.family = "vi", "poisson"
    assert str(fit.summary()).startswith("Mixed model (poisson) fit by vi")
    assert "Residual" not in str(fit.summary())


def test_summary_notes(fits):
    fit = fits("sleep_reml")
    fit.singular = True
    assert str(fit.summary()).endswith(
        "optimizer (nloptwrap) convergence code: 0 (OK)\n"
        "boundary (singular) fit: see help('isSingular')\n")
    fit = fits("sleep_reml")
    fit.optimizer = {"optimizer": "L-BFGS-B", "converged": False, "message": "ABNORMAL"}
    assert "optimizer (L-BFGS-B) convergence code: 1 (ABNORMAL)" in str(fit.summary())
