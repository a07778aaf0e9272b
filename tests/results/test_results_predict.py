"""predict and simulate against lme4."""

import numpy as np
import pandas as pd
import pytest

from tabmixr.errors import NewLevelError
from tabmixr.results import UnavailableError
from tabmixr.results.errors import ArgumentError
from tabmixr.results.predict import cov_factor
from tabmixr.results.reform import is_population_form, select_columns

NEWDATA_MODELS = ["sleep_reml", "sleep_split", "weighted"]


def _newdata(e):
    return pd.DataFrame(e["newdata"])


@pytest.mark.parametrize("name", ["sleep_reml", "sleep_split", "weighted", "penicillin", "tri"])
def test_predict_without_newdata(fits, lme4_json, name):
    fit, e = fits(name), lme4_json[name]["expected"]
    np.testing.assert_allclose(fit.predict(), lme4_json[name]["fitted"], rtol=1e-12)
    for na in ("NA", "~0", "0", float("nan"), "~ 0"):
        np.testing.assert_allclose(fit.predict(re_form=na), e["predict_population"], rtol=1e-10)


@pytest.mark.parametrize("name", NEWDATA_MODELS)
def test_predict_newdata_matches_lme4(fits, lme4_json, name):
    fit, e = fits(name), lme4_json[name]["expected"]
    nd = _newdata(e)
    np.testing.assert_allclose(fit.predict(nd, allow_new_levels=True), e["predict_newdata"],
                               rtol=1e-10)
    np.testing.assert_allclose(fit.predict(nd, re_form="NA"), e["predict_newdata_population"],
                               rtol=1e-10)
    np.testing.assert_allclose(fit.predict(nd, re_form="~(1|Subject)", allow_new_levels=True),
                               e["predict_newdata_intercept_only"], rtol=1e-10)
    np.testing.assert_allclose(fit.predict(re_form="~(1|Subject)"),
                               e["predict_fitted_intercept_only"], rtol=1e-10)


def test_predict_asks_encoding_only_for_needed_terms(fits, lme4_json):
    fit = fits("sleep_split")
    nd = _newdata(lme4_json["sleep_split"]["expected"])
    fit.predict(nd, re_form="NA")
    fit.predict(nd, re_form="~(0 + Days | Subject)", allow_new_levels=True)
    fit.predict(nd, allow_new_levels=True)
    assert fit.encoding.calls == [[], [1], [0, 1]]


def test_predict_new_levels_refused_by_default(fits, lme4_json):
    fit = fits("sleep_reml")
    nd = _newdata(lme4_json["sleep_reml"]["expected"])
    with pytest.raises(NewLevelError):
        fit.predict(nd)
    known = nd[nd["Subject"] != "999"]
    np.testing.assert_allclose(fit.predict(known),
                               lme4_json["sleep_reml"]["expected"]["predict_newdata"][:2])


def test_predict_checks_codes_itself(fits, lme4_json):
    """An encoding that lets new levels through still meets the fit's check."""
    fit = fits("sleep_reml")
    nd = _newdata(lme4_json["sleep_reml"]["expected"])
    original = fit.encoding.transform
    fit.encoding.transform = lambda data, terms, allow_new_levels: original(data, terms, True)
    with pytest.raises(NewLevelError, match="allow_new_levels"):
        fit.predict(nd)


def test_predict_newdata_without_encoding(fits):
    fit = fits("penicillin")
    with pytest.raises(UnavailableError, match="encoding"):
        fit.predict(pd.DataFrame({"plate": ["a"], "sample": ["A"]}))


@pytest.mark.parametrize("re_form, message", [
    ("~(1|Nope)", "not in the model"),
    ("~Days", "not a random-effect bar"),
    ("~(1 + Subject)", "no '|'"),
    ("~(0 + Foo | Subject)", "selects no random-effect column"),
    (3, "re_form must be"),
])
def test_predict_bad_re_form(fits, re_form, message):
    with pytest.raises(ArgumentError, match=message):
        fits("sleep_reml").predict(re_form=re_form)


def test_select_columns_by_group_and_lhs(fits):
    terms = fits("sleep_split").terms
    assert [list(m) for m in select_columns("~(1|Subject)", terms) if m is not None] == [[True]]
    masks = select_columns("~(Days||Subject)", terms)
    assert [list(m) for m in masks] == [[True], [True]]
    nested = fits("pastes_nested").terms
    masks = select_columns("~(1|batch/cask)", nested)
    assert all(m is not None for m in masks)
    masks = select_columns("~(1|batch)", nested)
    assert masks[0] is None and masks[1] is not None
    assert select_columns("~(1|batch:cask)", nested)[0] is not None
    masks = select_columns("~(0 + t | g)", fits("tri").terms)
    assert list(masks[0]) == [False, True, False]
    assert is_population_form("NA") and not is_population_form(None)


def test_simulate_shape_seed_and_columns(fits):
    fit = fits("sleep_reml")
    sims = fit.simulate(3, seed=42)
    assert sims.shape == (180, 3) and list(sims.columns) == ["sim_1", "sim_2", "sim_3"]
    pd.testing.assert_frame_equal(sims, fit.simulate(3, seed=42))
    assert not np.allclose(sims.to_numpy(), fit.simulate(3, seed=43).to_numpy())
    rng = np.random.default_rng(1)
    assert fit.simulate(seed=rng).shape == (180, 1)


@pytest.mark.parametrize("name", ["sleep_reml", "weighted", "penicillin"])
def test_simulate_moments(fits, name):
    """Mean X beta + offset and covariance Z G Z' + sigma^2 W^-1 (lme4, use.u = FALSE)."""
    fit = fits(name)
    sims = fit.simulate(4000, seed=1).to_numpy()
    mean = fit.X @ fit.beta + (0 if fit.offset is None else fit.offset)
    n = fit.nobs
    cov = np.diag(np.full(n, fit.sigma ** 2) / (1 if fit.weights is None else fit.weights))
    for t in fit.terms:
        Z = np.zeros((n, len(t.levels) * t.X.shape[1]))
        q = t.X.shape[1]
        for i in range(n):
            Z[i, t.codes[i] * q:(t.codes[i] + 1) * q] = t.X[i]
        cov += Z @ np.kron(np.eye(len(t.levels)), t.cov) @ Z.T
    sd = np.sqrt(np.diag(cov))
    z = (sims.mean(axis=1) - mean) / (sd / np.sqrt(sims.shape[1]))
    assert np.max(np.abs(z)) < 5
    emp = np.cov(sims)
    assert np.max(np.abs(emp - cov) / np.outer(sd, sd)) < 0.12


def test_simulate_errors(fits):
    fit = fits("sleep_reml")
    with pytest.raises(ArgumentError, match="nsim"):
        fit.simulate(0)
    fit.family = "poisson"
    with pytest.raises(UnavailableError, match="gaussian"):
        fit.simulate()


def test_cov_factor_handles_singular_cov():
    cov = np.array([[1.0, 1.0], [1.0, 1.0]])
    F = cov_factor(cov)
    np.testing.assert_allclose(F @ F.T, cov, atol=1e-12)
