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
from tabmixr.engines.amortized.likelihood import GroupStats, centered_group_stats
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
#: Newton iterations (at most; a far start needs many, the search stops once no data set
#: gains), largest move per eigen-direction per unit step (phi units), finite-difference step.
#: The line search also tries 2 and 4 times the step, so a start far from the mode (a flow
#: that is off by many posterior SDs) closes in fast.
NEWTON_STEPS = 40
TRUST = 1.0
FD_STEP = 1e-4
_LINE = (4.0, 2.0, 1.0, 0.5, 0.25, 0.1, 0.03, 0.0)
_INACTIVE = -1e6
#: Flow draws whose best (highest log density) starts the Newton search.
START_DRAWS = 64
#: Newton stops when no data set's log density rises by more than this (the mode is
#: then within about 0.05 posterior SDs: plenty for a proposal's location).
TOLERANCE = 1e-3
#: The line search's points get their Hessians in the same pass while the batch's
#: points (data sets x line points x (active coordinates + 1)) are at most this many.
MERGED_POINTS = 4096


def log_target(phi: torch.Tensor, batch: Batch, st: Standardization, stats: GroupStats,
               prior: Prior) -> torch.Tensor:
    """``log pi(phi)`` up to a constant, ``phi (..., B, D)`` -> ``(..., B)`` (non-finite -> -inf)."""
    params_std, jac1 = phi_to_params(phi, batch.fixed_mask, batch.re_mask)
    params, jac2 = params_to_original(params_std, st)
    out = log_posterior(params, jac1 + jac2, stats, prior, st.fixed_mask, st.re_mask)
    return torch.where(torch.isfinite(out), out, torch.full_like(out, -math.inf))


def _gradient_and_hessian(f, phi: torch.Tensor, active: torch.Tensor | None = None,
                          scale: torch.Tensor | None = None):
    """Gradient ``(..., B, D)``, symmetric Hessian ``(..., B, D, D)`` and value ``(..., B)`` of ``f``.

    At ``phi (..., B, D)`` (any leading shape: several points per data set
    in one pass).  Forward differences of autograd gradients (one batched
    pass over the ``k + 1`` points around each); only coordinates active in
    some data set are perturbed (the others' rows and columns of ``H`` are
    0).  Coordinate ``d`` of data set ``b`` moves by ``FD_STEP * scale[b, d]``
    (``scale``: the posterior's conditional SDs from the last Hessian, so
    steps are small against the posterior's own width in every direction,
    however ill-conditioned).
    """
    B, D = phi.shape[-2:]
    lead = phi.shape[:-2]
    dims = torch.arange(D) if active is None else active.bool().any(0).nonzero()[:, 0]
    k = dims.numel()
    h = FD_STEP * (torch.ones(B, D, dtype=phi.dtype) if scale is None else scale)[:, dims]   # (B, k)
    E = torch.zeros(k, B, D, dtype=phi.dtype)
    E[torch.arange(k), :, dims] = h.T
    E = E.reshape(k, *([1] * len(lead)), B, D)
    pts = torch.cat([phi[None], phi[None] + E]).detach()
    pts.requires_grad_(True)
    with torch.enable_grad():
        val = f(pts)
        grad = torch.autograd.grad(torch.where(torch.isfinite(val), val, 0 * val).sum(), pts)[0]
    H = torch.zeros(*lead, B, D, D, dtype=phi.dtype)
    diff = (grad[1:] - grad[:1]) / h.T.reshape(k, *([1] * len(lead)), B, 1)     # (k, ..., B, D)
    H[..., dims] = torch.movedim(diff, 0, -1)
    return grad[0], 0.5 * (H + H.transpose(-1, -2)), val[0].detach()


def equilibrating_scale(H: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """``1 / sqrt(|H_dd|)`` on active coordinates (floored like the precision), 1 elsewhere.

    Eigen-decomposing ``S (-H) S`` instead of ``-H`` (Jacobi equilibration)
    keeps the directions of a posterior whose widths span many orders of
    magnitude (a residual SD known to 0.01 %, a correlation known to 50 %)
    accurate: unscaled, the eigenvectors of the small eigenvalues pick up
    the stiff directions and the proposal is far too wide along them.
    """
    d = torch.diagonal(H, dim1=-2, dim2=-1).abs()
    d = torch.where(torch.isfinite(d), d, torch.ones_like(d)).clamp(min=MIN_PRECISION)
    return torch.where(active > 0, 1 / torch.sqrt(d), torch.ones_like(d))


def _precision(H: torch.Tensor, active: torch.Tensor, absolute: bool = False,
               scale: torch.Tensor | None = None):
    """Eigen-decomposition of ``-S H S`` on the active block, eigenvalues floored.

    ``S = diag(scale)`` (default identity) equilibrates the matrix
    (``equilibrating_scale``).  The floor is ``MIN_PRECISION`` in phi units
    along each eigenvector (``MIN_PRECISION |S u_k|^2`` in the scaled
    coordinates), so a flat direction gets a variance of at most
    ``1 / MIN_PRECISION``.  With ``absolute`` the eigenvalues are taken
    in absolute value first (saddle-free Newton: a direction of positive
    curvature is climbed, not descended).  Inactive coordinates get
    eigenvalue ``inf`` (no movement, no density).
    """
    a = active.to(H.dtype)
    if scale is not None:
        H = scale[:, :, None] * H * scale[:, None, :]
    # the inactive block is decoupled; a moderate marker value keeps eigh accurate on the active one
    P = -H * a[:, :, None] * a[:, None, :] + torch.diag_embed(_INACTIVE * (1 - a))
    P = torch.where(torch.isfinite(P), P, torch.zeros_like(P))
    evals, evecs = torch.linalg.eigh(P)
    live = (evecs ** 2 * (1 - a)[:, :, None]).sum(1) < 0.5
    if absolute:
        evals = evals.abs()
    # floor the precision along every direction in phi units: variance <= 1 / MIN_PRECISION
    floor = MIN_PRECISION if scale is None else \
        MIN_PRECISION * ((scale[:, :, None] * evecs) ** 2 * a[:, :, None]).sum(1)
    evals = torch.where(live, torch.maximum(evals, torch.as_tensor(floor, dtype=evals.dtype)),
                        torch.full_like(evals, math.inf))
    return evals, evecs


def find_mode(f, phi0: torch.Tensor, active: torch.Tensor):
    """Damped, equilibrated, saddle-free Newton ascent of ``f`` from ``phi0 (B, D)``.

    Each iteration steps along the saddle-free Newton direction and picks
    the best of the line search's points (``_LINE``).  When the batch is
    small (a fit: per-pass overhead, not arithmetic, is the cost), the line
    search's points get their gradients and Hessians in the same pass, so an
    iteration is one pass of ``f``; otherwise the Hessian at the chosen point
    is a second pass.

    Returns:
        ``(mode, evals, evecs, scale, ok)``: the mode, the floored
        eigen-decomposition of ``-S H S`` there with its ``scale`` (``S``),
        and a ``(B,)`` flag of finite results.
    """
    phi = phi0.clone()
    alphas = torch.tensor(_LINE, dtype=phi.dtype)
    rows = torch.arange(phi.shape[0])
    k = int(active.bool().any(0).sum())
    merged = phi.shape[0] * len(_LINE) * (k + 1) <= MERGED_POINTS
    g, H, val = _gradient_and_hessian(f, phi, active)
    scale = None
    for _ in range(NEWTON_STEPS):
        scale = equilibrating_scale(H, active)
        evals, evecs = _precision(H, active, absolute=True, scale=scale)
        g = torch.where(torch.isfinite(g), g, torch.zeros_like(g)) * active
        coef = torch.einsum("bdk,bd->bk", evecs, scale * g) / evals
        reach = (scale[:, :, None] * evecs).abs().amax(1)          # largest phi move per unit coef
        bound = TRUST / reach.clamp(min=1e-300)
        coef = torch.where(torch.isfinite(coef), coef, 0 * coef)
        coef = torch.maximum(torch.minimum(coef, bound), -bound)
        step = scale * torch.einsum("bdk,bk->bd", evecs, coef)
        cand = phi[None] + alphas[:, None, None] * step[None]
        if merged:
            gc, Hc, fc = _gradient_and_hessian(f, cand, active, scale)
        else:
            with torch.no_grad():
                fc = f(cand)
        best = torch.argmax(fc, 0)
        phi = cand[best, rows]
        gain = fc[best, rows] - fc[-1]          # last alpha is 0: the old point
        if merged:
            g, H, val = gc[best, rows], Hc[best, rows], fc[best, rows]
        else:
            g, H, val = _gradient_and_hessian(f, phi, active, scale)
        if bool((torch.nan_to_num(gain, nan=0.0, posinf=1.0) < TOLERANCE).all()):
            break
    scale = equilibrating_scale(H, active)
    evals, evecs = _precision(H, active, scale=scale)
    ok = torch.isfinite(val) & torch.isfinite(phi).all(-1) & ~torch.isnan(evals).any(-1)
    return phi, evals, evecs, scale, ok


def precision_from_covariance(cov: torch.Tensor, active: torch.Tensor):
    """``(evals, evecs, scale)`` of the precision ``cov^-1`` on the active block, equilibrated.

    ``scale = sqrt(diag cov)``; the eigen-decomposition is that of the
    inverse correlation matrix (floored like ``_precision``).
    """
    a = active.to(cov.dtype)
    sd = torch.sqrt(torch.diagonal(cov, dim1=-2, dim2=-1).clamp(min=1e-300))
    scale = torch.where(a > 0, sd, torch.ones_like(sd))
    corr = cov / (scale[:, :, None] * scale[:, None, :]) * a[:, :, None] * a[:, None, :] \
        + torch.diag_embed(1 - a)
    corr = corr + 1e-9 * torch.eye(cov.shape[-1], dtype=cov.dtype)
    evals, evecs = _precision(-torch.linalg.inv(corr), active)
    return evals, evecs, scale


def component_covariance(evals, evecs, scale) -> torch.Tensor:
    """The covariance ``S U diag(1 / evals) U^T S`` of a component (0 in dead directions)."""
    inv = torch.where(torch.isfinite(evals), 1 / evals, torch.zeros_like(evals))
    return scale[:, :, None] * torch.einsum("bdk,bk,bek->bde", evecs, inv, evecs) * scale[:, None, :]


def _moment_match(phi: torch.Tensor, active: torch.Tensor):
    """Mean and floored, equilibrated precision ``(mean, evals, evecs, scale)`` of draws ``phi (S, B, D)``."""
    mean = phi.mean(0)
    dev = (phi - mean) * active
    cov = torch.einsum("sbd,sbe->bde", dev, dev) / max(phi.shape[0] - 1, 1)
    cov = cov + 1e-6 * torch.eye(phi.shape[-1], dtype=phi.dtype)
    return (mean, *precision_from_covariance(cov, active))


def t_log_prob(x: torch.Tensor, mean, evals, evecs, df: float = T_DF, scale=None) -> torch.Tensor:
    """Multivariate Student-t log density over the live eigen-directions, ``x (..., B, D)``.

    The precision is ``S^-1 U diag(evals) U^T S^-1`` with ``S = diag(scale)``
    (identity by default).
    """
    live = torch.isfinite(evals)
    d = live.sum(-1).to(x.dtype)
    z = x - mean
    log_scale = 0.0
    if scale is not None:
        z = z / scale
        log_scale = torch.log(scale).sum(-1)
    u = torch.einsum("bdk,...bd->...bk", evecs, z)
    lam = torch.where(live, evals, torch.zeros_like(evals))
    delta = (lam * u * u).sum(-1)
    logdet_prec = torch.where(live, torch.log(lam.clamp(min=1e-300)), torch.zeros_like(lam)).sum(-1)
    return (torch.lgamma((df + d) / 2) - math.lgamma(df / 2) - d / 2 * math.log(df * math.pi)
            + 0.5 * logdet_prec - log_scale - (df + d) / 2 * torch.log1p(delta / df))


def t_sample(n: int, mean, evals, evecs, g: torch.Generator, df: float = T_DF,
             scale=None) -> torch.Tensor:
    """``n`` draws ``(n, B, D)`` of the multivariate t (no movement in dead directions)."""
    B, D = mean.shape
    z = torch.randn(n, B, D, generator=g, dtype=mean.dtype)
    chi2 = 2.0 * standard_gamma(torch.full((n, B, 1), df / 2, dtype=mean.dtype), g)
    sd = torch.where(torch.isfinite(evals), 1 / torch.sqrt(evals), torch.zeros_like(evals))
    u = z * sd / torch.sqrt(chi2 / df)
    x = torch.einsum("bdk,nbk->nbd", evecs, u)
    return mean + (x if scale is None else scale * x)


def sample_mixture_posterior(model: AmortizedModel, batch: Batch, n_draws: int,
                             generator: torch.Generator, adaptive: bool = True) -> PosteriorDraws:
    """Draws from the defensive mixture proposal, with ``log q`` of the mixture (module docstring).

    Args:
        model: The amortized model.
        batch: Data on its own scale.
        n_draws: Total draws per data set (half from each component).
        generator: Source of randomness.
        adaptive: Add adaptive rounds where the weights degenerate
            (``adaptive.py``; then there are more than ``n_draws`` draws).

    Returns:
        ``PosteriorDraws`` without random effects (``b = None``).
    """
    st = fit_standardization(batch)
    std = standardize_batch(batch, st)
    stats = centered_group_stats(batch)
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
    mode, evals, evecs, scale, ok = find_mode(f, start, active)
    if not bool(ok.all()):
        mm_mean, mm_evals, mm_evecs, mm_scale = _moment_match(phi_f, active)
        mode = torch.where(ok[:, None], mode, mm_mean)
        evals = torch.where(ok[:, None], evals, mm_evals)
        evecs = torch.where(ok[:, None, None], evecs, mm_evecs)
        scale = torch.where(ok[:, None], scale, mm_scale)
    laplace = (mode, evals, evecs, scale)
    phi_t = t_sample(n_draws - n_flow, mode, evals, evecs, generator, scale=scale)
    phi = torch.cat([phi_f, phi_t]) * active

    def log_q_first(x):
        """Density of the flow + Laplace-t mixture at ``x (n, B, D)``."""
        with torch.no_grad():
            log_flow = q.log_prob(x.to(model.dtype)).to(torch.float64)
        return torch.logaddexp(log_flow, t_log_prob(x, mode, evals, evecs, scale=scale)) - math.log(2)

    log_t_f = t_log_prob(phi_f, mode, evals, evecs, scale=scale)
    log_q = torch.cat([torch.logaddexp(log_flow_f.to(torch.float64), log_t_f) - math.log(2),
                       log_q_first(phi_t * active)])
    with torch.no_grad():
        log_pi = f(phi)
    rounds = 0
    if adaptive:
        from tabmixr.engines.amortized.adaptive import adapt
        phi, log_q, log_pi, rounds = adapt(phi, log_q, log_pi, log_q_first, active, laplace, f, generator)
    params_std, jac1 = phi_to_params(phi, batch.fixed_mask, batch.re_mask)
    params, jac2 = params_to_original(params_std, st)
    return PosteriorDraws(phi=phi, log_q=log_q, params_std=params_std, params=params,
                          log_jac=jac1 + jac2, b=None, standardization=st, stats=stats,
                          rounds=rounds, log_target=log_pi, target_prior=batch.prior)


__all__ = ["log_target", "find_mode", "t_log_prob", "t_sample", "sample_mixture_posterior",
           "equilibrating_scale", "precision_from_covariance", "component_covariance"]
