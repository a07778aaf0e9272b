"""Selected inversion (Takahashi), diag(Q^-1) and tr(Q^-1 dQ) against dense numpy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from cholesky_zoo import ZOO, laplacian_2d, zoo_ids
from tabmixr.errors import KernelError
from tabmixr.kernels import SparseCholesky


@pytest.fixture(params=ZOO, ids=zoo_ids())
def Q(request):
    _, build = request.param
    return build(np.random.default_rng(99))


@pytest.mark.parametrize("method", ["simplicial", "supernodal"])
def test_selected_inverse_matches_dense_inverse_on_pattern(Q, method):
    chol = SparseCholesky(Q, method=method)
    Sigma = np.linalg.inv(Q.toarray())
    S = chol.selected_inverse()
    assert S.has_sorted_indices
    # The pattern is the structural pattern of L + L^T (explicit zeros of supernodes
    # included) mapped back to the original ordering.
    L = chol.L()
    n = Q.shape[0]
    structural = np.zeros((n, n), dtype=bool)
    structural[L.indices, np.repeat(np.arange(n), np.diff(L.indptr))] = True
    structural |= structural.T
    inv_perm = np.argsort(chol.perm)
    expected_pattern = structural[np.ix_(inv_perm, inv_perm)]
    assert S.nnz == 2 * L.nnz - n
    coo = S.tocoo()
    stored = np.zeros((n, n), dtype=bool)
    stored[coo.row, coo.col] = True
    np.testing.assert_array_equal(stored, expected_pattern)
    # Every stored entry equals the dense inverse (explicit zeros of supernodes included).
    np.testing.assert_allclose(coo.data, Sigma[coo.row, coo.col],
                               atol=1e-11 * np.abs(Sigma).max())
    # Q's pattern lies inside.
    Qc = Q.tocoo()
    assert stored[Qc.row, Qc.col].all()
    dense_S = S.toarray()
    np.testing.assert_allclose(dense_S, dense_S.T)


@pytest.mark.parametrize("method", ["simplicial", "supernodal", "auto"])
def test_diag_inverse(Q, method):
    chol = SparseCholesky(Q, method=method)
    Sigma = np.linalg.inv(Q.toarray())
    np.testing.assert_allclose(chol.diag_inverse(), np.diag(Sigma), rtol=1e-10)


@pytest.mark.parametrize("method", ["simplicial", "supernodal"])
def test_trace_inv_product_on_pattern(Q, method):
    rng = np.random.default_rng(5)
    chol = SparseCholesky(Q, method=method)
    Sigma = np.linalg.inv(Q.toarray())
    # Random symmetric dQ on Q's pattern: values as one row, three rows, and as a matrix.
    dQs = []
    for _ in range(3):
        R = sp.csc_array(Q, copy=True)
        R.data = rng.standard_normal(R.nnz)
        dQs.append(sp.csc_array(R + R.T))
    values = np.stack([chol.values_on_pattern(d) for d in dQs])
    expected = np.array([np.trace(Sigma @ d.toarray()) for d in dQs])
    tol = 1e-10 * np.abs(Sigma).max() * Q.nnz
    np.testing.assert_allclose(chol.trace_inv_product(values), expected, atol=tol)
    np.testing.assert_allclose(chol.trace_inv_product(values[0]), expected[0], atol=tol)
    np.testing.assert_allclose(chol.trace_inv_product(dQs[1]), expected[1], atol=tol)
    # tr(Q^-1 Q) = n
    np.testing.assert_allclose(chol.trace_inv_product(Q), Q.shape[0], rtol=1e-10)


def test_trace_of_derivative_is_logdet_gradient():
    """d/dt log det(Q + t E) at t = 0 equals tr(Q^-1 E) (finite differences)."""
    Q = laplacian_2d(None, 8, shift=0.2)
    E = sp.csc_array(sp.diags_array(np.linspace(0.1, 1.0, 64)))
    chol = SparseCholesky(Q)
    grad = chol.trace_inv_product(E)
    h = 1e-6
    up = SparseCholesky(Q + h * E).logdet()
    down = SparseCholesky(Q - h * E).logdet()
    np.testing.assert_allclose(grad, (up - down) / (2 * h), rtol=1e-6)


def test_selected_inverse_follows_refactorization():
    Q = laplacian_2d(None, 7, shift=0.5)
    chol = SparseCholesky(Q)
    first = chol.diag_inverse()
    Q2 = sp.csc_array(2.0 * Q)
    chol.factorize(Q2)
    np.testing.assert_allclose(chol.diag_inverse(), first / 2.0, rtol=1e-12)
    S = chol.selected_inverse().tocoo()
    Sigma2 = np.linalg.inv(Q2.toarray())
    np.testing.assert_allclose(S.data, Sigma2[S.row, S.col], atol=1e-12)


def test_trace_outside_pattern_is_rejected():
    Q = sp.csc_array(sp.diags_array([1.0, 2.0, 3.0, 4.0]))
    chol = SparseCholesky(Q)
    dQ = sp.csc_array(([1.0, 1.0], ([0, 3], [3, 0])), shape=(4, 4))
    with pytest.raises(KernelError, match=r"dQ has a nonzero entry at \(3, 0\) outside"):
        chol.trace_inv_product(dQ)
    with pytest.raises(KernelError, match=r"one column per stored entry of Q \(4\)"):
        chol.trace_inv_product(np.ones((2, 5)))
    with pytest.raises(KernelError, match=r"dQ has shape \(3, 3\)"):
        chol.trace_inv_product(sp.eye_array(3))


@pytest.mark.parametrize("method", ["simplicial", "supernodal"])
def test_selected_inverse_on_q_pattern(Q, method):
    """pattern="Q": the entries of Q^-1 at Q's own stored entries, same pattern as Q."""
    chol = SparseCholesky(Q, method=method)
    Sigma = np.linalg.inv(Q.toarray())
    S = chol.selected_inverse(pattern="Q")
    Qc = sp.csc_array(Q)
    Qc.sort_indices()
    np.testing.assert_array_equal(S.indptr, Qc.indptr)
    np.testing.assert_array_equal(S.indices, Qc.indices)
    assert not np.shares_memory(S.indices, chol.indices)
    coo = S.tocoo()
    np.testing.assert_allclose(coo.data, Sigma[coo.row, coo.col], atol=1e-11 * np.abs(Sigma).max())
    # The same numbers as the factor-pattern result at those entries.
    full = chol.selected_inverse()
    np.testing.assert_allclose(full[coo.row, coo.col], coo.data, rtol=0, atol=0)


@pytest.mark.parametrize("method", ["simplicial", "supernodal"])
def test_selected_inverse_rows_are_sorted_and_int32(method):
    """The kernel writes sorted rows itself (has_sorted_indices is set, not checked)."""
    Q = laplacian_2d(None, 12, shift=0.4)
    chol = SparseCholesky(Q, method=method)
    S = chol.selected_inverse()
    assert S.indices.dtype == np.int32 and S.indptr.dtype == np.int32
    for c in range(S.shape[1]):
        rows = S.indices[S.indptr[c]:S.indptr[c + 1]]
        assert np.all(np.diff(rows) > 0), c
    copy = sp.csc_array((S.data, S.indices, S.indptr), shape=S.shape)
    assert copy.has_sorted_indices


def test_supernodal_and_simplicial_selected_inverses_agree():
    """Large enough for CHOLMOD supernodes with many columns and owners."""
    Q = laplacian_2d(None, 30, shift=0.05)
    Q = sp.csc_array(Q @ Q)  # alpha = 2 stencil: wide supernodes
    sup = SparseCholesky(Q, method="supernodal")
    simp = SparseCholesky(Q, method="simplicial")
    np.testing.assert_allclose(sup.diag_inverse(), simp.diag_inverse(), rtol=1e-10)
    a, b = sup.selected_inverse(pattern="Q"), simp.selected_inverse(pattern="Q")
    np.testing.assert_allclose(a.data, b.data, rtol=1e-9, atol=1e-12 * np.abs(b.data).max())
    Sigma = np.linalg.inv(Q.toarray())
    S = sup.selected_inverse().tocoo()
    np.testing.assert_allclose(S.data, Sigma[S.row, S.col], atol=1e-10 * np.abs(Sigma).max())


def test_unknown_selected_inverse_pattern_is_rejected():
    chol = SparseCholesky(laplacian_2d(None, 3))
    with pytest.raises(KernelError, match="pattern must be one of"):
        chol.selected_inverse(pattern="L")
