"""log_lik, mean and variance of every (family, link) against scipy.stats, in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from families_cases import CASES, aux_tensors
from scipy import stats

from tabmixr.families import get_family

N = 400


def _setup(case, seed=0):
    rng = np.random.default_rng(seed)
    eta = case.draw_eta(rng, N)
    trials = rng.integers(1, 21, size=N).astype(float) if case.family == "binomial" else None
    y = case.draw_y(rng, eta, trials)
    family = get_family(case.family, case.link)
    raw = np.column_stack([y, trials - y]) if trials is not None else y
    prepared = family.prepare(raw, "y")
    return family, eta, y, trials, prepared


def _reference_log_lik(case, eta, y, trials):
    if case.kind == "classes":
        p = case.class_probs(eta)
        onehot = np.eye(p.shape[1])[y.astype(int)]
        return stats.multinomial.logpmf(onehot, 1, p)
    if case.kind == "zip":
        return np.log(case.zip_pmf(y, eta))
    dist = case.scipy_dist(eta, trials)
    return dist.logpmf(y) if hasattr(dist.dist, "logpmf") else dist.logpdf(y)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_log_lik_matches_scipy(case):
    family, eta, y, trials, prepared = _setup(case)
    got = family.log_lik(prepared.y, torch.tensor(eta), aux_tensors(case)).numpy()
    want = _reference_log_lik(case, eta, y, trials)
    assert got.shape == (N,)
    assert np.all(np.isfinite(want))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_log_lik_accepts_float32(case):
    family, eta, y, trials, prepared = _setup(case)
    aux = aux_tensors(case, torch.float32)
    got = family.log_lik(prepared.y, torch.tensor(eta, dtype=torch.float32), aux)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.double().numpy(), _reference_log_lik(case, eta, y, trials),
                               rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_mean_and_variance_match_scipy(case):
    family, eta, y, trials, _ = _setup(case, seed=1)
    aux = aux_tensors(case)
    mean = family.mean(torch.tensor(eta), aux).numpy()
    var = family.variance(torch.tensor(eta), aux).numpy()
    if case.kind == "classes":
        p = case.class_probs(eta)
        want_mean, want_var = p, p * (1 - p)
        np.testing.assert_allclose(mean.sum(axis=1), 1.0, rtol=1e-12)
    elif case.kind == "zip":
        want_mean, want_var = case.zip_moments(eta)
    elif case.family == "binomial":
        dist = case.scipy_dist(eta)  # one trial: mean and variance per trial
        want_mean, want_var = dist.mean(), dist.var()
    else:
        dist = case.scipy_dist(eta)
        want_mean, want_var = dist.mean(), dist.var()
    assert mean.shape == np.shape(want_mean) and var.shape == np.shape(want_var)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(var, want_var, rtol=1e-6, atol=1e-12)


def test_student_t_variance_is_infinite_below_two_degrees_of_freedom():
    family = get_family("student_t")
    aux = {"log_sigma": torch.tensor(0.0, dtype=torch.float64), "log_nu_minus_one": torch.tensor(0.0)}
    var = family.variance(torch.zeros(3, 1, dtype=torch.float64), aux)
    assert torch.isinf(var).all()  # nu = 2
    assert stats.t(df=2.0).var() == np.inf


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_aux_values_and_describe(case):
    family = get_family(case.family, case.link)
    described = family.describe_aux(aux_tensors(case))
    assert set(described) == set(case.truth)
    for key, value in case.truth.items():
        np.testing.assert_allclose(described[key], value, rtol=1e-12)
