"""Engine: limits, the error without weights, calibrated intervals, a fit with an explicit model."""

import warnings

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


def test_registered_and_a_clear_error_without_weights(sleep, monkeypatch, tmp_path):
    from tabmixr.engines import engine_methods
    from tabmixr.engines.amortized import engine

    assert "amortized" in engine_methods()
    monkeypatch.setattr(engine, "WEIGHTS_FILE", str(tmp_path / "missing.pt"))
    with pytest.raises(EngineError, match="no trained weights"):
        tabmixr.tabmix("Reaction ~ Days + (Days | Subject)", sleep, method="amortized")


def test_calibrated_intervals_shift_by_posterior_sd_and_stay_in_range(sleep):
    from tabmixr.engines.amortized.calibration import PARAM_NAMES
    from tabmixr.engines.amortized.conformal import ConformalCalibration
    from tabmixr.engines.amortized.engine import calibrated_intervals, calibration_names

    design = _design("Reaction ~ Days + (Days | Subject)", sleep)
    names = calibration_names(design)
    assert names == {"b_(Intercept)": "beta[0]", "b_Days": "beta[1]", "sd_Subject__(Intercept)": "sd[0]",
                     "sd_Subject__Days": "sd[1]", "cor_Subject__(Intercept)__Days": "cor[0]",
                     "sigma": "sigma"}
    rng = np.random.default_rng(0)
    draws = {"b_(Intercept)": rng.normal(250, 7, 4000), "b_Days": rng.normal(10, 1.5, 4000),
             "sd_Subject__(Intercept)": np.abs(rng.normal(0.5, 1, 4000)),
             "sd_Subject__Days": rng.gamma(20, 0.3, 4000), "cor_Subject__(Intercept)__Days":
             np.tanh(rng.normal(0.5, 0.6, 4000)), "sigma": rng.gamma(50, 0.5, 4000)}
    q = np.full((len(PARAM_NAMES), 2), 0.5)
    cal = ConformalCalibration(names=PARAM_NAMES, alphas=(0.05, 0.5), q_lower=q, q_upper=-0.25 * q,
                               n_calibration=np.full(len(PARAM_NAMES), 100))
    from tabmixr.engines.amortized.rao_blackwell import WeightedPosterior, weighted_quantile
    w = np.full(4000, 1 / 4000)
    iv = calibrated_intervals(WeightedPosterior(weights=w, fixed_names=("b_(Intercept)", "b_Days"),
                                                draws=draws), design, cal)
    x = draws["b_Days"]
    lo, hi = iv["b_Days"][0.95]
    assert np.isclose(lo, weighted_quantile(x, w, [0.025])[0] - 0.5 * x.std())
    assert np.isclose(hi, weighted_quantile(x, w, [0.975])[0] - 0.125 * x.std())
    assert iv["sd_Subject__(Intercept)"][0.95][0] == 0.0                 # clipped at the boundary
    assert iv["cor_Subject__(Intercept)__Days"][0.95][0] >= -1.0
    assert set(iv["sigma"]) == {0.95, 0.5}
    from types import SimpleNamespace
    fit = SimpleNamespace(extra={"draws": draws, "intervals": iv, "ess": 100.0})
    table = posterior_summary(fit)
    assert table.loc["b_Days", "l-95% CI"] == lo and table.loc["b_Days", "u-95% CI"] == hi
    raw = posterior_summary(fit, level=0.9)                               # not calibrated: quantiles
    assert np.isclose(raw.loc["b_Days", "l-90% CI"], np.quantile(x, 0.05))
    fit.extra["pareto_k"] = 0.3                # reliable importance sampling: the posterior's own quantiles
    exact = posterior_summary(fit)
    assert np.isclose(exact.loc["b_Days", "l-95% CI"], np.quantile(x, 0.025))


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
        fit = AmortizedEngine().fit(design, model=model, n_draws=300, seed=1, proposal="flow")
    assert fit.method == "amortized" and list(fit.fixef().index) == ["(Intercept)", "Days"]
    draws = fit.extra["draws"]
    weighted = fit.extra["weighted_posterior"]                 # estimates: weighted, Rao-Blackwellized
    assert weighted.rao_blackwellized and np.allclose(fit.beta, weighted.beta_mean)
    assert np.allclose(fit.beta, posterior_summary(fit)["Estimate"].iloc[:2])
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
        again = AmortizedEngine().fit(design, model=model, n_draws=300, seed=1, proposal="flow")  # seeded
    assert np.array_equal(again.beta, fit.beta)
    exact = tabmixr.tabmix("Reaction ~ Days + (Days | Subject)", sleep)
    with pytest.raises(EngineError, match="no posterior draws"):
        posterior_summary(exact)
    with pytest.raises(EngineError, match="no posterior draws"):
        exact.to_arviz()
    back = type(fit).from_dict(fit.to_dict())                 # draws survive serialization
    assert np.array_equal(back.extra["draws"]["r_Subject"], draws["r_Subject"])


def test_priors_by_class_on_the_data_scale(sleep):
    from tabmixr.engines.amortized.priors import make_prior
    from tabmixr.engines.amortized.realdata import default_prior

    design = _design("Reaction ~ Days + (Days | Subject)", sleep)
    d = default_prior(design)
    same = make_prior(design, None)
    assert torch.equal(same.nu, d.nu) and torch.equal(same.tau_s, d.tau_s)
    p = make_prior(design, {"Intercept": (250, 50), "b": {"Days": (5, 2)}, "sd": {"Days": 7},
                            "sigma": 40, "cor": 2})
    assert p.nu[0, :2].tolist() == [250, 5] and p.tau[0, :2].tolist() == [50, 2]
    assert p.tau_s[0, 1] == 7 and p.tau_s[0, 0] == d.tau_s[0, 0]
    assert p.tau_e[0] == 40 and p.eta[0] == 2
    one = make_prior(design, {"sd": 3.0, "b": (0, 1)})
    assert one.tau_s[0, :2].tolist() == [3.0, 3.0] and one.tau[0, 1] == 1
    for spec, match in [({"slope": 1}, "unknown prior class"), ({"b": {"Day": (0, 1)}}, "'Day'"),
                        ({"sd": {"Days": -1}}, "positive"), ({"Intercept": 3}, "pair"),
                        ({"sigma": float("inf")}, "positive finite"), ([1], "dict by class")]:
        with pytest.raises(EngineError, match=match):
            make_prior(design, spec)


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return AmortizedModel(ModelConfig(dim=16, heads=2, inducing=4, global_depth=1, couplings=2, hidden=16))


def test_several_priors_in_one_call(sleep, tiny_model):
    design = _design("Reaction ~ Days + (Days | Subject)", sleep)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = AmortizedEngine().fit(design, model=tiny_model, n_draws=200, seed=2,
                                    prior=[None, {"b": {"Days": (0, 1)}}, {"sigma": 5}])
    table = fit.extra["prior_sensitivity"]
    assert table.index.get_level_values("prior").unique().tolist() == [0, 1, 2]
    assert set(table.loc[0].index) == {"b_(Intercept)", "b_Days", "sd_Subject__(Intercept)",
                                       "sd_Subject__Days", "cor_Subject__(Intercept)__Days", "sigma"}
    assert {"Estimate", "Est.Error", "l-95% CI", "u-95% CI", "k_hat", "ESS"} <= set(table.columns)
    assert (table["l-95% CI"] <= table["u-95% CI"]).all()
    assert (table["k_hat"] < 0.7).all()                      # the mixture proposal covers each posterior
    est = table["Estimate"]
    # N(0, 1) on the slope (likelihood: about 10.5 +- 1.5) pulls it to about 3; HalfNormal(5) shrinks sigma
    assert est[(1, "b_Days")] < est[(0, "b_Days")] - 4 and 1 < est[(1, "b_Days")] < 6
    assert est[(2, "sigma")] < 0.95 * est[(0, "sigma")]
    with pytest.raises(EngineError, match="holds no prior"):
        AmortizedEngine().fit(design, model=tiny_model, prior=[])


def test_posterior_predict(sleep, tiny_model):
    design = _design("Reaction ~ Days + (Days | Subject)", sleep)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = AmortizedEngine().fit(design, model=tiny_model, n_draws=400, seed=3)
    draws = fit.extra["draws"]
    rep = fit.posterior_predict(seed=1)
    assert rep.shape == (400, len(sleep))
    b = draws["r_Subject"]
    mean = (draws["b_(Intercept)"][:, None] + b[:, design.terms[0].codes, 0]
            + sleep["Days"].to_numpy()[None] * (draws["b_Days"][:, None] + b[:, design.terms[0].codes, 1]))
    se = np.sqrt((draws["sigma"] ** 2).mean() / 400)
    assert np.abs(rep.mean(0) - mean.mean(0)).max() < 5 * se
    assert np.array_equal(rep, fit.posterior_predict(seed=1))
    new = sleep.head(3).copy()
    new["Subject"] = ["newcomer"] * 3
    new["Subject"] = new["Subject"].astype("category")
    with pytest.raises(tabmixr.errors.NewLevelError):
        fit.posterior_predict(newdata=new)
    out = fit.posterior_predict(newdata=new, allow_new_levels=True, seed=0)
    assert out.shape == (400, 3) and np.isfinite(out).all()


def test_summary_prints_brms_layout(sleep, tiny_model):
    design = _design("Reaction ~ Days + (Days | Subject)", sleep)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = AmortizedEngine().fit(design, model=tiny_model, n_draws=300, seed=4)
    fit.extra["data_name"] = "sleepstudy"
    text = str(fit.summary())
    lines = text.splitlines()
    assert lines[0] == " Family: gaussian " and lines[2] == "Formula: Reaction ~ Days + (Days | Subject) "
    assert lines[3] == "   Data: sleepstudy (Number of observations: 180) "
    for header in ("Group-Level Effects: ", "~Subject (Number of levels: 18) ",
                   "Population-Level Effects: ", "Family Specific Parameters: "):
        assert header in lines
    head = lines[lines.index("Population-Level Effects: ") + 1]
    assert head.split() == ["Estimate", "Est.Error", "l-95%", "CI", "u-95%", "CI", "ESS"]
    table = posterior_summary(fit)
    row = lines[lines.index("Population-Level Effects: ") + 3].split()
    assert row[0] == "Days" and float(row[1]) == round(table.loc["b_Days", "Estimate"], 2)
    assert any(line.startswith("cor(Intercept,Days)") for line in lines)
    assert any(line.startswith("sigma ") for line in lines)


def test_threads_option_is_restored_and_checked():
    sleep = tabmixr.datasets.load("sleepstudy")
    before = torch.get_num_threads()
    model = AmortizedModel(ModelConfig(dim=16, heads=2, inducing=4, global_depth=1, couplings=2, hidden=16))
    design = build_design(parse_formula("Reaction ~ Days + (Days | Subject)"), sleep)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = AmortizedEngine().fit(design, model=model, n_draws=200, seed=3, threads=1)
        two = AmortizedEngine().fit(design, model=model, n_draws=200, seed=3, threads=2)
    assert torch.get_num_threads() == before
    assert abs(one.beta[1] - two.beta[1]) < 1e-6 * max(1.0, abs(one.beta[1]))   # same draws either way
    with pytest.raises(EngineError, match="threads"):
        AmortizedEngine().fit(design, model=model, threads=0)
