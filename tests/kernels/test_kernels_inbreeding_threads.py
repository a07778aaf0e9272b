"""Ancestor tracing by generation: thread counts, renumbering, reordered full sibs."""

import numpy as np
import pytest

from kinship_sim import simulate_pedigree, tabular_a
from tabmixr import _kernels

THREADS = (1, 2, 3, 8)


def _generations(sire, dam):
    generation = np.zeros(len(sire), dtype=np.int64)
    for i in range(len(sire)):
        for p in (sire[i], dam[i]):
            if p >= 0:
                generation[i] = max(generation[i], generation[p] + 1)
    return generation


def _shuffled(sire, dam, seed):
    """The same pedigree listed in another parents-before-offspring order.

    Returns (sire, dam, position): animal i of the input is animal position[i] of the output.
    """
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(sire)), _generations(sire, dam)))  # new -> old
    position = np.empty_like(order)
    position[order] = np.arange(len(order))

    def relabel(parent):
        return np.where(parent[order] >= 0, position[parent[order]], -1)

    return relabel(sire), relabel(dam), position


@pytest.mark.parametrize("seed", [0, 1])
def test_every_thread_count_gives_the_same_f_as_the_tabular_method(seed):
    # 60 animals a generation: several chunks of families per generation, so
    # more than one thread traces at once.
    sire, dam = simulate_pedigree(20, 6, 60, seed, p_full_sib_mating=0.3)
    expected = np.diag(tabular_a(sire, dam)) - 1
    first = None
    for threads in THREADS:
        F, d = _kernels.pedigree_inbreeding(sire, dam, "ancestors", threads)
        np.testing.assert_allclose(F, expected, atol=1e-13, err_msg=f"threads={threads}")
        if first is None:
            first = (F, d)
        else:  # each trace's order is fixed by the pedigree: bit for bit the same
            assert np.array_equal(F, first[0]) and np.array_equal(d, first[1])


def test_threads_agree_on_a_larger_random_mating_pedigree():
    sire, dam = simulate_pedigree(500, 10, 2000, seed=4, p_full_sib_mating=0.05)
    F1, d1 = _kernels.pedigree_inbreeding(sire, dam, "ancestors", 1)
    F4, d4 = _kernels.pedigree_inbreeding(sire, dam, "ancestors", 4)
    F0, _ = _kernels.pedigree_inbreeding(sire, dam, "ancestors")  # automatic count
    assert F1.max() > 0.1
    assert np.array_equal(F1, F4) and np.array_equal(d1, d4) and np.array_equal(F1, F0)
    F_sires, _ = _kernels.pedigree_inbreeding(sire, dam, "sires")
    np.testing.assert_allclose(F1, F_sires, atol=1e-13)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_full_sibs_listed_apart_share_f(seed):
    # Shuffle within generations: full-sib families end up scattered, and the
    # kernel's own renumbering must bring them back together.
    sire, dam = simulate_pedigree(10, 6, 50, seed, p_full_sib_mating=0.4)
    s2, d2, position = _shuffled(sire, dam, seed)
    expected = np.diag(tabular_a(sire, dam)) - 1
    for threads in (1, 4):
        F, d = _kernels.pedigree_inbreeding(s2, d2, "ancestors", threads)
        np.testing.assert_allclose(F[position], expected, atol=1e-13)
        F_ref, d_ref = _kernels.pedigree_inbreeding(sire, dam, "ancestors", threads)
        np.testing.assert_allclose(d[position], d_ref, atol=1e-15)


def test_interleaved_full_sib_families():
    # Founders 0-3; two inbred families (0x1, 2x3) listed alternately, then matings
    # between them and between full sibs (6 x 8 are full sibs of family 0x1).
    sire = np.array([-1, -1, -1, -1, 0, 2, 0, 2, 0, 2, 4, 6, 5, 11, 10])
    dam = np.array([-1, -1, -1, -1, 1, 3, 1, 3, 1, 3, 8, 8, 7, 12, 13])
    expected = np.diag(tabular_a(sire, dam)) - 1
    for threads in (1, 2):
        F, _ = _kernels.pedigree_inbreeding(sire, dam, "ancestors", threads)
        np.testing.assert_allclose(F, expected, atol=1e-14)
    assert expected[10] == pytest.approx(0.25) and expected[11] == pytest.approx(0.25)


def test_deep_pedigree_of_repeated_full_sib_mating():
    # 120 generations of brother x sister mating: one family per generation, F -> 1.
    sire, dam = [-1, -1], [-1, -1]
    for g in range(120):
        a, b = 2 * g, 2 * g + 1
        sire += [a, a]
        dam += [b, b]
    sire, dam = np.array(sire), np.array(dam)
    expected = np.diag(tabular_a(sire, dam)) - 1
    for threads in (1, 3):
        F, d = _kernels.pedigree_inbreeding(sire, dam, "ancestors", threads)
        np.testing.assert_allclose(F, expected, atol=1e-12)
        assert np.all(d > 0)
    assert expected[-1] > 0.99


def test_parents_unknown_or_founders_need_no_trace():
    # 2 x 3 both founders; 4 has one unknown parent; 5 = 4 x 4 selfed.
    sire = np.array([-1, -1, -1, -1, 0, 4, 0])
    dam = np.array([-1, -1, -1, -1, -1, 4, 1])
    F, d = _kernels.pedigree_inbreeding(sire, dam, "ancestors", 2)
    np.testing.assert_allclose(F, np.diag(tabular_a(sire, dam)) - 1, atol=1e-15)
    assert F[5] == pytest.approx(0.5) and F[6] == 0.0 and d[4] == pytest.approx(0.75)


def test_empty_pedigree_and_negative_threads():
    F, d = _kernels.pedigree_inbreeding(np.array([], dtype=np.int64),
                                        np.array([], dtype=np.int64), "ancestors", 2)
    assert F.shape == (0,) and d.shape == (0,)
    with pytest.raises(ValueError, match="threads must be 0"):
        _kernels.pedigree_inbreeding(np.array([-1, 0]), np.array([-1, -1]), "ancestors", -1)
