"""A^-1 (A x) = x on a simulated 10^5-animal pedigree (several generations, some inbreeding)."""

import numpy as np

from kinship_sim import simulate_pedigree
from tabmixr.kinship import Pedigree


def test_ainv_undoes_a_on_100k_animals():
    sire, dam = simulate_pedigree(2000, 8, 12250, seed=11, p_full_sib_mating=0.05)
    assert len(sire) == 100_000
    ped = Pedigree.from_indices(sire, dam)
    assert ped.inbreeding.max() > 0.2 and np.mean(ped.inbreeding > 0) > 0.05
    assert np.all(ped.d > 0) and np.isfinite(ped.logdet)
    x = np.random.default_rng(0).normal(size=(ped.n, 2))
    Ax = ped.a_times(x)
    np.testing.assert_allclose(ped.ainv_times(Ax), x, atol=1e-8)
    np.testing.assert_allclose(ped.ainv() @ Ax, x, atol=1e-8)
    np.testing.assert_allclose(ped.a_times(ped.ainv_times(x)), x, atol=1e-8)


def test_sire_groups_agree_with_ancestor_tracing_on_100k_livestock_animals():
    from tabmixr import _kernels
    from kinship_sim import simulate_livestock_pedigree

    sire, dam = simulate_livestock_pedigree(100_000, seed=5, sire_share=0.01)
    F_sires, d_sires = _kernels.pedigree_inbreeding(sire, dam, "sires")
    F_ancestors, d_ancestors = _kernels.pedigree_inbreeding(sire, dam, "ancestors")
    assert F_sires.max() > 0.1
    np.testing.assert_allclose(F_sires, F_ancestors, atol=1e-13)
    np.testing.assert_allclose(d_sires, d_ancestors, atol=1e-13)
    ped = Pedigree.from_indices(sire, dam)
    x = np.random.default_rng(1).normal(size=ped.n)
    np.testing.assert_allclose(ped.ainv() @ ped.a_times(x), x, atol=1e-8)
