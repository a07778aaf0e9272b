"""The large arrays of selected_inverse() come from recycled mappings (output_buffer.cpp).

These tests use a grid big enough (indices and data over 4 MiB) for the
mapped path, check it against numpy's allocator (the fallback), and check
the lifetimes: a recycled buffer is fully rewritten, results held by the
caller are never reused, and results outlive their factor.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest
import scipy.sparse as sp

from cholesky_zoo import laplacian_2d
from tabmixr import _kernels
from tabmixr.kernels import SparseCholesky


@pytest.fixture(scope="module")
def grid():
    Q = laplacian_2d(None, 160, shift=0.5)
    chol = SparseCholesky(Q)
    assert 4 * (2 * chol.factor_nnz - chol.n) > 4 << 20  # int32 indices take the mapped path
    return Q, chol


def numpy_allocated(chol):
    previous = _kernels._set_mapped_outputs(False)
    try:
        return chol.selected_inverse()
    finally:
        _kernels._set_mapped_outputs(previous)


def assert_same(S, R):
    assert S.indices.dtype == R.indices.dtype == np.int32
    np.testing.assert_array_equal(S.indptr, R.indptr)
    np.testing.assert_array_equal(S.indices, R.indices)
    np.testing.assert_array_equal(S.data, R.data)


def test_mapped_and_numpy_outputs_agree(grid):
    Q, chol = grid
    chol.factorize(Q)
    S = chol.selected_inverse()
    assert S.data.base is not None and S.data.flags.writeable  # owned by a capsule
    R = numpy_allocated(chol)
    assert R.data.base is None or not np.shares_memory(R.data, S.data)
    assert_same(S, R)


def test_released_buffers_are_reused_and_rewritten(grid):
    Q, chol = grid
    chol.factorize(Q)
    S = chol.selected_inverse()
    address = S.data.ctypes.data
    del S
    gc.collect()
    chol.factorize(sp.csc_array(3.0 * Q))  # new values: every entry must be rewritten
    S = chol.selected_inverse()
    assert S.data.ctypes.data == address
    assert_same(S, numpy_allocated(chol))


def test_held_results_are_not_reused(grid):
    Q, chol = grid
    chol.factorize(Q)
    first = chol.selected_inverse()
    kept = first.data.copy()
    chol.factorize(sp.csc_array(2.0 * Q))
    second = chol.selected_inverse()
    assert not np.shares_memory(first.data, second.data)
    np.testing.assert_array_equal(first.data, kept)
    np.testing.assert_allclose(second.data, kept / 2.0, rtol=1e-12)


def test_results_outlive_their_factor():
    Q = laplacian_2d(None, 160, shift=0.5)
    chol = SparseCholesky(Q)
    S = chol.selected_inverse()
    R = numpy_allocated(chol)
    del chol
    gc.collect()
    assert_same(S, R)
    S.data[:] = 0.0  # still mapped and writable
