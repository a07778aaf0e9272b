"""The sparse kin() posterior of method="vi" over the whole pedigree (``kin_posterior.py``).

References: a dense Gaussian marginal likelihood, the exact engine's ML fit
and the dense conditional mean ``A_no A_oo^-1 m`` of new animals.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from kinship_animal_sim import simulate_animal_model
from test_kinship_vi import one_thread  # noqa: F401  (the fixture)
from tabmixr import tabmix
from tabmixr.design.relmat import Relationship
from tabmixr.engines.vi.kin_posterior import KinPosterior, NewAnimalWarning
from tabmixr.kinship import Pedigree

FORMULA = "y ~ sex + kin(1 | animal, pedigree = ped)"


@pytest.fixture(scope="module")
def sim():
    """220-animal pedigree (40 founders without records), 180 records, h2 = 0.4."""
    return simulate_animal_model(40, 3, 60, h2=0.4, seed=0)


def dense_loglik(y, mean, V):
    sign, logdet = np.linalg.slogdet(V)
    r = y - mean
    return -0.5 * (logdet + r @ np.linalg.solve(V, r) + len(y) * np.log(2.0 * np.pi))


def refreshed_posterior(sim, sigma: np.ndarray, se2: float, X: np.ndarray, y: np.ndarray):
    """A KinPosterior refreshed at fixed ``Sigma`` and residual variance (Gaussian rows)."""
    ped = Pedigree.from_indices(sim.sire, sim.dam)
    levels = np.unique(sim.records)
    ids = [str(i) for i in ped.ids]
    rel = Relationship(term="kin", name="ped", source="pedigree", ids=tuple(ids),
                       level_index=levels, pedigree=ped)
    q = X.shape[1]
    post = KinPosterior(q, len(levels), "kin", 1, "kin(x | animal)", {"animals": ids}).double()
    post.set_relationship(rel)
    post.start(np.sqrt(np.diag(sigma)))
    with torch.no_grad():
        L = np.linalg.cholesky(sigma)
        post.prior.log_diag.copy_(torch.as_tensor(np.log(np.diag(L))))
        if q > 1:
            post.prior.lower.copy_(torch.as_tensor(L[np.tril_indices(q, -1)]))
    yt = torch.as_tensor(y)

    def expectation(m, v):
        return -0.5 * np.log(2 * np.pi * se2) - ((yt - m) ** 2 + v) / (2 * se2)

    codes = torch.as_tensor(np.searchsorted(levels, sim.records))
    zeros = torch.zeros(len(y), dtype=torch.float64)
    Xt = torch.as_tensor(X)
    post.refresh(zeros, zeros, Xt, codes, expectation, True)
    m, v = post.moments(Xt, codes)
    with torch.no_grad():
        elbo = float(expectation(m, v).sum() - post.kl())
    return post, elbo


@pytest.mark.parametrize("q", [1, 2])
def test_elbo_equals_dense_marginal_loglik(sim, q):
    """q(u) is the exact posterior: ELBO = log N(y; 0, Z_x (A kron Sigma) Z_x^T + se2 I)."""
    rng = np.random.default_rng(1)
    n = len(sim.records)
    X = np.ones((n, 1)) if q == 1 else np.column_stack([np.ones(n), rng.standard_normal(n)])
    sigma = np.array([[0.3]]) if q == 1 else np.array([[0.3, 0.05], [0.05, 0.2]])
    y = sim.data.y.to_numpy() - 10.0
    post, elbo = refreshed_posterior(sim, sigma, 0.6, X, y)
    Zx = np.zeros((n, len(sim.sire) * q))
    for a in range(q):
        Zx[np.arange(n), sim.records * q + a] = X[:, a]
    V = Zx @ np.kron(sim.A, sigma) @ Zx.T + 0.6 * np.eye(n)
    assert elbo == pytest.approx(dense_loglik(y, 0.0, V), rel=1e-9)


def test_kl_gradient_matches_finite_differences(sim):
    y = sim.data.y.to_numpy() - 10.0
    post, _ = refreshed_posterior(sim, np.array([[0.3]]), 0.6, np.ones((len(y), 1)), y)
    post.prior.log_diag.grad = None
    post.kl().backward()
    grad = float(post.prior.log_diag.grad[0])
    values = []
    for step in (1e-6, -1e-6):
        with torch.no_grad():
            post.prior.log_diag += step
            values.append(float(post.kl()))
            post.prior.log_diag -= step
    assert grad == pytest.approx((values[0] - values[1]) / 2e-6, rel=1e-6)


def test_vi_matches_exact_ml_fit(sim, one_thread):
    exact = tabmix(FORMULA, sim.data, method="ml", relmat={"ped": sim.pedigree})
    vi = tabmix(FORMULA, sim.data, method="vi", relmat={"ped": sim.pedigree}, seed=1)
    assert vi.model_state["config"]["terms"][0]["posterior"] == "kin"
    assert vi.terms[0].cov[0, 0] == pytest.approx(exact.terms[0].cov[0, 0], rel=1e-3)
    assert vi.sigma ** 2 == pytest.approx(exact.sigma ** 2, rel=1e-3)
    assert vi.criterion == pytest.approx(exact.criterion, rel=1e-6)   # -2 ELBO = ML deviance
    np.testing.assert_allclose(vi.terms[0].b, exact.terms[0].b, atol=1e-3)
    # -2 ELBO at the fitted parameters is the exact -2 log-likelihood there
    K = sim.dense_a_records()
    V = vi.terms[0].cov[0, 0] * K + vi.sigma ** 2 * np.eye(len(sim.records))
    mean = vi.X @ vi.beta
    assert vi.criterion == pytest.approx(-2.0 * dense_loglik(vi.y, mean, V), rel=1e-8)


def test_new_animals_predicted_through_relatives(sim, one_thread):
    held = np.random.default_rng(3).choice(np.unique(sim.data.animal), 20, replace=False)
    train = sim.data[~sim.data.animal.isin(held)]
    vi = tabmix(FORMULA, train, method="vi", relmat={"ped": sim.pedigree}, seed=1)
    new = pd.DataFrame({"animal": list(held) + ["stranger"], "sex": 0})
    with pytest.warns(NewAnimalWarning, match="stranger"):
        pred = vi.predict(new, allow_new_levels=True)
    population = vi.predict(new, new_levels="zero")
    ids = list(sim.pedigree.id)
    o = [ids.index(a) for a in vi.terms[0].levels]
    n = [ids.index(a) for a in held]
    expected = sim.A[np.ix_(n, o)] @ np.linalg.solve(sim.A[np.ix_(o, o)], vi.terms[0].b[:, 0])
    np.testing.assert_allclose((pred - population)[:-1], expected, atol=1e-10)
    assert pred[-1] == population[-1]


def test_matrix_kin_terms_keep_the_structured_posterior(sim, one_thread):
    ids = list(sim.pedigree.id)
    levels = sorted(set(sim.data.animal))
    pos = [ids.index(a) for a in levels]
    K = pd.DataFrame(sim.A[np.ix_(pos, pos)], index=levels, columns=levels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vi = tabmix("y ~ sex + kin(1 | animal, matrix = K)", sim.data, method="vi",
                    relmat={"K": K}, seed=1, max_epochs=3)
    assert vi.model_state["config"]["terms"][0]["posterior"] == "structured"


def test_5000_animal_recovery(one_thread):
    """h2 = 0.4 on a 5000-animal half-sib pedigree: past the structured posterior's limit."""
    from kinship_animal_sim import simulate_sire_pedigree

    sire, dam = simulate_sire_pedigree(500, 9, 500, n_sires=25, seed=4)
    ped = Pedigree.from_indices(sire, dam)
    rng = np.random.default_rng(4)
    m = np.sqrt(0.4 * ped.d) * rng.standard_normal(ped.n)
    a = np.zeros(ped.n)
    for i in range(ped.n):
        a[i] = m[i] + 0.5 * ((a[sire[i]] if sire[i] >= 0 else 0.0) + (a[dam[i]] if dam[i] >= 0 else 0.0))
    ids = np.array([f"a{i}" for i in range(ped.n)], dtype=object)
    pedigree = pd.DataFrame({"id": ids, "sire": np.where(sire >= 0, ids[np.maximum(sire, 0)], None),
                             "dam": np.where(dam >= 0, ids[np.maximum(dam, 0)], None)})
    rec = np.arange(500, ped.n)
    sex = rng.integers(0, 2, len(rec))
    data = pd.DataFrame({"animal": ids[rec], "sex": sex,
                         "y": 10.0 + 0.5 * sex + a[rec] + np.sqrt(0.6) * rng.standard_normal(len(rec))})
    reml = tabmix(FORMULA, data, method="reml", relmat={"ped": pedigree})
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no StructuredPosteriorWarning: no fallback
        vi = tabmix(FORMULA, data, method="vi", relmat={"ped": pedigree}, seed=1)
    va = vi.terms[0].cov[0, 0]
    assert va == pytest.approx(0.4, rel=0.10)
    assert va == pytest.approx(reml.terms[0].cov[0, 0], rel=0.02)
