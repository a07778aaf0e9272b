"""The bridge's plain parts, R-family mapping and factor restoring (pure Python)."""

import numpy as np
import pandas as pd
import pytest

import tabmixr
from tabmixr.bridge import call_method, fit_for_r, fit_parts, parts_for_r, plain_for_r
from tabmixr.bridge.plain import family_for_python, restore_factors
from tabmixr.errors import FamilyError

FORMULA = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def sleep():
    return tabmixr.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def fit(sleep):
    return tabmixr.tabmix(FORMULA, sleep)


def test_family_for_python_maps_r_families():
    assert family_for_python({"family": "gaussian", "link": "identity"}) == "gaussian"
    assert family_for_python({"family": "gaussian", "link": None}) == "gaussian"
    assert family_for_python({"family": "binomial", "link": "logit"}) == {
        "family": "binomial", "link": "logit"}
    assert family_for_python({"family": "gaussian", "link": "log"}) == {
        "family": "gaussian", "link": "log"}
    assert family_for_python("poisson") == "poisson"
    assert family_for_python(None) == "gaussian"
    with pytest.raises(FamilyError, match="must name a family"):
        family_for_python({"link": "logit"})


def test_restore_factors_rebuilds_categoricals_in_r_level_order():
    frame = pd.DataFrame({"g": [1, 0, -1, 1], "o": [0, 1, 1, 0], "x": [1.0, 2.0, 3.0, 4.0]})
    out = restore_factors(frame, {"g": {"levels": ["b", "a"], "ordered": False},
                                  "o": {"levels": ["lo", "hi"], "ordered": True}})
    assert list(out["g"].cat.categories) == ["b", "a"]
    assert out["g"].tolist()[:2] == ["a", "b"]
    assert pd.isna(out["g"].iloc[2])
    assert out["o"].cat.ordered and out["o"].iloc[1] == "hi"
    assert frame["g"].dtype == np.int64  # the input is not modified
    single = restore_factors(pd.DataFrame({"g": [0, 0]}), {"g": {"levels": "only"}})
    assert list(single["g"].cat.categories) == ["only"]
    assert restore_factors(frame, None) is frame


def test_fit_for_r_with_factor_codes_equals_the_categorical_fit(sleep, fit):
    levels = list(sleep["Subject"].cat.categories)
    coded = sleep.assign(Subject=sleep["Subject"].cat.codes.astype(np.int64))
    parts = fit_for_r(FORMULA, coded, factors={"Subject": {"levels": levels, "ordered": False}},
                      family={"family": "gaussian", "link": "identity"}, summary_text=False)
    np.testing.assert_allclose(parts["beta"], fit.beta, rtol=1e-10)
    assert parts["terms"][0]["levels"] == [str(v) for v in fit.terms[0].levels]
    assert parts["summary_text"] == ""


def test_parts_hold_every_piece_in_r_order(fit):
    parts = parts_for_r(fit)
    n, p = fit.nobs, len(fit.fixed_names)
    term = parts["terms"][0]
    nl, q = len(fit.terms[0].levels), len(fit.terms[0].columns)
    assert len(parts["X"]) == n * p
    np.testing.assert_allclose(np.reshape(parts["X"], (n, p), order="F"), fit.X)
    np.testing.assert_allclose(np.reshape(term["b"], (nl, q), order="F"), fit.terms[0].b)
    assert min(term["codes"]) == 1 and max(term["codes"]) == nl
    cv = np.reshape(term["cond_var"], (q, q, nl), order="F")
    np.testing.assert_allclose(cv[:, :, 3], fit.terms[0].cond_var[3])
    np.testing.assert_allclose(np.reshape(term["cond_sd"], (nl, q), order="F") ** 2,
                               np.diagonal(fit.terms[0].cond_var, axis1=1, axis2=2))
    assert parts["loglik"]["df"] == 6
    assert parts["summary_text"].startswith("Linear mixed model fit by REML")
    assert parts["optimizer"]["converged"] is True
    assert parts["weights"] is None and parts["offset"] is None
    # Everything is plain Python: reticulate converts it without numpy.
    assert plain_for_r(parts) == parts
    assert all(not isinstance(v, np.ndarray) for v in parts.values())
    assert fit_parts(fit, summary_text=False)["summary_text"] == ""


def test_call_method_confint_is_plain(fit):
    out = call_method(parts_for_r(fit)["json"], "confint", method="wald")
    assert out["columns"] == ["2.5 %", "97.5 %"]
    assert out["levels"][-2:] == ["(Intercept)", "Days"]
    assert len(out["values"]) == 2 * len(out["levels"])
