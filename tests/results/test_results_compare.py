"""compare: fits side by side."""

import numpy as np
import pytest

from tabmixr.results import compare
from tabmixr.results.errors import ArgumentError


def test_compare_reml_and_ml(fits):
    reml, ml = fits("sleep_reml"), fits("sleep_ml")
    table = compare(reml, ml)
    assert list(table.columns) == ["reml", "ml"]
    assert list(table.index.names) == ["component", "parameter"]
    assert table.loc[("fixef", "Days"), "reml"] == pytest.approx(reml.fixef()["Days"])
    assert table.loc[("sd", "Subject (Intercept)"), "ml"] == pytest.approx(
        ml.varcorr()["sdcor"][0])
    assert table.loc[("cor", "Subject (Intercept):Days"), "reml"] == pytest.approx(
        reml.varcorr()["sdcor"][2])
    assert table.loc[("sigma", "Residual"), "ml"] == pytest.approx(ml.sigma)
    assert table.loc[("fit", "logLik"), "reml"] == pytest.approx(float(reml.loglik()))
    assert table.loc[("fit", "fit_time"), "ml"] == 0.5
    components = list(dict.fromkeys(table.index.get_level_values(0)))
    assert components == ["fixef", "sd", "cor", "sigma", "fit"]


def test_compare_different_models_fills_nan(fits):
    table = compare(fits("sleep_reml"), fits("sleep_split"), fits("quad"),
                    names=["a", "b", "c"])
    assert np.isnan(table.loc[("fixef", "I(Days^2)"), "a"])
    assert np.isnan(table.loc[("cor", "Subject (Intercept):Days"), "b"])
    assert table.loc[("sd", "Subject.1 Days"), "b"] > 0
    assert list(compare(fits("sleep_reml"), fits("quad")).columns) == ["reml", "reml.1"]


def test_compare_errors(fits):
    with pytest.raises(ArgumentError, match="at least one"):
        compare()
    with pytest.raises(ArgumentError, match="names"):
        compare(fits("sleep_reml"), names=["a", "b"])
