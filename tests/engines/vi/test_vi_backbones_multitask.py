"""MLP backbone, group embeddings, multitask fits, CUDA, and bad input of method='vi'."""

import numpy as np
import pandas as pd
import pytest
import torch

import tabmixr
from tabmixr.errors import EngineError, TabmixError

from .vi_simulated import grouped_data


@pytest.fixture(scope="module")
def wiggly():
    return grouped_data(n_groups=20, per_group=25, seed=11, nonlinear=True)


def test_mlp_beats_linear_on_nonlinear_data(wiggly):
    test = wiggly.copy()  # same groups and effects, fresh x
    rng = np.random.default_rng(99)
    test["x"] = rng.uniform(-2, 2, len(test))
    test["mean"] = test["mean"] - 0.5 * wiggly["x"] - 2.0 * np.sin(2.0 * wiggly["x"]) \
        + 0.5 * test["x"] + 2.0 * np.sin(2.0 * test["x"])
    lin = tabmixr.tabmix("y ~ x + (1 | g)", wiggly, method="vi")
    mlp = tabmixr.tabmix("y ~ x + (1 | g)", wiggly, method="vi", backbone="mlp", hidden=(32, 16),
                         activation="tanh", lr=0.01, max_epochs=60, batch_size=64, seed=1)
    mse = lambda p: float(np.mean((p - test["mean"]) ** 2))  # noqa: E731
    assert mse(mlp.predict(test)) < 0.5 * mse(lin.predict(test))
    assert mlp.optimizer["optimizer"] == "adam"
    assert len(mlp.history()) > 10


def test_group_embeddings_and_dropout_fit(wiggly):
    fit = tabmixr.tabmix("y ~ x + (1 | g)", wiggly, method="vi", backbone="mlp", hidden=8,
                         dropout=0.1, group_embeddings=True, max_epochs=20, batch_size=128,
                         validation_split=0.2, kl_anneal_epochs=5)
    hist = fit.history()
    assert hist["val_loss"].notna().all() and hist["kl_weight"].iloc[0] < 1.0
    assert np.isfinite(fit.predict()).all()


def test_multitask_two_families():
    rng = np.random.default_rng(21)
    g = np.repeat(np.arange(30), 20)
    x = rng.normal(size=g.size)
    b1, b2 = rng.normal(scale=0.6, size=30), rng.normal(scale=1.0, size=30)
    counts = rng.poisson(np.exp(0.5 + 0.4 * x + b1[g])).astype(float)
    cont = 2.0 - 1.0 * x + b2[g] + rng.normal(scale=0.5, size=g.size)
    df = pd.DataFrame({"count": counts, "cont": cont, "x": x, "g": pd.Categorical(g.astype(str))})
    fit = tabmixr.tabmix("cbind(count, cont) ~ x + (1 | g)", df, family=["poisson", "gaussian"],
                         method="vi")
    tasks = fit.model_state["tasks"]
    assert [t["name"] for t in tasks] == ["count", "cont"]
    assert [t["family"] for t in tasks] == ["poisson", "gaussian"]
    np.testing.assert_allclose(fit.beta, [0.5, 0.4], atol=0.3)
    np.testing.assert_allclose(np.ravel(tasks[1]["beta"]), [2.0, -1.0], atol=0.4)
    assert tasks[1]["aux"]["sigma"] == pytest.approx(0.5, rel=0.15)
    p_count = fit.predict(df, type="response", task="count")
    p_cont = fit.predict(df, task=1)
    assert np.corrcoef(p_count, counts)[0, 1] > 0.5 and np.corrcoef(p_cont, cont)[0, 1] > 0.8
    with pytest.raises(TabmixError, match="families given"):
        tabmixr.tabmix("cbind(count, cont) ~ x + (1 | g)", df, family=["poisson"], method="vi")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_cuda_matches_cpu():
    df = grouped_data()
    cpu = tabmixr.tabmix("y ~ x + (1 | g)", df, method="vi")
    gpu = tabmixr.tabmix("y ~ x + (1 | g)", df, method="vi", device="cuda")
    np.testing.assert_allclose(gpu.beta, cpu.beta, rtol=1e-5)


@pytest.mark.parametrize("options,match", [
    ({"backbone": "transformer"}, "backbone"),
    ({"optimizer": "sgd"}, "optimizer"),
    ({"lr": -1.0}, "lr"),
    ({"dropout": 1.0}, "dropout"),
    ({"hidden": (0,)}, "hidden"),
    ({"batch_size": 0}, "batch_size"),
    ({"max_epochs": 0}, "max_epochs"),
    ({"validation_split": 0.95}, "validation_split"),
    ({"group_embeddings": True}, "group_embeddings"),
    ({"device": "tpu"}, "device"),
    ({"learning_rate": 0.1}, "learning_rate"),
])
def test_bad_options_raise(options, match):
    with pytest.raises(EngineError, match=match):
        tabmixr.tabmix("y ~ x + (1 | g)", grouped_data(n_groups=5, per_group=4), method="vi", **options)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_unavailable_is_an_error():
    with pytest.raises(EngineError, match="CUDA is not available"):
        tabmixr.tabmix("y ~ x + (1 | g)", grouped_data(n_groups=5, per_group=4), method="vi",
                       device="cuda")


def test_bad_response_and_family():
    df = grouped_data(n_groups=5, per_group=4)
    with pytest.raises(TabmixError, match="y"):
        tabmixr.tabmix("y ~ x + (1 | g)", df, family="poisson", method="vi")
    with pytest.raises(TabmixError, match="nofamily"):
        tabmixr.tabmix("y ~ x + (1 | g)", df, family="nofamily", method="vi")
