"""weighted_gram against dense numpy."""

import numpy as np
import pytest
import scipy.sparse as sp

from tabmixr.kernels import weighted_gram


def _dense_reference(G, C):
    l, q, _ = C.shape
    D = np.zeros((l * q, l * q))
    for k in range(l):
        D[k * q:(k + 1) * q, k * q:(k + 1) * q] = C[k]
    return G.toarray() @ D @ G.toarray().T


@pytest.mark.parametrize("q", [1, 2, 3])
@pytest.mark.parametrize("m,l,density", [(5, 4, 0.5), (30, 40, 0.1), (1, 3, 1.0), (12, 7, 0.0)])
def test_matches_dense(q, m, l, density):
    rng = np.random.default_rng(q * 100 + m)
    G = sp.random(m, l * q, density=density, random_state=rng, format="csc")
    C = rng.normal(size=(l, q, q))
    C = C + np.transpose(C, (0, 2, 1))
    np.testing.assert_allclose(weighted_gram(G, C), _dense_reference(G, C), atol=1e-12)


def test_accepts_csr_and_int32_indices():
    rng = np.random.default_rng(0)
    G = sp.random(8, 10, density=0.4, random_state=rng, format="csr")
    C = rng.uniform(size=(5, 2, 2))
    C = C + np.transpose(C, (0, 2, 1))
    np.testing.assert_allclose(weighted_gram(G, C), _dense_reference(sp.csc_matrix(G), C), atol=1e-12)


@pytest.mark.parametrize("C_shape,match", [((3, 2, 3), "shape"), ((4, 2, 2), "blocks"), ((6,), "shape")])
def test_shape_errors(C_shape, match):
    G = sp.random(4, 6, density=0.5, format="csc", random_state=1)
    with pytest.raises(ValueError, match=match):
        weighted_gram(G, np.ones(C_shape))


def test_non_finite_block_is_rejected():
    G = sp.random(4, 6, density=0.5, format="csc", random_state=1)
    C = np.ones((6, 1, 1))
    C[2, 0, 0] = np.nan
    with pytest.raises(ValueError, match="C"):
        weighted_gram(G, C)


def test_asymmetric_block_is_rejected():
    G = sp.random(4, 6, density=0.5, format="csc", random_state=1)
    C = np.ones((3, 2, 2))
    C[1, 0, 1] = 2.0
    with pytest.raises(ValueError, match="symmetric"):
        weighted_gram(G, C)
