"""VanRaden (2008) method-1 genomic relationship matrix against a direct numpy formula."""

import numpy as np
import pytest

from tabmixr.errors import GenotypeError, GenotypeWarning
from tabmixr.kinship import vanraden_grm


def _direct(M):
    """G by the textbook formula with per-marker mean imputation, one marker at a time."""
    n, m = M.shape
    Mi = M.copy()
    p = np.empty(m)
    for j in range(m):
        obs = ~np.isnan(M[:, j])
        p[j] = M[obs, j].mean() / 2
        Mi[~obs, j] = 2 * p[j]
    W = Mi - 2 * p
    return W @ W.T / (2 * np.sum(p * (1 - p))), p


@pytest.mark.parametrize("n,m,missing_rate,seed", [(5, 20, 0.0, 0), (30, 200, 0.1, 1),
                                                   (12, 7, 0.3, 2), (50, 1000, 0.02, 3)])
def test_matches_direct_formula(n, m, missing_rate, seed):
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.05, 0.95, m)
    M = rng.binomial(2, freq, size=(n, m)).astype(float)
    M[rng.random((n, m)) < missing_rate] = np.nan
    keep = ~np.all(np.isnan(M), axis=0)
    G, p = vanraden_grm(M)
    G_ref, p_ref = _direct(M[:, keep])
    np.testing.assert_allclose(G, G_ref, atol=1e-12)
    np.testing.assert_allclose(p[keep], p_ref, atol=1e-15)
    np.testing.assert_allclose(G, G.T)


def test_unrelated_animals_average_one_on_the_diagonal():
    rng = np.random.default_rng(5)
    freq = rng.uniform(0.1, 0.9, 5000)
    M = rng.binomial(2, freq, size=(40, 5000)).astype(float)
    G, _ = vanraden_grm(M, p=freq)
    assert np.mean(np.diag(G)) == pytest.approx(1.0, abs=0.05)
    assert np.max(np.abs(G - np.diag(np.diag(G)))) < 0.15


def test_missing_code_and_given_frequencies():
    M = np.array([[0, 1, 2, -9], [2, 1, -9, 0], [1, 1, 0, 2]], dtype=float)
    p = np.array([0.5, 0.4, 0.3, 0.6])
    G, p_out = vanraden_grm(M, p=p, missing=-9)
    Z = np.where(M == -9, 0.0, M - 2 * p)
    np.testing.assert_allclose(G, Z @ Z.T / (2 * np.sum(p * (1 - p))))
    np.testing.assert_array_equal(p_out, p)


def test_all_missing_marker_is_dropped_with_warning():
    M = np.array([[0, np.nan, 2], [2, np.nan, 1]])
    with pytest.warns(GenotypeWarning, match="marker 1"):
        G, _ = vanraden_grm(M)
    np.testing.assert_allclose(G, vanraden_grm(M[:, [0, 2]])[0])


@pytest.mark.parametrize("M,kwargs,match", [
    (np.array([[0, 1], [3, 2]]), {}, "animal 1 at marker 0 is 3;"),
    (np.array([[0, 1.5], [2, 2]]), {}, "animal 0 at marker 1 is 1.5"),
    (np.array([[0, 2.5], [2, 2]]), {"dosage": True}, "marker 1"),
    (np.array([0, 1, 2]), {}, "2-D"),
    (np.array([[0, 2], [0, 2]]), {}, "monomorphic"),
    (np.array([[0, 1], [2, 1]]), {"p": [0.5]}, "length 2"),
    (np.array([[0, 1], [2, 1]]), {"p": [0.5, 1.2]}, "marker 1"),
])
def test_bad_genotypes_are_refused(M, kwargs, match):
    with pytest.raises(GenotypeError, match=match):
        vanraden_grm(M, **kwargs)


def test_dosages_accepted_when_asked():
    M = np.array([[0.1, 1.9], [1.2, 0.4], [2.0, 1.0]])
    G, p = vanraden_grm(M, dosage=True)
    Z = M - 2 * p
    np.testing.assert_allclose(G, Z @ Z.T / (2 * np.sum(p * (1 - p))))
