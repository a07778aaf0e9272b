"""The neural engine with a kin() prior approaches the exact ML fit (the ELBO optimum is ML)."""

import pytest
import torch

from kinship_animal_sim import simulate_animal_model
from tabmixr import tabmix

FORMULA = "y ~ sex + kin(1 | animal, pedigree = ped)"


@pytest.fixture
def one_thread():
    """Dense torch work on a shared machine runs far faster on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_vi_kin_additive_variance_matches_exact_ml(one_thread):
    """220-animal pedigree (40 founders without records), 180 records, h2 = 0.4."""
    sim = simulate_animal_model(40, 3, 60, h2=0.4, seed=0)
    exact = tabmix(FORMULA, sim.data, method="ml", relmat={"ped": sim.pedigree})
    vi = tabmix(FORMULA, sim.data, method="vi", relmat={"ped": sim.pedigree}, seed=1)
    assert vi.terms[0].cov[0, 0] == pytest.approx(exact.terms[0].cov[0, 0], rel=0.02)
    assert vi.sigma ** 2 == pytest.approx(exact.sigma ** 2, rel=0.02)
    assert vi.terms[0].levels == exact.terms[0].levels
    corr = torch.corrcoef(torch.stack([torch.as_tensor(vi.terms[0].b[:, 0]),
                                       torch.as_tensor(exact.terms[0].b[:, 0])]))[0, 1]
    assert float(corr) > 0.99
