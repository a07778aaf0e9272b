"""The kinship prior of the neural engine: KL pieces against dense numpy on A kron Sigma."""

import numpy as np
import pandas as pd
import pytest
import torch

from kernels.kinship_sim import simulate_pedigree, tabular_a
from tabmixr.covariance import get_covariance
from tabmixr.design import build_design
from tabmixr.errors import EngineError
from tabmixr.formula import parse_formula


def _pedigree_design(source: str, seed: int = 4):
    """A kin term whose levels are a random subset of a pedigree (ancestors without records)."""
    rng = np.random.default_rng(seed)
    sire, dam = simulate_pedigree(12, 3, 15, seed=seed)
    ids = np.array([f"a{i}" for i in range(len(sire))], dtype=object)
    A = tabular_a(sire, dam)
    recorded = np.sort(rng.choice(len(ids), 30, replace=False))
    data = pd.DataFrame({"animal": np.repeat(ids[recorded], 2), "x": rng.normal(size=60)})
    data["y"] = rng.normal(size=60)
    if source == "pedigree":
        obj = pd.DataFrame({"id": ids, "sire": [ids[s] if s >= 0 else None for s in sire],
                            "dam": [ids[d] if d >= 0 else None for d in dam]})
    else:
        obj = pd.DataFrame(A, index=ids, columns=ids)
    formula = f"y ~ 1 + kin(1 + x | animal, {source} = K)"
    design = build_design(parse_formula(formula), data, relmat={"K": obj})
    term = design.terms[0]
    order = pd.Index(ids).get_indexer(list(term.levels))
    return term, A[np.ix_(order, order)]


def _random_structure(term, seed: int):
    gen = torch.Generator().manual_seed(seed)
    cov = get_covariance("kin", term.q, term.n_levels).double()
    with torch.no_grad():
        for p in cov.parameters():
            p.copy_(0.4 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
    cov.set_relationship(term.relationship)
    return cov, gen


@pytest.mark.parametrize("source", ["pedigree", "matrix"])
def test_kinship_kl_matches_dense_kronecker(source):
    term, A_obs = _pedigree_design(source)
    cov, gen = _random_structure(term, seed=1)
    n, q = term.n_levels, term.q
    mu = torch.randn((n, q), generator=gen, dtype=torch.float64)
    L = torch.tril(torch.randn((n, q, q), generator=gen, dtype=torch.float64), -1)
    L = L + torch.diag_embed(0.5 + torch.rand((n, q), generator=gen, dtype=torch.float64))
    Sigma = cov.cov().detach().numpy()
    prior = np.kron(A_obs, Sigma)
    P = np.linalg.inv(prior)
    S = np.zeros_like(prior)
    for g in range(n):
        S[g * q:(g + 1) * q, g * q:(g + 1) * q] = L[g].numpy() @ L[g].numpy().T
    m = mu.numpy().ravel()
    dense = 0.5 * (np.trace(P @ S) + m @ P @ m - n * q + np.linalg.slogdet(prior)[1]
                   - np.linalg.slogdet(S)[1])
    assert float(cov.kl(mu, L).detach()) == pytest.approx(dense, rel=1e-10)
    assert float(cov.logdet().detach()) == pytest.approx(np.linalg.slogdet(prior)[1], rel=1e-10)
    # a joint factor over all effects: tr(P R R^T)
    R = torch.randn((n * q, 7), generator=gen, dtype=torch.float64)
    joint = float(cov.trace_joint(R.reshape(n, q, 7)).detach())
    assert joint == pytest.approx(np.trace(P @ R.numpy() @ R.numpy().T), rel=1e-10)


def test_kinship_quad_gradient_matches_dense():
    term, A_obs = _pedigree_design("pedigree", seed=7)
    cov, gen = _random_structure(term, seed=2)
    mu = torch.randn((term.n_levels, term.q), generator=gen, dtype=torch.float64, requires_grad=True)
    cov.quad(mu).backward()
    grads = {name: p.grad.clone() for name, p in cov.named_parameters()}
    P = torch.as_tensor(np.linalg.inv(A_obs))
    mu2 = mu.detach().clone().requires_grad_(True)
    cov.zero_grad()
    Sinv = torch.linalg.inv(cov.cov())
    (mu2.T @ P @ mu2 @ Sinv).trace().backward()
    torch.testing.assert_close(mu.grad, mu2.grad, rtol=1e-10, atol=1e-12)
    for name, p in cov.named_parameters():
        torch.testing.assert_close(grads[name], p.grad, rtol=1e-10, atol=1e-12)


def test_kinship_kl_vanishes_at_the_prior():
    """With a joint factor equal to the prior's own Cholesky factor, KL pieces cancel."""
    term, A_obs = _pedigree_design("pedigree", seed=9)
    cov, _ = _random_structure(term, seed=3)
    n, q = term.n_levels, term.q
    C = np.linalg.cholesky(np.kron(A_obs, cov.cov().detach().numpy()))
    R = torch.as_tensor(C).reshape(n, q, n * q)
    quad = float(cov.trace_joint(R).detach())
    assert quad == pytest.approx(n * q, rel=1e-10)
    assert float(cov.logdet().detach()) == pytest.approx(2 * np.sum(np.log(np.diag(C))), rel=1e-10)


def test_kinship_structure_needs_its_relationship():
    cov = get_covariance("kin", 1, 5).double()
    with pytest.raises(EngineError, match="set_relationship"):
        cov.quad(torch.zeros((5, 1), dtype=torch.float64))
    term, _ = _pedigree_design("matrix")
    other = get_covariance("kin", term.q, term.n_levels + 1)
    with pytest.raises(EngineError, match="covers 30 levels, the term has 31"):
        other.set_relationship(term.relationship)
