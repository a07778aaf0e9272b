"""backbone='gsem': DAG recovery on linear SEM data, the mixed-model parts, save/load and bad options."""

import numpy as np
import pandas as pd
import pytest
import torch

import tabmixr
from tabmixr.engines.vi.dag import acyclicity, is_acyclic, structural_hamming_distance
from tabmixr.engines.vi.gsem import learned_dag, total_effects
from tabmixr.errors import EngineError
from tabmixr.results.errors import UnavailableError

D, N_EDGES, N, N_GROUPS = 10, 18, 2000, 40
FORMULA = "y ~ " + " + ".join(f"x{k + 1}" for k in range(D)) + " + (1 | g)"
BETA = {"x1": 0.5, "x4": -0.3, "x8": 0.2}


def random_dag(rng):
    """``N_EDGES`` edges of a random DAG over ``D`` nodes, weights +-U(0.5, 2)."""
    order = rng.permutation(D)
    pairs = [(order[a], order[b]) for a in range(D) for b in range(a + 1, D)]
    W = np.zeros((D, D))
    for k in rng.choice(len(pairs), N_EDGES, replace=False):
        W[pairs[k]] = rng.uniform(0.5, 2.0) * rng.choice([-1.0, 1.0])
    return W


def sem_data(seed):
    """``x = e (I - W)^-1`` with ``e ~ N(0, I)``; ``y = 1 + x beta + b_g + eps``."""
    rng = np.random.default_rng(seed)
    W = random_dag(rng)
    X = rng.normal(size=(N, D)) @ np.linalg.inv(np.eye(D) - W)
    df = pd.DataFrame(X, columns=[f"x{k + 1}" for k in range(D)])
    g = rng.integers(0, N_GROUPS, N)
    b = rng.normal(scale=1.0, size=N_GROUPS)
    df["y"] = 1.0 + sum(v * df[k] for k, v in BETA.items()) + b[g] + rng.normal(scale=0.5, size=N)
    df["g"] = pd.Categorical([f"g{k}" for k in g])
    return df, W


@pytest.fixture(scope="module")
def sem():
    df, W = sem_data(seed=2)
    return df, W, tabmixr.tabmix(FORMULA, df, method="vi", backbone="gsem")


def test_learned_dag_recovers_the_true_graph(sem):
    df, W, fit = sem
    dag = learned_dag(fit)
    A = np.array(dag["adjacency"])
    assert dag["nodes"] == [f"x{k + 1}" for k in range(D)]
    assert structural_hamming_distance(A, W != 0) <= 2
    assert dag["h"] < 1e-8 and is_acyclic(A)
    weights = np.array(dag["weights"])
    assert abs(float(acyclicity(torch.tensor(weights))) - dag["h"]) < 1e-12
    both = (A != 0) & (W != 0)
    np.testing.assert_allclose(weights[both], W[both], rtol=0.2)  # raw-scale weights, L1-shrunk
    assert len(dag["edges"]) == int(A.sum())
    hist = fit.history()
    structure = hist[hist.stage == "dag"]
    assert len(structure) > 3 and structure["rho"].is_monotonic_increasing
    assert structure["h"].iloc[-1] == pytest.approx(dag["h"])


def test_mixed_model_parts_work_with_gsem(sem):
    df, W, fit = sem
    fixef = fit.fixef()
    se = np.sqrt(np.diag(fit.vcov_beta))
    truth = np.array([BETA.get(name, 0.0) for name in fixef.index[1:]])
    assert (np.abs(fixef.to_numpy()[1:] - truth) < 4.0 * se[1:]).all()  # features are collinear: SEs
    vc = fit.varcorr()
    sd_g = float(vc.loc[vc.grp == "g", "sdcor"].iloc[0])
    sd_resid = float(vc.loc[vc.grp == "Residual", "sdcor"].iloc[0])
    assert 0.6 < sd_g < 1.4 and sd_resid == pytest.approx(0.5, rel=0.1)
    linear = tabmixr.tabmix(FORMULA, df, method="vi")
    np.testing.assert_allclose(fit.beta, linear.beta, atol=1e-3)  # the SEM does not move the GLMM part
    np.testing.assert_allclose(fit.predict(df.iloc[:50]), linear.predict(df.iloc[:50]), atol=1e-2)
    assert np.corrcoef(fit.predict(), df["y"])[0, 1] > 0.8


def test_save_load_keeps_the_dag_and_predictions(sem, tmp_path):
    df, W, fit = sem
    fit.save(tmp_path / "gsem.json.gz")
    back = tabmixr.load(tmp_path / "gsem.json.gz")
    assert learned_dag(back) == learned_dag(fit)
    np.testing.assert_allclose(back.predict(df.iloc[:20]), fit.predict(df.iloc[:20]), atol=1e-12)
    with pytest.raises(UnavailableError, match="no learned DAG"):
        learned_dag(tabmixr.tabmix("y ~ x1 + (1 | g)", df.iloc[:300], method="vi"))


@pytest.mark.parametrize("options,match", [
    ({"backbone": "gsem", "lambda_l1": -1.0}, "lambda_l1"),
    ({"backbone": "gsem", "h_tol": 0.0}, "h_tol"),
    ({"backbone": "gsem", "rho_max": 0.5}, "rho_max"),
    ({"backbone": "gsem", "dag_threshold": "big"}, "dag_threshold"),
    ({"backbone": "gsem", "max_outer": 0}, "max_outer"),
    ({"lambda_l1": 0.1}, "lambda_l1.*backbone='gsem'"),
    ({"backbone": "mlp", "dag_threshold": 0.2}, "dag_threshold.*backbone='gsem'"),
])
def test_bad_gsem_options_name_the_option(options, match):
    df, _ = sem_data(seed=0)
    with pytest.raises(EngineError, match=match):
        tabmixr.tabmix(FORMULA, df.iloc[:100], method="vi", **options)


def test_gsem_needs_two_varying_columns():
    df, _ = sem_data(seed=0)
    with pytest.raises(EngineError, match="at least two non-constant"):
        tabmixr.tabmix("y ~ x1 + (1 | g)", df.iloc[:100], method="vi", backbone="gsem")


def test_minibatch_adam_fits_the_rest_after_the_structure():
    df, W = sem_data(seed=2)
    fit = tabmixr.tabmix(FORMULA, df.iloc[:800], method="vi", backbone="gsem", batch_size=200,
                         max_epochs=5)
    assert fit.optimizer["optimizer"] == "adam"
    hist = fit.history()
    assert list(hist.stage.unique()) == ["dag", "fit"]
    dag = learned_dag(fit)
    assert dag["h"] < 1e-8 and structural_hamming_distance(np.array(dag["adjacency"]), W != 0) <= 4
    assert np.isfinite(fit.predict(df.iloc[:10])).all()


def test_total_effects_follow_the_dag(sem):
    df, W, fit = sem
    effects = total_effects(fit)
    truth = np.linalg.solve(np.eye(D) - W, np.array([BETA.get(f"x{k + 1}", 0.0) for k in range(D)]))
    np.testing.assert_allclose(effects.to_numpy(), truth, atol=0.15)
    sinks = np.flatnonzero(np.array(learned_dag(fit)["adjacency"]).sum(1) == 0)
    np.testing.assert_allclose(effects.to_numpy()[sinks], fit.beta[1:][sinks])


def test_unmet_constraint_warns_and_the_reported_graph_is_still_acyclic():
    df, _ = sem_data(seed=2)
    with pytest.warns(RuntimeWarning, match="h\\(B\\) = .* still above h_tol"):
        fit = tabmixr.tabmix(FORMULA, df.iloc[:500], method="vi", backbone="gsem", rho_max=10.0)
    dag = learned_dag(fit)
    assert dag["h"] > 1e-9 and dag["rho"] == 10.0
    assert is_acyclic(np.array(dag["adjacency"])) and dag["threshold_used"] >= dag["threshold"]
