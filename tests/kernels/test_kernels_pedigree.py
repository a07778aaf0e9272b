"""Pedigree kernels (inbreeding, d, A^-1, A x, A^-1 x, dense A) against dense numpy."""

import warnings

import numpy as np
import pytest

from kinship_sim import simulate_pedigree, tabular_a
from tabmixr.errors import PedigreeError, PedigreeWarning, TabmixError
from tabmixr.kinship import Pedigree

# Mrode (2014), Linear Models for the Prediction of Animal Breeding Values, Example 2.1.
MRODE_IDS = [1, 2, 3, 4, 5, 6]
MRODE_SIRE = [None, None, 1, 1, 4, 5]
MRODE_DAM = [None, None, None, 2, 3, 2]
MRODE_AINV = np.array([
    [1.833, 0.500, -0.667, -1.000, 0.000, 0.000],
    [0.500, 2.033, 0.000, -1.000, 0.533, -1.067],
    [-0.667, 0.000, 1.833, 0.500, -1.000, 0.000],
    [-1.000, -1.000, 0.500, 2.500, -1.000, 0.000],
    [0.000, 0.533, -1.000, -1.000, 2.533, -1.067],
    [0.000, -1.067, 0.000, 0.000, -1.067, 2.133],
])


def test_mrode_example_inbreeding_and_ainv():
    ped = Pedigree(MRODE_IDS, MRODE_SIRE, MRODE_DAM)
    np.testing.assert_allclose(ped.inbreeding, [0, 0, 0, 0, 0.125, 0.125])
    np.testing.assert_allclose(ped.d, [1, 1, 0.75, 0.5, 0.5, 0.46875])
    np.testing.assert_allclose(ped.ainv().toarray(), MRODE_AINV, atol=5e-4)
    np.testing.assert_allclose(ped.dense_a()[4, 5], 0.6875)


@pytest.mark.parametrize("ids,sire,dam,animal,F", [
    # parent-offspring mating: A x B -> C, A x C -> D
    (["A", "B", "C", "D"], [None, None, "A", "A"], [None, None, "B", "C"], "D", 0.25),
    # full-sib mating: A x B -> C, D; C x D -> E
    (["A", "B", "C", "D", "E"], [None, None, "A", "A", "C"], [None, None, "B", "B", "D"], "E",
     0.25),
    # half-sib mating: A x B -> C, A x D -> E, C x E -> F
    (list("ABCDEF"), [None, None, "A", None, "A", "C"], [None, None, "B", None, "D", "E"], "F",
     0.125),
    # two generations of full-sib mating: F = 0.375
    (list("ABCDEFG"), [None, None, "A", "A", "C", "C", "E"], [None, None, "B", "B", "D", "D", "F"],
     "G", 0.375),
    # founders only
    (["x", "y"], [None, None], [None, None], "y", 0.0),
])
def test_textbook_inbreeding(ids, sire, dam, animal, F):
    ped = Pedigree(ids, sire, dam)
    k = ped.index_of([animal])[0]
    assert ped.inbreeding[k] == pytest.approx(F, abs=1e-14)
    assert ped.dense_a()[k, k] == pytest.approx(1 + F, abs=1e-14)


@pytest.mark.parametrize("seed,n_founders,generations,size,p_fs", [
    (0, 5, 3, 6, 0.0), (1, 10, 6, 15, 0.3), (2, 3, 10, 5, 0.5), (3, 20, 4, 40, 0.2),
    (4, 2, 1, 1, 0.0),
])
def test_random_pedigrees_against_dense(seed, n_founders, generations, size, p_fs):
    sire, dam = simulate_pedigree(n_founders, generations, size, seed, p_full_sib_mating=p_fs)
    ped = Pedigree.from_indices(sire, dam)
    A = tabular_a(sire, dam)
    np.testing.assert_allclose(ped.dense_a(), A, atol=1e-13)
    np.testing.assert_allclose(ped.inbreeding, np.diag(A) - 1, atol=1e-13)
    np.testing.assert_allclose(ped.ainv().toarray(), np.linalg.inv(A), atol=1e-9)
    sign, logdet = np.linalg.slogdet(A)
    assert sign == 1 and ped.logdet == pytest.approx(logdet, abs=1e-9)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(ped.n, 3))
    np.testing.assert_allclose(ped.a_times(x), A @ x, atol=1e-11)
    np.testing.assert_allclose(ped.a_times(x[:, 0]), A @ x[:, 0], atol=1e-11)
    np.testing.assert_allclose(ped.ainv_times(x), np.linalg.solve(A, x), atol=1e-8)
    np.testing.assert_allclose(ped.ainv_times(x), ped.ainv() @ x, atol=1e-11)
    Ainv = ped.ainv()
    assert (Ainv != Ainv.T).nnz == 0
    assert np.all(np.diff(Ainv.indptr) > 0)


def test_selfing_matches_dense():
    # sire == dam (plants): F of the selfed offspring is 1/2
    sire, dam = np.array([-1, 0, 1, -1, 2]), np.array([-1, 0, 1, -1, 3])
    ped = Pedigree.from_indices(sire, dam)
    A = tabular_a(sire, dam)
    np.testing.assert_allclose(ped.inbreeding, np.diag(A) - 1, atol=1e-14)
    assert ped.inbreeding[1] == pytest.approx(0.5)
    np.testing.assert_allclose(ped.ainv().toarray(), np.linalg.inv(A), atol=1e-10)


def test_any_input_order_gives_the_same_relationships():
    sire, dam = simulate_pedigree(6, 4, 8, seed=7, p_full_sib_mating=0.3)
    A = tabular_a(sire, dam)
    ids = [f"a{k}" for k in range(len(sire))]
    s_ids = [None if s < 0 else ids[s] for s in sire]
    d_ids = [float("nan") if d < 0 else ids[d] for d in dam]
    perm = np.random.default_rng(3).permutation(len(ids))
    ped = Pedigree([ids[k] for k in perm], [s_ids[k] for k in perm], [d_ids[k] for k in perm])
    pos = ped.index_of(ids)
    np.testing.assert_allclose(ped.dense_a()[np.ix_(pos, pos)], A, atol=1e-13)
    assert np.all(ped.sire < np.arange(ped.n)) and np.all(ped.dam < np.arange(ped.n))


def test_missing_parent_is_added_as_founder_with_warning():
    with pytest.warns(PedigreeWarning, match="'X'"):
        ped = Pedigree([1, 2], ["X", "X"], [None, None])
    assert ped.added_founders == ("X",)
    assert list(ped.ids) == ["X", 1, 2]
    assert ped.dense_a()[1, 2] == pytest.approx(0.25)


def test_unknown_codes_and_pandas_columns():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"id": [1, 2, 3, 4], "sire": [0, 0, 1, 1], "dam": [0, 0, 2, 2]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ped = Pedigree(df["id"], df["sire"], df["dam"], unknown_codes=(0,))
    assert ped.dense_a()[2, 3] == pytest.approx(0.5)
    df2 = pd.DataFrame({"id": [1, 2, 3], "sire": [None, None, 1], "dam": [None, None, 2]})
    assert Pedigree(df2["id"], df2["sire"], df2["dam"]).dense_a()[0, 2] == pytest.approx(0.5)


@pytest.mark.parametrize("ids,sire,dam,match", [
    ([1, 2, 2], [None, None, 1], [None, None, None], "duplicate id 2"),
    ([1, 2], [None, 2], [None, None], "animal 2 is its own sire"),
    ([1, 2], [None, None], [None, 2], "animal 2 is its own dam"),
    ([1, 2, 3], [3, 1, 2], [None, None, None], "cycle"),
    ([1, 2, 3, 4], [None, 4, 2, 3], [None, None, None, None], "2 -> 4 -> 3 -> 2|3 -> 2 -> 4 -> 3"
     "|4 -> 3 -> 2 -> 4"),
    ([1, None], [None, None], [None, None], "missing id"),
    ([1, 2], [None], [None, None], "differ in length"),
])
def test_bad_pedigrees_are_refused(ids, sire, dam, match):
    with pytest.raises(PedigreeError, match=match):
        Pedigree(ids, sire, dam)
    assert issubclass(PedigreeError, TabmixError)


def test_bad_indices_and_shapes_are_refused():
    with pytest.raises(PedigreeError, match="animal 1"):
        Pedigree.from_indices([-1, 1], [-1, -1])
    ped = Pedigree.from_indices([-1, -1, 0], [-1, -1, 1])
    with pytest.raises(PedigreeError, match=r"shape \(3,\)"):
        ped.a_times(np.ones(4))
    with pytest.raises(PedigreeError, match="NaN"):
        ped.ainv_times(np.array([1.0, np.nan, 0.0]))
    with pytest.raises(PedigreeError, match="max_n"):
        ped.dense_a(max_n=2)
    with pytest.raises(PedigreeError, match="'zz'"):
        ped.index_of(["zz"])


def test_deep_pedigree_in_reverse_order():
    # a 300-generation chain given offspring first (ordered by the Kahn fallback)
    n = 300
    ids = list(range(n))[::-1]
    sire = [None if i == 0 else i - 1 for i in ids]
    dam = [None] * n
    ped = Pedigree(ids, sire, dam)
    assert list(ped.ids) == list(range(n))
    np.testing.assert_array_equal(ped.sire, np.arange(n) - 1)
    A = ped.dense_a()
    assert A[0, n - 1] == pytest.approx(0.5 ** (n - 1))


def test_cycle_in_a_large_pedigree_names_the_animals():
    n = 5000
    sire = [None] + [f"a{i - 1}" for i in range(1, n)]
    sire[10] = "a20"  # a10 <- a20 <- ... <- a11 <- a10
    with pytest.raises(PedigreeError, match="'a10' -> 'a20'|'a20' -> 'a19'"):
        Pedigree([f"a{i}" for i in range(n)], sire, [None] * n)
