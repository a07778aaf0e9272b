"""A defensive importance-sampling proposal: the flow mixed with a Laplace-t component.

Importance sampling corrects any proposal exactly in the limit, but with a
finite number of draws it needs a proposal that covers the posterior.  A
flow trained for a limited time is sharp in the right region for most data
sets and off by a few posterior SDs for others (large data sets have very
narrow posteriors).  So the proposal is the equal mixture::

    q(phi) = 1/2 q_flow(phi) + 1/2 t_nu(phi; mode, (-H)^-1)

where ``mode`` maximizes the exact log posterior density in the flow's
coordinates ``log pi(phi)`` (``importance.py``: likelihood with the random
effects integrated out, prior, every Jacobian), found by damped Newton
steps started from the best of the first 64 flow draws, ``H`` is its Hessian there (forward
differences of autograd gradients, all directions in one batched pass; its
eigenvalues floored so the scale stays proper), and ``t_nu`` a multivariate
Student-t with ``nu = 5`` on the active coordinates.  Half the draws come
from each component (stratified), and every draw is weighted by
``pi / q`` with the mixture density (the balance heuristic of multiple
importance sampling: unbiased for stratified draws too).  Where the Newton
search fails the Laplace component is moment-matched to the flow's draws.
"""

from __future__ import annotations

import math

import torch

from tabmixr.engines.amortized.importance import log_posterior
from tabmixr.engines.amortized.likelihood import GroupStats, group_stats
from tabmixr.engines.amortized.networks.model import AmortizedModel
from tabmixr.engines.amortized.parameters import phi_mask, phi_to_params
from tabmixr.engines.amortized.posterior import PosteriorDraws
from tabmixr.engines.amortized.sampling import standard_gamma
from tabmixr.engines.amortized.simulator import Batch, Prior
from tabmixr.engines.amortized.standardize import (Standardization, fit_standardization,
                                                   params_to_original, standardize_batch)

#: Degrees of freedom of the Laplace component.
T_DF = 5.0
#: Floor of the eigenvalues of the negative Hessian (precision in phi units).
MIN_PRECISION = 1e-2
#: Newton iterations, largest move per eigen-direction (phi units), finite-difference step.
NEWTON_STEPS = 10
TRUST = 1.0
FD_STEP = 1e-4
_LINE = (1.0, 0.5, 0.25, 0.1, 0.03, 0.0)
_INACTIVE = -1e6
#: Flow draws whose best (highest log density) starts the Newton search.
START_DRAWS = 64
#: Newton stops when no data set's log density rises by more than this.
TOLERANCE = 1e-6


def log_target(phi: torch.Tensor, batch: Batch, st: Standardization, stats: GroupStats,
               prior: Prior) -> torch.Tensor:
    """``log pi(phi)`` up to a constant, ``phi (..., B, D)`` -> ``(..., B)`` (non-finite -> -inf)."""
    params_std, jac1 = phi_to_params(phi, batch.fixed_mask, batch.re_mask)
    params, jac2 = params_to_original(params_std, st)
    out = log_posterior(params, jac1 + jac2, stats, prior, st.fixed_mask, st.re_mask)
    return torch.where(torch.isfinite(out), out, torch.full_like(out, -math.inf))


def _gradient_and_hessian(f, phi: torch.Tensor, active: torch.Tensor | None = None):
    """Gradient ``(B, D)`` and symmetric Hessian ``(B, D, D)`` of ``f`` at ``phi (B, D)``.

    Forward differences of autograd gradients (one batched pass over the
    ``k + 1`` points); only coordinates active in some data set are perturbed
    (the others' rows and columns of ``H`` are 0).
    """
    B, D = phi.shape
    dims = torch.arange(D) if active is None else active.bool().any(0).nonzero()[:, 0]
    k = dims.numel()
    E = torch.zeros(k, D, dtype=phi.dtype)
    E[torch.arange(k), dims] = FD_STEP
    pts = torch.cat([phi[None], phi[None] + E[:, None, :]]).detach()
    pts.requires_grad_(True)
    with torch.enable_grad():
        val = f(pts)
        grad = torch.autograd.grad(torch.where(torch.isfinite(val), val, 0 * val).sum(), pts)[0]
    H = torch.zeros(B, D, D, dtype=phi.dtype)
    H[:, :, dims] = ((grad[1:] - grad[:1]) / FD_STEP).permute(1, 2, 0)
    return grad[0], 0.5 * (H + H.transpose(1, 2)), val[0].detach()


def _precision(H: torch.Tensor, active: torch.Tensor, absolute: bool = False):
    """Eigen-decomposition of ``-H`` on the active block, eigenvalues floored.

    With ``absolute`` the eigenvalues are taken in absolute value first
    (saddle-free Newton: a direction of positive curvature is climbed, not
    descended).  Inactive coordinates get eigenvalue ``inf`` (no movement,
    no density).
    """
    a = active.to(H.dtype)
    # the inactive block is decoupled; a moderate marker value keeps eigh accurate on the active one
    P = -H * a[:, :, None] * a[:, None, :] + torch.diag_embed(_INACTIVE * (1 - a))
    P = torch.where(torch.isfinite(P), P, torch.zeros_like(P))
    evals, evecs = torch.linalg.eigh(P)
    live = (evecs ** 2 * (1 - a)[:, :, None]).sum(1) < 0.5
    if absolute:
        evals = evals.abs()
    evals = torch.where(live, evals.clamp(min=MIN_PRECISION), torch.full_like(evals, math.inf))
    return evals, evecs


def find_mode(f, phi0: torch.Tensor, active: torch.Tensor):
    """Damped Newton ascent of ``f`` from ``phi0 (B, D)`` (active coordinates only).

    Returns:
        ``(mode, evals, evecs, ok)``: the mode, the floored eigen-decomposition
        of ``-H`` there and a ``(B,)`` flag of finite results.
    """
    phi = phi0.clone()
    alphas = torch.tensor(_LINE, dtype=phi.dtype)
    for _ in range(NEWTON_STEPS):
        g, H, _ = _gradient_and_hessian(f, phi, active)
        evals, evecs = _precision(H, active, absolute=True)
        g = torch.where(torch.isfinite(g), g, torch.zeros_like(g)) * active
        coef = torch.einsum("bdk,bd->bk", evecs, g) / evals
        coef = torch.where(torch.isfinite(coef), coef, 0 * coef).clamp(-TRUST, TRUST)
        step = torch.einsum("bdk,bk->bd", evecs, coef)
        cand = phi[None] + alphas[:, None, None] * step[None]
        with torch.no_grad():
            fc = f(cand)
        best = torch.argmax(fc, 0)
        phi = cand[best, torch.arange(phi.shape[0])]
        gain = fc[best, torch.arange(phi.shape[0])] - fc[-1]          # last alpha is 0: the old point
        if bool((torch.nan_to_num(gain, nan=0.0, posinf=1.0) < TOLERANCE).all()):
            break
    g, H, val = _gradient_and_hessian(f, phi, active)
    evals, evecs = _precision(H, active)
    ok = torch.isfinite(val) & torch.isfinite(phi).all(-1) & ~torch.isnan(evals).any(-1)
    return phi, evals, evecs, ok


def _moment_match(phi: torch.Tensor, active: torch.Tensor):
    """Mean and floored precision eigen-decomposition of draws ``phi (S, B, D)``."""
    mean = phi.mean(0)
    dev = (phi - mean) * active
    cov = torch.einsum("sbd,sbe->bde", dev, dev) / max(phi.shape[0] - 1, 1)
    cov = cov + 1e-6 * torch.eye(phi.shape[-1], dtype=phi.dtype)
    return mean, *_precision(-torch.linalg.inv(cov), active)


def t_log_prob(x: torch.Tensor, mean, evals, evecs, df: float = T_DF) -> torch.Tensor:
    """Multivariate Student-t log density over the live eigen-directions, ``x (..., B, D)``."""
    live = torch.isfinite(evals)
    d = live.sum(-1).to(x.dtype)
    u = torch.einsum("bdk,...bd->...bk", evecs, x - mean)
    lam = torch.where(live, evals, torch.zeros_like(evals))
    delta = (lam * u * u).sum(-1)
    logdet_prec = torch.where(live, torch.log(lam.clamp(min=1e-300)), torch.zeros_like(lam)).sum(-1)
    return (torch.lgamma((df + d) / 2) - math.lgamma(df / 2) - d / 2 * math.log(df * math.pi)
            + 0.5 * logdet_prec - (df + d) / 2 * torch.log1p(delta / df))


def t_sample(n: int, mean, evals, evecs, g: torch.Generator, df: float = T_DF) -> torch.Tensor:
    """``n`` draws ``(n, B, D)`` of the multivariate t (no movement in dead directions)."""
    B, D = mean.shape
    z = torch.randn(n, B, D, generator=g, dtype=mean.dtype)
    chi2 = 2.0 * standard_gamma(torch.full((n, B, 1), df / 2, dtype=mean.dtype), g)
    scale = torch.where(torch.isfinite(evals), 1 / torch.sqrt(evals), torch.zeros_like(evals))
    u = z * scale / torch.sqrt(chi2 / df)
    return mean + torch.einsum("bdk,nbk->nbd", evecs, u)


def sample_mixture_posterior(model: AmortizedModel, batch: Batch, n_draws: int,
                             generator: torch.Generator) -> PosteriorDraws:
    """Draws from the defensive mixture proposal, with ``log q`` of the mixture (module docstring).

    Args:
        model: The amortized model.
        batch: Data on its own scale.
        n_draws: Total draws per data set (half from each component).
        generator: Source of randomness.

    Returns:
        ``PosteriorDraws`` without random effects (``b = None``).
    """
    st = fit_standardization(batch)
    std = standardize_batch(batch, st)
    stats = group_stats(batch)
    active = phi_mask(batch.fixed_mask, batch.re_mask).to(torch.float64)
    with torch.no_grad():
        q = model(std, st)
        n_flow = n_draws // 2
        phi_f, log_flow_f = q.sample_and_log_prob((n_flow,), generator)
        phi_f = phi_f.to(torch.float64) * active + 0.0

    def f(phi):
        return log_target(phi, batch, st, stats, batch.prior)

    with torch.no_grad():                     # start at the best of a few flow draws
        few = phi_f[:START_DRAWS]
        start = few[torch.argmax(f(few), 0), torch.arange(phi_f.shape[1])]
    mode, evals, evecs, ok = find_mode(f, start, active)
    if not bool(ok.all()):
        mm_mean, mm_evals, mm_evecs = _moment_match(phi_f, active)
        mode = torch.where(ok[:, None], mode, mm_mean)
        evals = torch.where(ok[:, None], evals, mm_evals)
        evecs = torch.where(ok[:, None, None], evecs, mm_evecs)
    phi_t = t_sample(n_draws - n_flow, mode, evals, evecs, generator)
    phi = torch.cat([phi_f, phi_t]) * active
    with torch.no_grad():
        log_flow = torch.cat([log_flow_f, q.log_prob(phi_t.to(model.dtype))]).to(torch.float64)
    log_t = t_log_prob(phi, mode, evals, evecs)
    log_q = torch.logaddexp(log_flow, log_t) - math.log(2)
    params_std, jac1 = phi_to_params(phi, batch.fixed_mask, batch.re_mask)
    params, jac2 = params_to_original(params_std, st)
    return PosteriorDraws(phi=phi, log_q=log_q, params_std=params_std, params=params,
                          log_jac=jac1 + jac2, b=None, standardization=st, stats=stats)


__all__ = ["log_target", "find_mode", "t_log_prob", "t_sample", "sample_mixture_posterior"]
