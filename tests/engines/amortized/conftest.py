"""Shared small simulated batches for the amortized-engine tests (torch on 1 thread)."""

import pytest
import torch

from tabmixr.engines.amortized.simulator import Simulator, SimulatorConfig

torch.set_num_threads(1)

SMALL = SimulatorConfig(groups_range=(2, 12), size_range=(1, 15))


@pytest.fixture(scope="session")
def small_batch():
    """32 small simulated data sets (seed 11)."""
    return Simulator(SMALL, seed=11).sample(32)
