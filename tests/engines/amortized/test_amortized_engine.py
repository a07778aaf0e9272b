"""Engine: limits, no registration without weights, a full fit with an explicit model."""

import numpy as np
import pytest
import torch

import tabmixr
from tabmixr.design import build_design
from tabmixr.engines.amortized.draws import posterior_summary, to_arviz
from tabmixr.engines.amortized.engine import AmortizedEngine, systematic_resample
from tabmixr.engines.amortized.networks import AmortizedModel, ModelConfig
from tabmixr.errors import EngineError
from tabmixr.formula import parse_formula


@pytest.fixture(scope="module")
def sleep():
    return tabmixr.datasets.load("lme4::sleepstudy")


def _design(formula, data):
    return build_design(parse_formula(formula), data)


def test_not_registered_until_weights_ship(sleep):
    with pytest.raises(EngineError, match="unknown method 'amortized'"):
        tabmixr.tabmix("Reaction ~ Days + (Days | Subject)", sleep, method="amortized")
    with pytest.raises(EngineError, match="no trained weights"):
        AmortizedEngine().fit(_design("Reaction ~ Days + (Days | Subject)", sleep))


@pytest.mark.parametrize("formula,match", [
    ("Reaction ~ Days + (Days || Subject)", "exactly one random-effect term"),
    ("Reaction ~ 0 + Days + (1 | Subject)", "needs an intercept"),
    ("Reaction ~ 1 + (Days | Subject)", "'Days' of term"),
    ("Reaction ~ poly(Days, 8) + (1 | Subject)", "at most 8 fixed effects"),
])
def test_limits_name_what_is_exceeded(sleep, formula, match):
    with pytest.raises(EngineError, match=match) as info:
        AmortizedEngine().check_design(_design(formula, sleep))
    assert "method='reml'" in str(info.value)


def test_systematic_resampling_follows_the_weights():
    w = torch.tensor([0.1, 0.0, 0.6, 0.3], dtype=torch.float64)
    idx = systematic_resample(torch.log(w), 1000, torch.Generator().manual_seed(0))
    counts = torch.bincount(idx, minlength=4)
    assert counts[1] == 0 and torch.all((counts - 1000 * w).abs() <= 1)


def test_fit_with_an_explicit_model(sleep):
    torch.manual_seed(0)
    model = AmortizedModel(ModelConfig(dim=16, heads=2, inducing=4, local_depth=1, global_depth=1,
                                       couplings=2, hidden=16))
    design = _design("Reaction ~ Days + (Days | Subject)", sleep)
    with pytest.warns(UserWarning, match="k-hat"):              # an untrained flow is a poor proposal
        fit = AmortizedEngine().fit(design, model=model, n_draws=300, seed=1)
    assert fit.method == "amortized" and list(fit.fixef().index) == ["(Intercept)", "Days"]
    draws = fit.extra["draws"]
    assert np.allclose(fit.beta, [draws["b_(Intercept)"].mean(), draws["b_Days"].mean()])
    assert draws["r_Subject"].shape == (300, 18, 2)
    assert fit.ranef()["Subject"].shape == (18, 2)
    table = posterior_summary(fit)
    assert list(table.columns) == ["Estimate", "Est.Error", "l-95% CI", "u-95% CI", "ESS"]
    assert "cor_Subject__(Intercept)__Days" in table.index
    idata = fit.to_arviz()
    assert idata.posterior["b_Days"].shape == (1, 300)
    assert np.array_equal(to_arviz(fit).posterior["sigma"].values, idata.posterior["sigma"].values)
    assert idata.posterior["r_Subject"].shape == (1, 300, 18, 2)
    assert any("k-hat" in m for m in fit.messages)
    with pytest.warns(UserWarning, match="k-hat"):
        again = AmortizedEngine().fit(design, model=model, n_draws=300, seed=1)   # seeded
    assert np.array_equal(again.beta, fit.beta)
    exact = tabmixr.tabmix("Reaction ~ Days + (Days | Subject)", sleep)
    with pytest.raises(EngineError, match="no posterior draws"):
        posterior_summary(exact)
    with pytest.raises(EngineError, match="no posterior draws"):
        exact.to_arviz()
    back = type(fit).from_dict(fit.to_dict())                 # draws survive serialization
    assert np.array_equal(back.extra["draws"]["r_Subject"], draws["r_Subject"])
