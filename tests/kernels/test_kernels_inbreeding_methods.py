"""The two inbreeding kernels (sire groups, ancestor tracing) against the tabular method."""

import numpy as np
import pytest

from kinship_sim import simulate_livestock_pedigree, simulate_pedigree, tabular_a
from tabmixr import _kernels

METHODS = ("sires", "ancestors", "auto")


def _check_all_methods(sire, dam):
    A = tabular_a(sire, dam)
    expected = np.diag(A) - 1
    for method in METHODS:
        F, d = _kernels.pedigree_inbreeding(sire, dam, method)
        np.testing.assert_allclose(F, expected, atol=1e-13, err_msg=method)
        # log det A = sum log d (Henderson): d must follow from the same F.
        assert np.sum(np.log(d)) == pytest.approx(np.linalg.slogdet(A)[1], abs=1e-9)
    return expected


@pytest.mark.parametrize("seed,sire_share", [(0, 0.01), (1, 0.05), (2, 0.2), (3, 0.5)])
def test_livestock_pedigrees(seed, sire_share):
    sire, dam = simulate_livestock_pedigree(750, seed, sire_share=sire_share)
    F = _check_all_methods(sire, dam)
    assert F.max() > 0.05  # inbreeding is there to be found


@pytest.mark.parametrize("seed,p_fs", [(0, 0.0), (1, 0.3), (2, 0.6)])
def test_random_mating_with_full_sib_matings(seed, p_fs):
    sire, dam = simulate_pedigree(10, 8, 40, seed, p_full_sib_mating=p_fs)
    _check_all_methods(sire, dam)


def test_selfing_sires_that_are_also_dams_and_unknown_sires():
    # 0,1 founders; 2 = 0 x 1; 3 = 2 selfed; 4 = 3 x 2 (3 sires, 2 dams and sires);
    # 5 has an unknown sire and dam 4; 6 = 4 x 5, whose dam line leaves the sires' ancestry.
    sire = np.array([-1, -1, 0, 2, 3, -1, 4, 6, 3])
    dam = np.array([-1, -1, 1, 2, 2, 4, 5, 5, 7])
    F = _check_all_methods(sire, dam)
    assert F[3] == pytest.approx(0.5)


def test_mates_older_than_their_sire():
    # the sire (index 4) mates his grand-dam (1) and his dam (3): dams older than the sire
    sire = np.array([-1, -1, -1, 0, 2, 4, 4])
    dam = np.array([-1, -1, -1, 1, 3, 1, 3])
    F = _check_all_methods(sire, dam)
    assert F[6] == pytest.approx(0.25) and F[5] == pytest.approx(0.125)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="method must be 'auto', 'ancestors' or 'sires'"):
        _kernels.pedigree_inbreeding(np.array([-1, 0]), np.array([-1, -1]), "tabular")
