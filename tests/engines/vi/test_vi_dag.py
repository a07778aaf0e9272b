"""NOTEARS acyclicity, its gradient, DAG thresholding and the SEM objective of the gsem backbone."""

import math

import numpy as np
import pytest
import torch

from tabmixr.engines.vi.dag import (acyclicity, acyclicity_grad, is_acyclic, structural_hamming_distance,
                                    threshold_dag)
from tabmixr.engines.vi.gsem import LinearSEM
from tabmixr.engines.vi.lagrangian import solve_structure, structure_objective, structure_value_and_grad


def _t(a):
    return torch.tensor(a, dtype=torch.float64)


def test_h_is_zero_on_a_dag_and_positive_on_a_cycle():
    dag = _t([[0.0, 1.5, -0.7], [0.0, 0.0, 2.0], [0.0, 0.0, 0.0]])
    assert abs(float(acyclicity(dag))) < 1e-14
    perm = [2, 0, 1]  # relabelled nodes: still a DAG, no longer triangular
    assert abs(float(acyclicity(dag[perm][:, perm]))) < 1e-14
    cyclic = dag.clone()
    cyclic[2, 0] = 0.5  # 0 -> 2 -> 0
    assert float(acyclicity(cyclic)) > 1e-3


@pytest.mark.parametrize("a,b", [(0.5, 1.0), (1.3, -0.4), (2.0, 2.0)])
def test_h_of_a_two_cycle_is_2cosh_minus_2(a, b):
    # (B o B) has eigenvalues +-|ab|, so tr exp(B o B) = 2 cosh(ab)
    B = _t([[0.0, a], [b, 0.0]])
    assert float(acyclicity(B)) == pytest.approx(2.0 * math.cosh(a * b) - 2.0, rel=1e-12)


def test_h_gradient_matches_autograd_and_finite_differences():
    rng = np.random.default_rng(0)
    B = _t(rng.normal(scale=0.6, size=(5, 5)) * (1 - np.eye(5))).requires_grad_(True)
    acyclicity(B).backward()
    closed = acyclicity_grad(B.detach())
    np.testing.assert_allclose(closed.numpy(), B.grad.numpy(), rtol=1e-10, atol=1e-12)
    eps, fd = 1e-6, np.zeros((5, 5))
    for i in range(5):
        for j in range(5):
            E = torch.zeros(5, 5, dtype=torch.float64)
            E[i, j] = eps
            fd[i, j] = (float(acyclicity(B.detach() + E)) - float(acyclicity(B.detach() - E))) / (2 * eps)
    np.testing.assert_allclose(closed.numpy(), fd, rtol=1e-6, atol=1e-8)
    # on a DAG the gradient vanishes (exp(B o B)^T is zero wherever B has an edge) ...
    assert float(acyclicity_grad(_t(np.triu(np.ones((4, 4)), 1))).abs().max()) == 0.0
    # ... and on a cycle 0 -> 1 -> 0 plus an edge 1 -> 2 it is nonzero on the cycle only
    g = acyclicity_grad(_t([[0.0, 0.8, 0.0], [0.6, 0.0, 1.0], [0.0, 0.0, 0.0]])).numpy()
    assert g[0, 1] > 0 and g[1, 0] > 0 and g[1, 2] == 0


def test_is_acyclic_and_threshold_breaks_faint_cycles():
    assert is_acyclic(np.triu(np.ones((4, 4)), 1)) and not is_acyclic(np.ones((3, 3)) - np.eye(3))
    W = np.array([[0.0, 1.2, 0.0], [0.0, 0.0, 0.9], [0.35, 0.0, 0.0]])  # 0 -> 1 -> 2 -> 0
    A, used = threshold_dag(W, 0.3)
    assert is_acyclic(A) and used == pytest.approx(0.35)
    np.testing.assert_array_equal(A, [[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    A, used = threshold_dag(W, 0.5)
    assert used == 0.5 and A.sum() == 2


def test_structural_hamming_distance_counts_missing_extra_and_reversed():
    truth = np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0]])
    assert structural_hamming_distance(truth, truth) == 0
    reversed_ = truth.copy()
    reversed_[0, 1], reversed_[1, 0] = 0, 1
    assert structural_hamming_distance(reversed_, truth) == 1
    missing = truth.copy()
    missing[0, 2] = 0
    assert structural_hamming_distance(missing, truth) == 1
    assert structural_hamming_distance(np.zeros((3, 3)), truth) == 3
    assert structural_hamming_distance(reversed_ + 0, missing) == 2


def _sem(d=4, seed=0):
    torch.manual_seed(seed)
    sem = LinearSEM(d, lambda_l1=0.2).double()
    with torch.no_grad():
        sem.B_pos.uniform_(0, 0.5).mul_(sem.mask)
        sem.B_neg.uniform_(0, 0.5).mul_(sem.mask)
        sem.log_sigma.fill_(-0.4)
        sem.alpha.fill_(1.5)
        sem.rho.fill_(20.0)
    return sem


def test_moment_loglik_equals_row_loglik_and_closed_gradient_equals_autograd():
    sem = _sem()
    Z = torch.randn(300, 4, dtype=torch.float64)
    S = Z.T @ Z / 300
    assert float(sem.mean_loglik(S).detach()) == pytest.approx(float(sem.loglik(Z).mean().detach()), rel=1e-12)
    loss = structure_objective(sem, S)
    loss.backward()
    params = (sem.B_pos, sem.B_neg, sem.log_sigma)
    x = torch.cat([p.detach().reshape(-1) for p in params]).numpy()
    value, grad = structure_value_and_grad(x, S.numpy(), 1.5, 20.0, 0.2)
    assert value == pytest.approx(float(loss.detach()), rel=1e-12)
    np.testing.assert_allclose(grad, torch.cat([p.grad.reshape(-1) for p in params]).numpy(),
                               rtol=1e-10, atol=1e-12)


def test_solve_structure_respects_bounds_and_lowers_the_objective():
    sem = _sem(seed=1)
    Z = torch.randn(200, 4, dtype=torch.float64) @ _t(np.triu(np.ones((4, 4))))
    S = Z.T @ Z / 200
    before = float(structure_objective(sem, S).detach())
    after, iterations = solve_structure(sem, S, 1e-10)
    assert after < before and iterations > 0
    assert float(sem.B_pos.detach().min()) >= 0 and float(sem.B_neg.detach().min()) >= 0
    assert float(sem.weights().detach().diagonal().abs().max()) == 0
    assert float(sem.B_pos.detach().diagonal().abs().max()) == 0 == float(sem.B_neg.detach().diagonal().abs().max())
