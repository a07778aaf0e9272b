"""SHAP values of fits (tabmixr.interpret.shap_values) and their summary plot.

``shap`` is a declared dependency (pyproject, the Makefile's PY_DEPS), so these
tests do not skip without it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tabmixr
from tabmixr.errors import TabmixError, UnknownColumnError
from tabmixr.interpret import shap_values
from tabmixr.plots import plot_shap_summary, shap_importance
from tabmixr.results.errors import ArgumentError

FEATURES = ["x1", "x2", "x3"]


def _simulated(seed: int, beta=(3.0, 0.7, 0.0), n_groups: int = 20, per_group: int = 20) -> pd.DataFrame:
    """``y = 1 + beta . (x1, x2, x3) + b_g + e``, independent standard normal features."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per_group)
    X = rng.normal(size=(g.size, 3))
    y = 1.0 + X @ np.asarray(beta) + rng.normal(scale=0.5, size=n_groups)[g] \
        + rng.normal(scale=0.3, size=g.size)
    frame = pd.DataFrame(X, columns=FEATURES)
    frame["f"] = rng.choice(["lo", "mid", "hi"], size=g.size)
    frame["y"] = y + frame["f"].map({"lo": 0.0, "mid": 1.0, "hi": -1.0}).to_numpy()
    frame["g"] = pd.Categorical([f"g{k}" for k in g])
    return frame


@pytest.fixture(scope="module")
def data():
    return _simulated(seed=3)


@pytest.fixture(scope="module")
def mlp_fit(data):
    return tabmixr.tabmix("y ~ x1 + x2 + x3 + (1 | g)", data, method="vi", backbone="mlp",
                          hidden=16, max_epochs=40, seed=1)


@pytest.fixture(scope="module")
def mlp_explanation(mlp_fit, data):
    return shap_values(mlp_fit, data.iloc[:60], background=40, seed=0)


def test_additive_exact_explainer(mlp_fit, data, mlp_explanation):
    rows = data.iloc[:60]
    total = mlp_explanation.base_values + mlp_explanation.values.sum(axis=1)
    np.testing.assert_allclose(total, mlp_fit.predict(rows, re_form="NA"), atol=1e-9)
    cond = shap_values(mlp_fit, rows.iloc[:20], background=30, include_random=True)
    assert cond.feature_names == FEATURES + ["g"]
    np.testing.assert_allclose(cond.base_values + cond.values.sum(axis=1), mlp_fit.predict(rows.iloc[:20]),
                               atol=1e-9)


def test_additive_permutation_explainer_and_response_scale(mlp_fit, data):
    rows = data.iloc[:15]
    perm = shap_values(mlp_fit, rows, background=30, algorithm="permutation", nsamples=80,
                       type="response")
    np.testing.assert_allclose(perm.base_values + perm.values.sum(axis=1),
                               mlp_fit.predict(rows, re_form="NA", type="response"), atol=1e-9)


def test_mlp_ranks_strong_weak_and_null_feature(mlp_explanation):
    names, importance = shap_importance(mlp_explanation)
    assert names == ["x1", "x2", "x3"]
    mean_abs = dict(zip(names, importance))
    assert mean_abs["x1"] > 2.0 * mean_abs["x2"]
    assert mean_abs["x3"] < 0.3 * mean_abs["x2"] and mean_abs["x3"] < 0.05 * mean_abs["x1"]


@pytest.mark.parametrize("method", ["vi", "reml"])
def test_linear_model_closed_form(method):
    train = _simulated(seed=5, beta=(2.0, -1.0, 0.3))
    fit = tabmixr.tabmix("y ~ x1 + x2 + x3 + (1 | g)", train, method=method,
                         **({"seed": 1} if method == "vi" else {}))
    if method == "vi":
        assert fit.model_state["config"]["backbone"] == "linear"
    background, rows = train.iloc[:50], train.iloc[50:90]
    explained = shap_values(fit, rows, background=background)
    beta = np.asarray(fit.beta)[1:]
    expected = beta * (rows[FEATURES].to_numpy() - background[FEATURES].to_numpy().mean(axis=0))
    np.testing.assert_allclose(explained.values, expected, atol=1e-6)
    assert explained.base_values == pytest.approx(fit.predict(background, re_form="NA").mean())


def test_factor_is_one_feature():
    train = _simulated(seed=7)
    fit = tabmixr.tabmix("y ~ x1 + f + (1 | g)", train)
    assert len(fit.fixed_names) == 4  # intercept, x1 and two contrasts of f
    background, rows = train.iloc[:60], train.iloc[60:100]
    explained = shap_values(fit, rows, background=background)
    assert explained.feature_names == ["x1", "f"] and explained.values.shape == (40, 2)
    assert list(explained.display_data[:, 1]) == list(rows["f"])
    # Linear in the dummies: phi_f(x) = effect(level of x) - mean effect over the background.
    effect = {level: fit.predict(rows.iloc[[0]].assign(f=level, x1=0.0), re_form="NA")[0]
              for level in ["lo", "mid", "hi"]}
    expected = rows["f"].map(effect).to_numpy() - background["f"].map(effect).to_numpy().mean()
    np.testing.assert_allclose(explained.values[:, 1], expected, atol=1e-9)


def test_reproducible_given_seed(mlp_fit, data):
    rows = data.iloc[:40]  # the background is sampled from these rows
    kwargs = dict(background=15, algorithm="permutation", nsamples=40)
    first = shap_values(mlp_fit, rows, seed=4, **kwargs)
    again = shap_values(mlp_fit, rows, seed=4, **kwargs)
    other = shap_values(mlp_fit, rows, seed=5, **kwargs)
    np.testing.assert_array_equal(first.values, again.values)
    np.testing.assert_array_equal(first.base_values, again.base_values)
    assert not np.allclose(first.base_values, other.base_values)  # another background sample
    assert not np.allclose(first.values, other.values)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"task": 3}, ArgumentError, "unknown task 3"),
    ({"task": "z"}, ArgumentError, "unknown task 'z'.*'y'"),
    ({"type": "probability"}, ArgumentError, "type must be"),
    ({"background": 0}, ArgumentError, "background must be"),
    ({"algorithm": "kernel"}, ArgumentError, "algorithm must be"),
    ({"algorithm": "permutation", "nsamples": 6}, ArgumentError, "at least 2 \\* 3 \\+ 1 = 7"),
])
def test_bad_arguments(mlp_fit, data, kwargs, error, match):
    with pytest.raises(error, match=match) as info:
        shap_values(mlp_fit, data.iloc[:5], **kwargs)
    assert isinstance(info.value, TabmixError)


def test_missing_column_named(mlp_fit, data):
    with pytest.raises(UnknownColumnError, match="'x2'"):
        shap_values(mlp_fit, data.iloc[:5].drop(columns="x2"))
    with pytest.raises(UnknownColumnError, match="'x3'.*background"):
        shap_values(mlp_fit, data.iloc[:5], background=data.drop(columns="x3"))


def test_exact_fit_has_one_task(data):
    fit = tabmixr.tabmix("y ~ x1 + (1 | g)", data)
    with pytest.raises(ArgumentError, match="unknown task 1.*single task 'y'"):
        shap_values(fit, data.iloc[:5], task=1)
    null = tabmixr.tabmix("y ~ 1 + (1 | g)", data)
    with pytest.raises(ArgumentError, match="no data column"):
        shap_values(null, data.iloc[:5])
    explained = shap_values(null, data.iloc[:5], background=data, include_random=True)
    assert explained.feature_names == ["g"]
    np.testing.assert_allclose(explained.values[:, 0] + explained.base_values, null.predict(data.iloc[:5]))


def test_row_equal_to_the_background_gets_zero_values(mlp_fit, data):
    rows = data.iloc[[0, 0, 1]]
    explained = shap_values(mlp_fit, rows, background=data.iloc[[0]])
    np.testing.assert_array_equal(explained.values[:2], 0.0)
    assert np.abs(explained.values[2]).max() > 0
    np.testing.assert_allclose(explained.base_values + explained.values.sum(axis=1),
                               mlp_fit.predict(rows, re_form="NA"), atol=1e-9)


def test_summary_plot_draws_features_by_importance(mlp_explanation):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.collections import PathCollection

    ax = plot_shap_summary(mlp_explanation)
    swarms = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(swarms) == 3 and all(len(c.get_offsets()) == 60 for c in swarms)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x3", "x2", "x1"]  # most important on top
    plt.close(ax.figure)
    _, ax = plt.subplots()
    assert plot_shap_summary(mlp_explanation, ax=ax, max_display=2) is ax
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x2", "x1"]
    assert len([c for c in ax.collections if isinstance(c, PathCollection)]) == 2
    plt.close(ax.figure)
    with pytest.raises(ArgumentError, match="max_display"):
        plot_shap_summary(mlp_explanation, max_display=0)
