"""Maximum likelihood without random effects recovers known parameters for every family.

y is drawn by NumPy/SciPy (not by ``simulate``) from a linear predictor with
two covariates; ``sum(log_lik)`` is maximized by L-BFGS over the coefficients
and the unconstrained family parameters; standard errors come from the
inverse Hessian.  Coefficients must land within 3 SE of the truth, family
parameters within 4 SE (and the SEs must be small enough for that to mean
something).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from families_cases import BETA, CASES, DEFAULT_CASES, aux_tensors

from tabmixr.families import LINKS, get_family

N = 4000


EXTRA = [c for c in CASES if (c.family, c.link) in {("gamma", "log"), ("binomial", "probit"), ("poisson", "sqrt")}]


def _flat(params):
    return torch.cat([p.reshape(-1) for p in params]) if params else torch.zeros(0, dtype=torch.float64)


def _unflat(vector, shapes):
    out, at = [], 0
    for shape in shapes:
        size = int(np.prod(shape)) if shape else 1
        out.append(vector[at:at + size].reshape(shape))
        at += size
    return out


def fit_ml(family, X, prepared, beta_start, aux_start):
    """Maximize the log-likelihood.

    Returns:
        Flat estimates, their standard errors, and the remaining Newton step in SE units.
    """
    keys = list(aux_start)
    shapes = [tuple(beta_start.shape)] + [tuple(torch.as_tensor(aux_start[k]).shape) for k in keys]
    start = _flat([beta_start] + [torch.as_tensor(aux_start[k], dtype=torch.float64) for k in keys])

    def negloglik(vector):
        parts = _unflat(vector, shapes)
        beta, aux = parts[0], dict(zip(keys, parts[1:]))
        eta = X @ beta if beta.dim() == 2 else (X @ beta)[:, None]
        return -family.log_lik(prepared.y, eta, aux).sum()

    theta = start.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([theta], lr=1.0, max_iter=500, tolerance_grad=1e-9, tolerance_change=1e-12,
                                  history_size=20, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        value = negloglik(theta) / N
        value.backward()
        return value

    for _ in range(3):
        optimizer.step(closure)
    estimate = theta.detach()
    gradient = torch.autograd.functional.jacobian(negloglik, estimate)
    hessian = torch.autograd.functional.hessian(negloglik, estimate)
    covariance = torch.linalg.inv(hessian)
    se = torch.sqrt(torch.diag(covariance))
    newton_step = covariance @ gradient  # what is left to go, to compare with the SEs
    return estimate, se, newton_step / se


@pytest.mark.parametrize("case", DEFAULT_CASES + EXTRA, ids=lambda c: c.id)
def test_maximum_likelihood_recovers_parameters(case):
    rng = np.random.default_rng(2024)
    family = get_family(case.family, case.link)
    x = rng.uniform(-1.0, 1.0, size=(N, 2))
    X = np.column_stack([np.ones(N), x])
    beta = np.asarray(BETA[case.family], dtype=float)
    eta = (X @ beta)[:, None] if beta.ndim == 1 else X @ beta
    trials = rng.integers(1, 6, size=N).astype(float) if case.family == "binomial" else None
    y = case.draw_y(rng, eta, trials)
    prepared = family.prepare(np.column_stack([y, trials - y]) if trials is not None else y, "y")
    aux_start = family.aux_init(prepared)
    assert set(aux_start) == set(case.aux)

    if case.family == "ordinal":
        X = X[:, 1:]
        beta = beta[1:]
    X_t = torch.tensor(X)
    beta_start = torch.zeros(beta.shape, dtype=torch.float64)
    if case.kind == "scipy" or case.kind == "zip":  # intercept at the link of the mean response
        mean = float(np.mean(y / trials) if trials is not None else np.mean(y))
        beta_start[0] = float(LINKS[case.link].link(np.array(mean)))
    estimate, se, left = fit_ml(family, X_t, prepared, beta_start, aux_start)
    assert torch.abs(left).max() < 1e-3, left  # converged: the remaining Newton step is << 1 SE

    k = beta.size
    z_beta = (estimate[:k].numpy() - beta.reshape(-1)) / se[:k].numpy()
    assert np.all(np.abs(z_beta) < 3.0), (z_beta, estimate[:k], beta)

    true_aux = _flat([aux_tensors(case)[key] for key in aux_start]).numpy()
    if true_aux.size:
        z_aux = (estimate[k:].numpy() - true_aux) / se[k:].numpy()
        assert np.all(se[k:].numpy() < 0.25), se[k:]
        assert np.all(np.abs(z_aux) < 4.0), (z_aux, estimate[k:], true_aux)
