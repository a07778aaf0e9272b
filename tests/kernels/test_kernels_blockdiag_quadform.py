"""blockdiag_quadform against numpy: K^T S W, then its diagonal q x q blocks."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from tabmixr import _kernels
from tabmixr.kernels import blockdiag_quadform


def dense_reference(K, S, W, q: int) -> np.ndarray:
    """Diagonal q x q blocks of the dense product K^T S W."""
    full = np.asarray(K.todense()).T @ S @ np.asarray(W.todense())
    n_blocks = full.shape[0] // q
    return np.stack([full[l * q:(l + 1) * q, l * q:(l + 1) * q] for l in range(n_blocks)]).reshape(
        n_blocks, q, q
    )


def random_problem(m: int, n_blocks: int, q: int, density: float, seed: int):
    rng = np.random.default_rng(seed)
    n = n_blocks * q
    K = sp.random(m, n, density=density, format="csc", random_state=rng)
    W = sp.random(m, n, density=density, format="csc", random_state=rng)
    S = rng.standard_normal((m, m))
    return K, S, W


@pytest.mark.parametrize("q", [1, 2, 3])
@pytest.mark.parametrize(
    "m, n_blocks, density, seed",
    [(1, 1, 1.0, 0), (5, 4, 0.6, 1), (12, 7, 0.3, 2), (30, 10, 0.1, 3), (40, 25, 0.05, 4)],
)
def test_matches_dense_product(q, m, n_blocks, density, seed):
    K, S, W = random_problem(m, n_blocks, q, density, seed)
    out = blockdiag_quadform(K, S, W, q)
    assert out.shape == (n_blocks, q, q)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, dense_reference(K, S, W, q), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("q", [1, 2, 3])
def test_same_matrix_on_both_sides_gives_symmetric_blocks(q):
    K, S, _ = random_problem(15, 6, q, 0.4, 11)
    S = S @ S.T
    out = blockdiag_quadform(K, S, K, q)
    np.testing.assert_allclose(out, np.transpose(out, (0, 2, 1)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out, dense_reference(K, S, K, q), rtol=1e-12, atol=1e-12)


def test_empty_columns_give_zero_blocks():
    K, S, W = random_problem(8, 6, 2, 0.5, 5)
    K = K.tolil()
    K[:, 0:2] = 0.0
    K[:, 7] = 0.0
    K = K.tocsc()
    K.eliminate_zeros()
    out = blockdiag_quadform(K, S, W, 2)
    np.testing.assert_array_equal(out[0], 0.0)
    np.testing.assert_array_equal(out[3][1], 0.0)
    np.testing.assert_allclose(out, dense_reference(K, S, W, 2), rtol=1e-12, atol=1e-12)


def test_all_empty_and_zero_size_inputs():
    K = sp.csc_array((4, 6))
    out = blockdiag_quadform(K, np.eye(4), K, 3)
    np.testing.assert_array_equal(out, np.zeros((2, 3, 3)))
    empty = sp.csc_array((0, 0))
    assert blockdiag_quadform(empty, np.zeros((0, 0)), empty, 2).shape == (0, 2, 2)


def test_accepts_other_formats_dense_and_int32_indices():
    K, S, W = random_problem(9, 5, 2, 0.4, 6)
    expected = dense_reference(K, S, W, 2)
    np.testing.assert_allclose(blockdiag_quadform(K.tocsr(), S, W.tocoo(), 2), expected, rtol=1e-12)
    np.testing.assert_allclose(
        blockdiag_quadform(K.toarray(), S, sp.csc_matrix(W), 2), expected, rtol=1e-12
    )
    assert K.indptr.dtype == np.int32
    direct = _kernels.blockdiag_quadform(K.indptr, K.indices, K.data, S, W.indptr, W.indices, W.data, 2)
    np.testing.assert_allclose(direct, expected, rtol=1e-12)


def test_unsorted_and_duplicate_entries_are_summed():
    # Column 0 holds row 2 twice (0.5 + 1.5) and rows out of order.
    K = sp.csc_array(
        (np.array([0.5, 3.0, 1.5, 2.0]), np.array([2, 0, 2, 1]), np.array([0, 3, 4])), shape=(3, 2)
    )
    S = np.arange(9.0).reshape(3, 3)
    W = sp.csc_array(np.array([[1.0, 0.0], [0.0, 2.0], [4.0, 1.0]]))
    expected = dense_reference(sp.csc_array(K.toarray()), S, W, 1)
    np.testing.assert_allclose(blockdiag_quadform(K, S, W, 1), expected, rtol=1e-12)


# ---------------------------------------------------------------- errors: facade


def test_facade_rejects_mismatched_shapes():
    K, S, W = random_problem(6, 3, 2, 0.5, 7)
    with pytest.raises(ValueError, match="same shape"):
        blockdiag_quadform(K, S, W[:, :4], 2)
    with pytest.raises(ValueError, match=r"S must have shape \(6, 6\)"):
        blockdiag_quadform(K, S[:5, :5], W, 2)


def test_facade_rejects_n_not_multiple_of_q():
    K, S, W = random_problem(6, 5, 1, 0.5, 8)
    with pytest.raises(ValueError, match="not a multiple of q"):
        blockdiag_quadform(K, S, W, 2)
    with pytest.raises(ValueError, match="q must be >= 1"):
        blockdiag_quadform(K, S, W, 0)


@pytest.mark.parametrize("where", ["K", "S", "W"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_facade_rejects_non_finite(where, bad):
    K, S, W = random_problem(6, 3, 2, 0.6, 9)
    if where == "K":
        K.data[0] = bad
    elif where == "W":
        W.data[-1] = bad
    else:
        S[1, 2] = bad
    with pytest.raises(ValueError, match=f"{where}.*non-finite"):
        blockdiag_quadform(K, S, W, 2)


# ---------------------------------------------------------------- errors: raw kernel


def raw_args(m=5, n_blocks=3, q=2, seed=10):
    K, S, W = random_problem(m, n_blocks, q, 0.6, seed)
    as64 = lambda a: np.ascontiguousarray(a, dtype=np.int64)  # noqa: E731
    return dict(
        K_indptr=as64(K.indptr), K_indices=as64(K.indices), K_data=K.data.copy(), S=S,
        W_indptr=as64(W.indptr), W_indices=as64(W.indices), W_data=W.data.copy(), block_size=q,
    )


def test_raw_kernel_matches_facade():
    args = raw_args()
    K = sp.csc_array((args["K_data"], args["K_indices"], args["K_indptr"]), shape=(5, 6))
    W = sp.csc_array((args["W_data"], args["W_indices"], args["W_indptr"]), shape=(5, 6))
    np.testing.assert_allclose(
        _kernels.blockdiag_quadform(**args), dense_reference(K, args["S"], W, 2), rtol=1e-12
    )


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.update(K_data=a["K_data"][:-1]), "K_indices and K_data must have the same length"),
        (lambda a: a.update(W_indices=a["W_indices"][:-1]), "W_indices and W_data must have the same length"),
        (lambda a: a.update(K_indptr=a["K_indptr"][:-1]), "K_indptr\\[-1\\]"),
        (lambda a: a.update(W_indptr=np.zeros(0, dtype=np.int64)), "W_indptr must have length"),
        (lambda a: a["K_indptr"].__setitem__(0, 1), "K_indptr\\[0\\] must be 0"),
        (lambda a: a["W_indptr"].__setitem__(2, a["W_indptr"][3] + 1), "W_indptr must be nondecreasing"),
        (lambda a: a["K_indices"].__setitem__(0, 5), "K_indices\\[0\\] = 5 is out of range for 5 rows"),
        (lambda a: a["W_indices"].__setitem__(1, -1), "W_indices\\[1\\] = -1 is out of range"),
        (lambda a: a.update(block_size=4), "not a multiple of block_size"),
        (lambda a: a.update(block_size=0), "block_size must be >= 1"),
        (lambda a: a.update(S=a["S"][:, :4].copy()), "S must be square"),
        (lambda a: a.update(S=np.zeros(5)), "S must be 2-dimensional"),
        (lambda a: a["S"].__setitem__((0, 0), np.nan), "S holds a non-finite value"),
        (lambda a: a["K_data"].__setitem__(0, -np.inf), "K_data holds a non-finite value"),
    ],
)
def test_raw_kernel_errors(change, message):
    args = raw_args()
    change(args)
    with pytest.raises(ValueError, match=message):
        _kernels.blockdiag_quadform(**args)


def test_raw_kernel_rejects_column_count_mismatch():
    args = raw_args()
    other = raw_args(n_blocks=4, seed=12)
    args.update(W_indptr=other["W_indptr"], W_indices=other["W_indices"], W_data=other["W_data"])
    with pytest.raises(ValueError, match="same number of columns"):
        _kernels.blockdiag_quadform(**args)


def test_concurrent_calls_agree():
    """The kernel runs without the GIL: two threads at once both get the same answer."""
    import threading

    K, S, W = random_problem(300, 200, 3, 0.05, 13)
    expected = blockdiag_quadform(K, S, W, 3)
    results = [None, None]

    def work(slot):
        results[slot] = blockdiag_quadform(K, S, W, 3)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, expected)
