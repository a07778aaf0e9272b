"""SparseCholesky (CHOLMOD underneath) against dense numpy on the SPD zoo."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from cholesky_zoo import METHODS, ZOO, laplacian_2d, random_weak, zoo_ids
from tabmixr.errors import KernelError, NotPositiveDefiniteError, TabmixError
from tabmixr.kernels import SparseCholesky


@pytest.fixture(params=ZOO, ids=zoo_ids())
def Q(request):
    _, build = request.param
    return build(np.random.default_rng(2024))


@pytest.mark.parametrize("method", METHODS)
def test_solve_and_logdet_match_dense(Q, method):
    rng = np.random.default_rng(1)
    n = Q.shape[0]
    D = Q.toarray()
    chol = SparseCholesky(Q, method=method)
    b = rng.standard_normal(n)
    B = rng.standard_normal((n, 3))
    scale = np.abs(np.linalg.inv(D)).max()
    np.testing.assert_allclose(chol.solve(b), np.linalg.solve(D, b), atol=1e-10 * scale * n)
    X = chol.solve(B)
    assert X.shape == (n, 3)
    np.testing.assert_allclose(X, np.linalg.solve(D, B), atol=1e-10 * scale * n)
    np.testing.assert_allclose(chol.logdet(), np.linalg.slogdet(D)[1], rtol=1e-12, atol=1e-10)
    if method == "supernodal" and n > 1:
        assert chol.is_supernodal
    if method == "simplicial":
        assert not chol.is_supernodal


@pytest.mark.parametrize("method", ["simplicial", "supernodal"])
def test_factor_reproduces_permuted_matrix(Q, method):
    chol = SparseCholesky(Q, method=method)
    L = chol.L().toarray()
    p = chol.perm
    assert sorted(p) == list(range(Q.shape[0]))
    np.testing.assert_allclose(np.tril(L), L)
    np.testing.assert_allclose(L @ L.T, Q.toarray()[np.ix_(p, p)], atol=1e-10 * abs(Q).max())
    assert chol.factor_nnz >= (Q.nnz + Q.shape[0]) // 2


@pytest.mark.parametrize("method", ["simplicial", "supernodal"])
def test_sample_is_permuted_back_substitution(Q, method):
    """x = P^T L^-T z exactly, from the dense factor; sample_mean adds Q^-1 b."""
    rng = np.random.default_rng(7)
    n = Q.shape[0]
    chol = SparseCholesky(Q, method=method)
    L = chol.L().toarray()
    p = chol.perm
    Z = rng.standard_normal((n, 4))
    expected = np.empty_like(Z)
    expected[p] = np.linalg.solve(L.T, Z)
    np.testing.assert_allclose(chol.sample(Z), expected, atol=1e-10)
    np.testing.assert_allclose(chol.sample(Z[:, 0]), expected[:, 0], atol=1e-10)
    b = rng.standard_normal(n)
    np.testing.assert_allclose(chol.sample_mean(b, Z[:, 1]),
                               np.linalg.solve(Q.toarray(), b) + expected[:, 1], atol=1e-9)


def test_empirical_covariance_of_draws_is_inverse():
    rng = np.random.default_rng(11)
    Q = laplacian_2d(rng, 5, shift=0.5)
    chol = SparseCholesky(Q)
    n_draws = 40000
    draws = chol.sample(rng.standard_normal((Q.shape[0], n_draws)))
    cov = draws @ draws.T / n_draws
    Sigma = np.linalg.inv(Q.toarray())
    # Standard error of a sample covariance entry: sqrt((S_ij^2 + S_ii S_jj) / N).
    se = np.sqrt((Sigma**2 + np.outer(np.diag(Sigma), np.diag(Sigma))) / n_draws)
    assert np.max(np.abs(cov - Sigma) / se) < 5.0
    assert np.abs(draws.mean(axis=1)).max() < 5 * np.sqrt(np.diag(Sigma).max() / n_draws)


@pytest.mark.parametrize("method", METHODS)
def test_refactorize_with_new_values(method):
    rng = np.random.default_rng(3)
    Q1 = random_weak(rng, 80, 0.05)
    chol = SparseCholesky(Q1, method=method)
    perm = chol.perm.copy()
    Q2 = Q1.copy()
    Q2.data = Q2.data * 1.7
    Q2 = sp.csc_array(Q2 + 3.0 * sp.eye_array(80))  # diagonal is in the pattern already
    for new in (Q2, chol.values_on_pattern(Q2)):
        chol.factorize(new)
        np.testing.assert_allclose(chol.logdet(), np.linalg.slogdet(Q2.toarray())[1], rtol=1e-12)
        b = rng.standard_normal(80)
        np.testing.assert_allclose(chol.solve(b), np.linalg.solve(Q2.toarray(), b), atol=1e-10)
        np.testing.assert_array_equal(chol.perm, perm)  # the analysis was reused


def test_values_on_pattern_aligns_and_rejects_outside():
    Q = laplacian_2d(None, 3)
    chol = SparseCholesky(Q)
    I_values = chol.values_on_pattern(sp.eye_array(9))
    rebuilt = sp.csc_array((I_values, chol.indices, chol.indptr), shape=(9, 9))
    np.testing.assert_array_equal(rebuilt.toarray(), np.eye(9))
    far = sp.csc_array(([1.0, 1.0], ([0, 8], [8, 0])), shape=(9, 9))
    with pytest.raises(KernelError, match=r"outside the analysed pattern"):
        chol.values_on_pattern(far)


def test_explicit_zeros_keep_the_pattern():
    Q = laplacian_2d(None, 4)
    chol = SparseCholesky(Q)
    # same pattern, explicit zeros off the diagonal
    Qdiag = sp.csc_array((chol.values_on_pattern(2.0 * sp.eye_array(16)), chol.indices,
                          chol.indptr), shape=(16, 16))
    chol.factorize(Qdiag)
    np.testing.assert_allclose(chol.logdet(), 16 * np.log(2.0))


# -- errors ---------------------------------------------------------------------------

def test_not_positive_definite_names_the_column():
    D = np.diag([1.0, 2.0, 3.0, 4.0])
    D[2, 2] = -1.0
    with pytest.raises(NotPositiveDefiniteError, match=r"not positive definite.*column 2") as info:
        SparseCholesky(sp.csc_array(D), method="simplicial")
    assert info.value.column == 2
    assert isinstance(info.value, TabmixError)


@pytest.mark.parametrize("method", ["simplicial", "supernodal"])
def test_negative_diagonal_is_named_after_reordering(method):
    Q = sp.lil_array(laplacian_2d(None, 6, shift=0.2))
    Q[17, 17] = -3.0
    with pytest.raises(NotPositiveDefiniteError, match=r"column 17 of Q") as info:
        SparseCholesky(sp.csc_array(Q), method=method)
    assert info.value.column == 17


@pytest.mark.parametrize("method", ["simplicial", "supernodal"])
def test_indefinite_matrix_fails_then_refactorizes(method):
    Q = laplacian_2d(None, 6, shift=0.2)
    chol = SparseCholesky(Q, method=method)
    bad = chol.values_on_pattern(Q - 1.0 * sp.eye_array(36))  # smallest eigenvalue < 0
    with pytest.raises(NotPositiveDefiniteError) as info:
        chol.factorize(bad)
    assert 0 <= info.value.column < 36
    assert not chol.is_factorized
    with pytest.raises(KernelError, match=r"call factorize"):
        chol.logdet()
    chol.factorize(Q)
    np.testing.assert_allclose(chol.logdet(), np.linalg.slogdet(Q.toarray())[1], rtol=1e-12)


@pytest.mark.parametrize("method", ["simplicial", "supernodal"])
def test_bad_values_are_rejected_before_refactorizing(method):
    """Both paths (cholmod_factorize, and tril(P Q P^T) to cholmod_super_numeric) check
    values first and keep the previous factor's pattern usable."""
    Q = laplacian_2d(None, 8, shift=0.2)
    chol = SparseCholesky(Q, method=method)
    data = Q.data.copy()
    k = int(np.flatnonzero(Q.indices != np.repeat(np.arange(64), np.diff(Q.indptr)))[0])
    data[k] += 0.25
    with pytest.raises(KernelError, match=r"not symmetric"):
        chol.factorize(data)
    data[k] = np.inf
    with pytest.raises(KernelError, match=r"non-finite value inf"):
        chol.factorize(data)
    assert chol.is_factorized  # the previous factor is kept
    np.testing.assert_allclose(chol.logdet(), np.linalg.slogdet(Q.toarray())[1], rtol=1e-12)
    Q2 = sp.csc_array(Q + 0.5 * sp.eye_array(64))
    chol.factorize(Q2)
    np.testing.assert_allclose(chol.logdet(), np.linalg.slogdet(Q2.toarray())[1], rtol=1e-12)
    np.testing.assert_allclose(chol.solve(np.ones(64)), np.linalg.solve(Q2.toarray(), np.ones(64)),
                               rtol=1e-10)


def test_non_square_is_rejected():
    with pytest.raises(KernelError, match=r"square"):
        SparseCholesky(sp.csc_array(np.ones((3, 4))))


def test_asymmetric_pattern_and_values_are_rejected():
    upper = sp.csc_array(np.array([[2.0, 1.0], [0.0, 2.0]]))
    with pytest.raises(KernelError, match=r"symmetric pattern.*Q\[0, 1\]"):
        SparseCholesky(upper)
    asym = sp.csc_array(np.array([[2.0, 1.0], [0.5, 2.0]]))
    with pytest.raises(KernelError, match=r"not symmetric: Q\[1, 0\] = 0.5"):
        SparseCholesky(asym)


def test_non_finite_values_are_rejected():
    Q = laplacian_2d(None, 3)
    chol = SparseCholesky(Q)
    data = Q.data.copy()
    data[4] = np.nan
    with pytest.raises(KernelError, match=r"non-finite value nan at Q\["):
        chol.factorize(data)
    with pytest.raises(KernelError, match=r"b holds a non-finite value"):
        chol.solve(np.r_[np.inf, np.zeros(8)])


def test_pattern_mismatch_on_refactorize():
    Q = laplacian_2d(None, 3)
    chol = SparseCholesky(Q)
    with pytest.raises(KernelError, match=r"pattern mismatch.*9 stored entries.*33"):
        chol.factorize(sp.eye_array(9))
    with pytest.raises(KernelError, match=r"pattern mismatch: Q_data has 5 values"):
        chol.factorize(np.ones(5))
    with pytest.raises(KernelError, match=r"pattern mismatch: Q has shape \(4, 4\)"):
        chol.factorize(sp.eye_array(4))


def test_wrong_right_hand_side_shape():
    chol = SparseCholesky(laplacian_2d(None, 3))
    with pytest.raises(KernelError, match=r"b has 8 rows but Q is 9 x 9"):
        chol.solve(np.ones(8))
    with pytest.raises(KernelError, match=r"same shape"):
        chol.sample_mean(np.ones(9), np.ones((9, 2)))
    with pytest.raises(KernelError, match=r"method must be one of"):
        SparseCholesky(laplacian_2d(None, 3), method="dense")


def test_threads_share_one_factor_and_use_their_own():
    """Calls release the GIL; one object is serialized by its mutex, results stay exact."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(12)
    Q = laplacian_2d(None, 15, shift=0.3)
    shared = SparseCholesky(Q)
    B = rng.standard_normal((Q.shape[0], 8))
    expected = np.linalg.solve(Q.toarray(), B)

    def work(k):
        own = SparseCholesky(Q * (k + 1.0))
        return shared.solve(B[:, k]), own.logdet(), shared.diag_inverse()

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, range(8)))
    logdet = np.linalg.slogdet(Q.toarray())[1]
    for k, (x, ld, d) in enumerate(results):
        np.testing.assert_allclose(x, expected[:, k], atol=1e-10)
        np.testing.assert_allclose(ld, logdet + Q.shape[0] * np.log(k + 1.0), rtol=1e-12)
        np.testing.assert_allclose(d, np.diag(np.linalg.inv(Q.toarray())), rtol=1e-10)
