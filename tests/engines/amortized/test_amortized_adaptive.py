"""Adaptive importance-sampling rounds: exact mixture densities, and they repair a poor proposal."""

import math

import numpy as np
import torch

from tabmixr.engines.amortized import adaptive as A
from tabmixr.engines.amortized import laplace as L
from tabmixr.engines.amortized.importance import psis


def _target(B=2, D=3, seed=0):
    """A skewed target in D dims: log pi = sum_d (k x_d - exp(x_d)) (log-gamma coordinates)."""
    shape = torch.tensor([[0.3, 2.0, 8.0], [1.0, 0.5, 4.0]], dtype=torch.float64)[:B, :D]

    def f(x):
        return (shape * x - torch.exp(x) - torch.lgamma(shape)).sum(-1)

    return f, shape


def test_raw_ess_and_truncation():
    lw = torch.log(torch.tensor([[1.0, 1.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], dtype=torch.float64))
    np.testing.assert_allclose(A.raw_ess(lw).numpy(), [4.0, 1.0])
    w = A.truncated_weights(torch.tensor([[0.0], [0.0], [0.0], [math.log(100.0)]], dtype=torch.float64))
    # raw weights 1, 1, 1, 100: mean 25.75, the last truncated at mean * sqrt(4) = 51.5
    assert abs(float(w.sum()) - 1.0) < 1e-15 and abs(float(w[3, 0]) - 51.5 / 54.5) < 1e-12


def test_rounds_repair_a_narrow_misplaced_proposal():
    """A too-narrow, shifted t: after the rounds the mixture weights are usable and correct."""
    f, shape = _target()
    g = torch.Generator().manual_seed(1)
    active = torch.ones(2, 3, dtype=torch.float64)
    mode = torch.log(shape) + 0.5
    H = -torch.diag_embed(shape * 40.0)                       # 40x the true precision
    scale = L.equilibrating_scale(H, active)
    evals, evecs = L._precision(H, active, scale=scale)
    laplace = (mode, evals, evecs, scale)

    def log_q_first(x):
        return L.t_log_prob(x, mode, evals, evecs, scale=scale)

    phi = L.t_sample(2000, mode, evals, evecs, g, scale=scale)
    log_q, log_pi = log_q_first(phi), f(phi)
    before = [psis(log_pi[:, b] - log_q[:, b]) for b in range(2)]
    phi2, log_q2, log_pi2, rounds = A.adapt(phi, log_q, log_pi, log_q_first, active, laplace, f, g)
    assert rounds >= 1 and phi2.shape[0] == 2000 + rounds * 1000
    # the returned densities are the exact deterministic mixture of the components used
    assert torch.allclose(log_pi2, f(phi2))
    after = [psis(log_pi2[:, b] - log_q2[:, b]) for b in range(2)]
    for b in range(2):
        assert after[b].ess > 4 * before[b].ess and after[b].pareto_k < 0.7
        w = torch.exp(after[b].log_weights)
        mean = (w[:, None] * torch.exp(phi2[:, b])).sum(0)   # E[exp x] = shape under the target
        np.testing.assert_allclose(mean.numpy(), shape[b].numpy(), rtol=0.1)


def test_no_round_when_the_weights_are_fine():
    f, shape = _target()
    g = torch.Generator().manual_seed(2)
    active = torch.ones(2, 3, dtype=torch.float64)
    phi = torch.randn(500, 2, 3, generator=g, dtype=torch.float64)
    log_q = torch.zeros(500, 2, dtype=torch.float64)
    out = A.adapt(phi, log_q, log_q.clone(), None, active, None, f, g)
    assert out[3] == 0 and out[0] is phi
