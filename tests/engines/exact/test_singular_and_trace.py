"""Singular fits (lme4's isSingular) and the optimizer's verbose trace."""

import numpy as np
import pandas as pd
import pytest

import tabmixr
from r_helpers import r_json

R_SINGULAR = """{
d <- data.frame(i = 1:60); d$y <- sin(d$i * 1.7); d$g <- factor(d$i %% 6)
m <- suppressMessages(lmer(y ~ 1 + (1 | g), d))
list(theta = getME(m, "theta"), singular = isSingular(m), crit = REMLcrit(m), fixef = fixef(m))
}"""


def _singular_data() -> pd.DataFrame:
    i = np.arange(1, 61)
    return pd.DataFrame({"y": np.sin(i * 1.7), "g": pd.Categorical((i % 6).astype(str))})


def test_singular_fit_is_flagged():
    fit = tabmixr.tabmix("y ~ 1 + (1 | g)", _singular_data())
    assert fit.is_singular()
    assert fit.theta[0] == 0.0
    assert any("singular" in m for m in fit.messages)
    assert "boundary (singular) fit" in str(fit.summary())


@pytest.mark.needs_r
def test_singular_fit_matches_lme4():
    ref = r_json(R_SINGULAR)
    fit = tabmixr.tabmix("y ~ 1 + (1 | g)", _singular_data())
    assert ref["singular"] is True
    assert fit.reml_criterion() <= ref["crit"] + 1e-6 * abs(ref["crit"])
    assert fit.fixef().iloc[0] == pytest.approx(ref["fixef"], rel=1e-5)


def test_non_singular_fit_is_not_flagged():
    fit = tabmixr.tabmix("Reaction ~ Days + (Days | Subject)", tabmixr.datasets.load("sleepstudy"))
    assert not fit.is_singular()
    assert not any("singular" in m for m in fit.messages)


def test_verbose_prints_every_evaluation(capsys):
    fit = tabmixr.tabmix("Reaction ~ Days + (1 | Subject)", tabmixr.datasets.load("sleepstudy"),
                         verbose=True)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("iter")]
    assert len(lines) == fit.optimizer["feval"] == len(fit.optimizer["log"])
    assert f"{fit.optimizer['log'][0][1]:.10g}" in lines[0]


def test_same_fit_twice_is_identical():
    data = tabmixr.datasets.load("Penicillin")
    a = tabmixr.tabmix("diameter ~ 1 + (1 | plate) + (1 | sample)", data)
    b = tabmixr.tabmix("diameter ~ 1 + (1 | plate) + (1 | sample)", data)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert a.reml_criterion() == b.reml_criterion()
