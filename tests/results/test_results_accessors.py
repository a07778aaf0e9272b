"""Scalar accessors, residuals and confint against lme4."""


import numpy as np
import pandas as pd
import pytest

from results_helpers import r_matrix
from tabmixr.results import LogLik, NotSupportedError, UnavailableError
from tabmixr.results.callable_fields import CallableArray
from tabmixr.results.errors import ArgumentError
from tabmixr.errors import TabmixError

LIKELIHOOD_MODELS = ["sleep_reml", "sleep_ml", "sleep_split", "penicillin", "tri", "weighted",
                     "singular", "cake", "pastes_nested"]


@pytest.mark.parametrize("name", LIKELIHOOD_MODELS)
def test_likelihood_summaries_match_lme4(fits, lme4_json, name):
    d, fit = lme4_json[name], fits(name)
    ll = fit.loglik()
    assert isinstance(ll, LogLik) and isinstance(ll, float)
    assert ll == pytest.approx(d["loglik"], rel=1e-12)
    assert ll.df == d["df"] and ll.nobs == d["nobs"] and ll.reml == d["reml"]
    assert fit.aic() == pytest.approx(d["aic"], rel=1e-12)
    assert fit.bic() == pytest.approx(d["bic"], rel=1e-12)
    assert fit.df_residual() == d["nobs"] - d["df"]
    assert fit.ngrps() == d["ngrps"]
    assert fit.is_singular() is d["singular"]


def test_loglik_repr_like_r(fits):
    assert repr(fits("sleep_reml").loglik()) == "'log Lik.' -871.8141 (df=6)"


def test_fixef_and_vcov(fits, lme4_json):
    fit, d = fits("quad"), lme4_json["quad"]
    fe = fit.fixef()
    assert isinstance(fe, pd.Series) and fe.name == "fixef"
    assert list(fe.index) == ["(Intercept)", "Days", "I(Days^2)"]
    np.testing.assert_allclose(fe.to_numpy(), d["beta"])
    vc = fit.vcov()
    assert list(vc.index) == list(vc.columns) == list(fe.index)
    np.testing.assert_allclose(vc.to_numpy(), d["vcov"])


def test_sigma_nobs_fitted_are_fields_and_accessors(fits, lme4_json):
    fit, d = fits("sleep_reml"), lme4_json["sleep_reml"]
    assert fit.sigma() == pytest.approx(d["sigma"]) and fit.sigma == pytest.approx(d["sigma"])
    assert type(fit.sigma()) is float and fit.sigma ** 2 == pytest.approx(d["sigma"] ** 2)
    assert fit.nobs() == 180 and fit.nobs == 180 and type(fit.nobs()) is int
    assert list(range(fit.nobs))[-1] == 179
    fitted = fit.fitted()
    assert type(fitted) is np.ndarray
    np.testing.assert_allclose(fitted, d["fitted"])
    assert type(fit.fitted + 1.0) is np.ndarray and type(fit.fitted[:3]) is np.ndarray
    assert isinstance(fit.fitted, CallableArray)
    fitted[0] = -1.0  # a copy: the fit is unchanged
    assert fit.fitted[0] == pytest.approx(d["fitted"][0])
    fit.sigma = 2.0
    assert fit.sigma() == 2.0
    assert vars(fit)["sigma"] == 2.0


def test_deviance_and_reml_criterion(fits, lme4_json):
    reml, ml = fits("sleep_reml"), fits("sleep_ml")
    assert reml.reml_criterion() == pytest.approx(lme4_json["sleep_reml"]["criterion"])
    assert ml.deviance() == pytest.approx(lme4_json["sleep_ml"]["criterion"])
    with pytest.raises(UnavailableError, match="reml_criterion"):
        reml.deviance()
    with pytest.raises(UnavailableError, match="deviance"):
        ml.reml_criterion()
    assert issubclass(UnavailableError, TabmixError)


@pytest.mark.parametrize("name", ["sleep_reml", "weighted", "singular"])
def test_residuals_match_lme4(fits, lme4_json, name):
    fit, e = fits(name), lme4_json[name]["expected"]
    np.testing.assert_allclose(fit.residuals(), e["resid_response"], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(fit.residuals("working"), e["resid_response"], atol=1e-10)
    np.testing.assert_allclose(fit.residuals("pearson"), e["resid_pearson"], atol=1e-10)
    np.testing.assert_allclose(fit.residuals("deviance"), e["resid_pearson"], atol=1e-10)
    np.testing.assert_allclose(fit.residuals("pearson", scaled=True), e["resid_pearson_scaled"],
                               atol=1e-10)


def test_residuals_unknown_type(fits):
    with pytest.raises(ArgumentError, match="unknown residual type 'raw'"):
        fits("sleep_reml").residuals("raw")


@pytest.mark.parametrize("name", ["sleep_reml", "quad", "tri", "singular"])
@pytest.mark.parametrize("level, key", [(0.95, "confint_wald"), (0.9, "confint_wald_90")])
def test_confint_wald_matches_lme4(fits, lme4_json, name, level, key):
    expected = r_matrix(lme4_json[name]["expected"][key])
    got = fits(name).confint(level=level)
    assert list(got.columns) == list(expected.columns)
    assert list(got.index) == list(expected.index)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-10)


def test_confint_parm_and_errors(fits):
    fit = fits("sleep_reml")
    assert list(fit.confint(parm="beta_").index) == ["(Intercept)", "Days"]
    assert list(fit.confint(parm="theta_").index) == [".sig01", ".sig02", ".sig03", ".sigma"]
    assert list(fit.confint(parm=["Days"]).index) == ["Days"]
    with pytest.raises(ArgumentError, match="unknown parameter"):
        fit.confint(parm=["nope"])
    with pytest.raises(NotSupportedError, match="profile"):
        fit.confint(method="profile")
    with pytest.raises(NotImplementedError):
        fit.confint(method="boot")
    with pytest.raises(ArgumentError, match="unknown confint method"):
        fit.confint(method="bayes")
    with pytest.raises(ArgumentError, match="level"):
        fit.confint(level=1.5)
    assert list(fit.confint(level=0.99).columns) == ["0.5 %", "99.5 %"]
