"""Posterior draws: global parameters from the flow, random effects exactly.

1. Standardize the data (``standardize.py``), run the networks, draw
   ``phi ~ q(phi | data, prior)`` with ``log q(phi)``.
2. Map ``phi -> theta'`` (standardized) ``-> theta`` (data scale), keeping
   both log-Jacobians for importance sampling.
3. For every global draw, draw each group's random effects from their exact
   Gaussian conditional ``b_g | y, theta ~ N(L M^-1 c, L M^-1 L^T)`` with
   ``M = I + L^T Z^T Z L / sigma^2``, ``c = L^T Z^T (y - X beta) / sigma^2``
   (``likelihood.whitened_system``; ``L`` the covariance's Cholesky factor,
   so a zero SD gives zero effects).  No network is involved in this step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tabmixr.engines.amortized.likelihood import (GroupStats, centered_group_stats, solve_lower_small,
                                                  solve_upper_small, whitened_system)
from tabmixr.engines.amortized.networks.model import AmortizedModel
from tabmixr.engines.amortized.parameters import GlobalParams, phi_to_params
from tabmixr.engines.amortized.simulator import Batch
from tabmixr.engines.amortized.standardize import (Standardization, fit_standardization,
                                                   params_to_original, standardize_batch)


@dataclass
class PosteriorDraws:
    """Draws for ``B`` data sets (leading shape ``(S, B)``).

    Attributes:
        phi: Flow coordinates ``(S, B, D)`` (float64).
        log_q: ``log q(phi)`` ``(S, B)``.
        params_std: Standardized parameters.
        params: Data-scale parameters.
        log_jac: ``log|d theta / d phi|`` ``(S, B)`` (both maps).
        b: Random effects ``(S, B, G, Q_MAX)`` on the data scale, or ``None``.
        standardization: The batch's ``Standardization``.
        stats: Data-scale ``GroupStats`` of the batch.
        rounds: Adaptive importance-sampling rounds added (``adaptive.py``).
        log_target: ``log pi(phi)`` ``(S, B)`` when the sampler already evaluated
            it, under ``target_prior`` (``importance.log_weights`` reuses it).
        target_prior: The prior of ``log_target``.
    """

    phi: torch.Tensor
    log_q: torch.Tensor
    params_std: GlobalParams
    params: GlobalParams
    log_jac: torch.Tensor
    b: torch.Tensor | None
    standardization: Standardization
    stats: GroupStats
    rounds: int = 0
    log_target: torch.Tensor | None = None
    target_prior: object | None = None


def sample_effects(params: GlobalParams, stats: GroupStats, generator: torch.Generator,
                   index: torch.Tensor | None = None) -> torch.Tensor:
    """One draw of every group's random effects per global draw (module docstring).

    Args:
        params: Data-scale parameters ``(S, B)``.
        stats: Data-scale cross-products ``(B, G, ...)``.
        generator: Source of randomness.
        index: Optional ``(n,)`` indices into the ``S`` draws (repeats
            allowed, as after resampling): one independent effect draw per
            entry, the conditional system solved once per distinct draw.

    Returns:
        ``(S or n, B, G, Q_MAX)`` effects, zero in padded groups and inactive slots.
    """
    C, c, _, L = whitened_system(params, stats)
    if index is not None:
        C, c, L = C[index], c[index], L[index]
    mean_u = solve_upper_small(C, solve_lower_small(C, c))
    eps = torch.randn(mean_u.shape, generator=generator, dtype=mean_u.dtype)
    u = mean_u + solve_upper_small(C, eps)
    b = torch.einsum("...ij,...j->...i", L, u)
    return torch.where(stats.group_mask[..., None], b, torch.zeros_like(b))


def effects_moments(params: GlobalParams, stats: GroupStats):
    """Conditional mean ``(S, B, G, Q)`` and covariance ``(S, B, G, Q, Q)`` of the effects."""
    C, c, _, L = whitened_system(params, stats)
    mean = (L @ torch.cholesky_solve(c[..., None], C))[..., 0]
    Minv = torch.cholesky_inverse(C)
    return mean, L @ Minv @ L.transpose(-1, -2)


def sample_posterior(model: AmortizedModel, batch: Batch, n_draws: int,
                     generator: torch.Generator, with_effects: bool = True) -> PosteriorDraws:
    """Global draws from the flow and random effects from their conditional.

    Args:
        model: Trained (or any) ``AmortizedModel``.
        batch: Data on its own scale (``realdata.batch_from_design`` or the simulator).
        n_draws: Draws ``S`` per data set.
        generator: Source of randomness (seeded: same draws).
        with_effects: Also draw the random effects.

    Returns:
        ``PosteriorDraws``.
    """
    st = fit_standardization(batch)
    batch_std = standardize_batch(batch, st)
    with torch.no_grad():
        q = model(batch_std, st)
        phi, log_q = q.sample_and_log_prob((n_draws,), generator)
    phi, log_q = phi.to(torch.float64), log_q.to(torch.float64)
    params_std, jac1 = phi_to_params(phi, batch.fixed_mask, batch.re_mask)
    params, jac2 = params_to_original(params_std, st)
    stats = centered_group_stats(batch)
    b = sample_effects(params, stats, generator) if with_effects else None
    return PosteriorDraws(phi=phi, log_q=log_q, params_std=params_std, params=params,
                          log_jac=jac1 + jac2, b=b, standardization=st, stats=stats)
