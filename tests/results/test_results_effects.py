"""ranef, varcorr and coef against lme4."""

import numpy as np
import pytest

from results_helpers import as_list
from tabmixr.results.effects import unique_group_names

MODELS = ["sleep_reml", "sleep_ml", "sleep_split", "quad", "penicillin", "pastes_nested",
          "singular", "tri", "weighted", "cake"]


@pytest.mark.parametrize("name", MODELS)
def test_varcorr_matches_as_data_frame_varcorr(fits, lme4_json, name):
    expected = lme4_json[name]["expected"]["varcorr"]
    got = fits(name).varcorr()
    assert list(got.columns) == ["grp", "var1", "var2", "vcov", "sdcor"]
    assert list(got["grp"]) == as_list(expected["grp"])
    assert list(got["var1"]) == as_list(expected["var1"])  # None where R has NA
    assert list(got["var2"]) == as_list(expected["var2"])
    np.testing.assert_allclose(got["vcov"], as_list(expected["vcov"]), rtol=1e-10)
    np.testing.assert_allclose(got["sdcor"], as_list(expected["sdcor"]), rtol=1e-10)


@pytest.mark.parametrize("name", MODELS)
def test_ranef_matches_lme4(fits, lme4_json, name):
    e = lme4_json[name]["expected"]
    got = fits(name).ranef()
    assert list(got) == list(e["ranef"])
    for group, ref in e["ranef"].items():
        frame = got[group]
        assert list(frame.index) == as_list(ref["levels"])
        assert list(frame.columns) == as_list(ref["columns"])
        np.testing.assert_allclose(frame.to_numpy(), np.asarray(ref["values"]).reshape(frame.shape),
                                   rtol=1e-8, atol=1e-10)
        cond_sd = frame.attrs["cond_sd"]
        assert cond_sd.shape == frame.shape and list(cond_sd.columns) == list(frame.columns)
        np.testing.assert_allclose(cond_sd.to_numpy(),
                                   np.asarray(e["ranef_cond_sd"][group]).reshape(frame.shape),
                                   rtol=1e-8)


def test_ranef_combines_terms_of_one_group(fits):
    re = fits("sleep_split").ranef()
    assert list(re) == ["Subject"]
    assert list(re["Subject"].columns) == ["(Intercept)", "Days"]
    assert len(re["Subject"].attrs["cond_var"]) == 2  # one array per term


def test_ranef_without_cond_var(fits):
    frame = fits("sleep_reml").ranef(cond_var=False)["Subject"]
    assert "cond_sd" not in frame.attrs


@pytest.mark.parametrize("name", MODELS)
def test_coef_matches_lme4(fits, lme4_json, name):
    e = lme4_json[name]["expected"]["coef"]
    got = fits(name).coef()
    assert list(got) == list(e)
    for group, ref in e.items():
        frame = got[group]
        assert list(frame.index) == as_list(ref["levels"])
        assert list(frame.columns) == as_list(ref["columns"])
        np.testing.assert_allclose(frame.to_numpy(), np.asarray(ref["values"]).reshape(frame.shape),
                                   rtol=1e-8, atol=1e-10)


def test_coef_puts_random_only_columns_first(fits):
    assert list(fits("tri").coef()["g"].columns) == ["u", "(Intercept)", "t"]


def test_unique_group_names():
    assert unique_group_names(["g", "g", "h", "g"]) == ["g", "g.1", "h", "g.2"]
    assert unique_group_names(["g", "g", "g.1"]) == ["g", "g.2", "g.1"]
