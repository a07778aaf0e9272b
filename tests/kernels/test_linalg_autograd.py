"""torch autograd bridge: log det Q(params) and x^T Q(params) x (gradcheck + dense values)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from cholesky_zoo import laplacian_2d, random_weak
from tabmixr.errors import KernelError, NotPositiveDefiniteError
from tabmixr.linalg.autograd import (SparsePrecisionFamily, sparse_logdet, sparse_quadform)

torch.set_num_threads(1)


def two_parameter_family(Q_A, Q_B, method="auto"):
    """Q(a, b) = a A + b B + I on the union pattern of A, B and I."""
    n = Q_A.shape[0]
    I = sp.eye_array(n)
    family = SparsePrecisionFamily(abs(Q_A) + abs(Q_B) + I, build=None, method=method)
    A_values, B_values, I_values = (family.chol.values_on_pattern(M) for M in (Q_A, Q_B, I))

    def build(params):
        a, b = float(params[0]), float(params[1])
        return a * A_values + b * B_values + I_values, [A_values, B_values]

    family.build = build
    return family


def dense_family(Q_A, Q_B, params):
    A = torch.as_tensor(Q_A.toarray())
    B = torch.as_tensor(Q_B.toarray())
    return params[0] * A + params[1] * B + torch.eye(Q_A.shape[0], dtype=torch.float64)


CASES = {
    "laplacian_vs_diag": lambda: (laplacian_2d(None, 4), sp.csc_array(sp.diags_array(
        np.linspace(0.5, 2.0, 16)))),
    "random_pair": lambda: (random_weak(np.random.default_rng(1), 12, 0.15),
                            random_weak(np.random.default_rng(2), 12, 0.15)),
}


@pytest.fixture(params=list(CASES), ids=list(CASES))
def pair(request):
    return CASES[request.param]()


@pytest.mark.parametrize("method", ["simplicial", "supernodal"])
def test_logdet_gradcheck(pair, method):
    family = two_parameter_family(*pair, method=method)
    params = torch.tensor([0.7, 1.3], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(family.logdet, (params,), eps=1e-6, atol=1e-7)


def test_logdet_and_gradient_match_dense_torch(pair):
    family = two_parameter_family(*pair)
    params = torch.tensor([0.4, 2.1], dtype=torch.float64, requires_grad=True)
    value = family.logdet(params)
    (grad,) = torch.autograd.grad(value, params)
    dense_params = params.detach().clone().requires_grad_(True)
    dense_value = torch.logdet(dense_family(*pair, dense_params))
    (dense_grad,) = torch.autograd.grad(dense_value, dense_params)
    torch.testing.assert_close(value, dense_value.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, dense_grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("batch", [None, 3])
def test_quadform_gradcheck_and_values(pair, batch):
    family = two_parameter_family(*pair)
    n = pair[0].shape[0]
    generator = torch.Generator().manual_seed(0)
    shape = (n,) if batch is None else (batch, n)
    x = torch.randn(shape, dtype=torch.float64, generator=generator, requires_grad=True)
    params = torch.tensor([0.9, 0.6], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(family.quadform, (params, x), eps=1e-6, atol=1e-7)
    value = family.quadform(params, x)
    Q = dense_family(*pair, params.detach())
    expected = torch.einsum("...i,ij,...j->...", x.detach(), Q, x.detach())
    assert value.shape == expected.shape
    torch.testing.assert_close(value.detach(), expected, rtol=1e-12, atol=1e-12)


def test_functional_forms_and_gaussian_log_density():
    """0.5 logdet - 0.5 x^T Q x through both Functions equals the dense Gaussian log-density."""
    A, B = CASES["laplacian_vs_diag"]()
    family = two_parameter_family(A, B)
    params = torch.tensor([1.1, 0.8], dtype=torch.float64, requires_grad=True)
    x = torch.linspace(-1, 1, 16, dtype=torch.float64).requires_grad_(True)
    n = 16
    logp = (0.5 * sparse_logdet(params, family.chol, family.build)
            - 0.5 * sparse_quadform(params, x, family.chol, family.build)
            - 0.5 * n * np.log(2 * np.pi))
    grads = torch.autograd.grad(logp, (params, x))
    dense_params = params.detach().clone().requires_grad_(True)
    dense_x = x.detach().clone().requires_grad_(True)
    Q = dense_family(A, B, dense_params)
    dense = torch.distributions.MultivariateNormal(torch.zeros(n, dtype=torch.float64),
                                                   precision_matrix=Q).log_prob(dense_x)
    dense_grads = torch.autograd.grad(dense, (dense_params, dense_x))
    torch.testing.assert_close(logp.detach(), dense.detach(), rtol=1e-10, atol=1e-10)
    for got, want in zip(grads, dense_grads):
        torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-10)


def test_backward_after_another_forward_uses_its_own_factor():
    A, B = CASES["random_pair"]()
    family = two_parameter_family(A, B)
    p1 = torch.tensor([0.5, 0.5], dtype=torch.float64, requires_grad=True)
    p2 = torch.tensor([3.0, 0.1], dtype=torch.float64, requires_grad=True)
    first = family.logdet(p1)
    second = family.logdet(p2)  # refactorizes the shared factor
    (g1,) = torch.autograd.grad(first, p1)
    (g2,) = torch.autograd.grad(second, p2)
    for p, g in ((p1, g1), (p2, g2)):
        dp = p.detach().clone().requires_grad_(True)
        (want,) = torch.autograd.grad(torch.logdet(dense_family(A, B, dp)), dp)
        torch.testing.assert_close(g, want, rtol=1e-10, atol=1e-12)


def test_bad_inputs_raise_kernel_errors():
    A, B = CASES["laplacian_vs_diag"]()
    family = two_parameter_family(A, B)
    with pytest.raises(KernelError, match=r"params must be a 1-D float64 tensor"):
        family.logdet(torch.tensor([1.0, 1.0], dtype=torch.float32))
    with pytest.raises(KernelError, match=r"x must be a float64 tensor of shape \(16,\)"):
        family.quadform(torch.tensor([1.0, 1.0], dtype=torch.float64),
                        torch.ones(15, dtype=torch.float64))
    nnz = family.chol.nnz
    broken = SparsePrecisionFamily(A, build=lambda p: (np.ones(3), [np.ones(3)]))
    with pytest.raises(KernelError, match=rf"values of shape \(3,\).*expected \({nnz},\)"):
        broken.logdet(torch.tensor([1.0], dtype=torch.float64))
    broken.build = lambda p: (family.chol.values_on_pattern(A), [np.ones(nnz)] * 2)
    with pytest.raises(KernelError, match=rf"dvalues of shape \(2, {nnz}\); expected \(1, {nnz}\)"):
        broken.logdet(torch.tensor([1.0], dtype=torch.float64))
    with pytest.raises(NotPositiveDefiniteError):
        family.logdet(torch.tensor([-5.0, 0.0], dtype=torch.float64))
