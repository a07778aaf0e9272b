"""Weighted, Rao-Blackwellized posterior summaries of an importance-sampled fit.

Given the variance parameters ``theta = (Sigma, sigma)``, the fixed effects
have an exact Gaussian conditional: the likelihood with the random effects
integrated out is Gaussian in ``beta`` and the prior is normal, so::

    beta | y, theta ~ N(m(theta), P(theta)^-1)
    P = X^T V^-1 X + T^-1,   m = P^-1 (X^T V^-1 y + T^-1 nu)

with ``V = blockdiag(Z_g Sigma Z_g^T + sigma^2 I)`` and the prior
``N(nu, T)``, ``T = diag(tau^2)``.  Per group, with ``L L^T = Sigma``,
``M_g = I + L^T Z_g^T Z_g L / sigma^2 = C_g C_g^T`` (``likelihood.py``)::

    X^T V_g^-1 X = X^T X / sigma^2 - W_g^T W_g,   W_g = C_g^-1 L^T Z_g^T X / sigma^2
    X^T V_g^-1 r = X^T r / sigma^2 - W_g^T C_g^-1 L^T Z_g^T r / sigma^2

(``r = y - X beta0``: the centred cross-products, ``m = beta0 + P^-1 (...)``).
So ``E[beta | y] = E[m(theta) | y]`` is estimated by ``sum_s w_s m(theta_s)``
over the weighted draws (the Rao-Blackwell estimator: it removes the
within-``theta`` spread of ``beta`` from the Monte Carlo error), the
posterior variance by ``sum_s w_s (P_s^-1 + m_s m_s^T) - E E^T``, and the
quantiles from the Gaussian mixture ``sum_s w_s N(m_s, P_s^-1)``.  The other
parameters are summarized by the weighted draws themselves (weighted means
and quantiles), not by a resample, which would add its own noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.special import ndtr, ndtri

from tabmixr.engines.amortized.likelihood import (GroupStats, cholesky_small, index_stats,
                                                  solve_lower_small, trimmed)
from tabmixr.engines.amortized.parameters import GlobalParams
from tabmixr.engines.amortized.simulator import Prior

#: Draws handled at once are cut so that the per-group intermediates hold about this
#: many numbers (memory: a calibration batch of 32 sets x 160 groups x 2000 draws).
CHUNK_ELEMENTS = 2_000_000
#: Newton iterations of the mixture quantile (bracketed; each halves at worst).
QUANTILE_STEPS = 40
#: Draws whose normalized weight is below this share of the largest are left out of
#: the mixture quantile (they cannot move it by more than their total weight).
NEGLIGIBLE_WEIGHT = 1e-10


def fixed_effects_conditional(params: GlobalParams, stats: GroupStats, prior: Prior,
                              fixed_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of ``beta | y, theta`` for every draw (module docstring).

    Args:
        params: Data-scale parameters, leading shape ``(..., B)`` (only
            ``sd``, ``L_corr`` and ``sigma`` are read).
        stats: Cross-products of the ``B`` data sets (``centered_group_stats``
            or plain ``group_stats``).
        prior: Data-scale prior (``nu``, ``tau`` read), batch shape ``(B,)``.
        fixed_mask: ``(B, P_MAX)`` active fixed effects.

    Returns:
        ``(mean (..., B, P_MAX), cov (..., B, P_MAX, P_MAX))``, zero on inactive
        fixed effects.  A draw whose conditional precision is not positive
        definite (rounding at extreme ``sd / sigma`` ratios) gets NaN.
    """
    stats_cut, p, q = trimmed(stats)
    per_draw = stats_cut.group_mask.numel() * p * max(p, q)          # B G p max(p, q)
    S = params.sigma.shape[0] if params.sigma.dim() > 1 else 1
    chunk = max(1, CHUNK_ELEMENTS // per_draw)
    if params.sigma.dim() > 1 and S > chunk:           # bound the (S, B, G, q, p) intermediates
        parts = [fixed_effects_conditional(GlobalParams(*(getattr(params, f)[a:a + chunk] for f in
                                                          ("beta", "sd", "L_corr", "sigma"))),
                                           stats, prior, fixed_mask) for a in range(0, S, chunk)]
        return torch.cat([m for m, _ in parts]), torch.cat([c for _, c in parts])
    full_p = params.beta.shape[-1]
    stats = stats_cut
    s2 = (params.sigma ** 2)[..., None, None, None]                      # (..., B, 1, 1, 1)
    L = params.L_cov[..., :q, :q]                                        # (..., B, q, q)
    C = _chol_m(L, stats, s2)                                            # (..., B, G, q, q)
    LtZtX = torch.einsum("...bqi,bgqp->...bgip", L, stats.ZtX) / s2      # (..., B, G, q, p)
    W = torch.stack([solve_lower_small(C, LtZtX[..., j]) for j in range(p)], -1)
    a = solve_lower_small(C, torch.einsum("...bqi,bgq->...bgi", L, stats.Zty) / s2[..., 0])
    gm = stats.group_mask[..., None, None].to(W.dtype)
    XtVX = ((stats.XtX / s2 - W.transpose(-1, -2) @ W) * gm).sum(-3)   # (..., B, p, p)
    XtVr = ((stats.Xty / s2[..., 0] - torch.einsum("...gqp,...gq->...gp", W, a))
            * gm[..., 0]).sum(-2)                                        # (..., B, p)
    mask = fixed_mask[..., :p].to(W.dtype)
    beta0 = stats.beta0 if stats.beta0 is not None else torch.zeros_like(prior.nu[..., :p])
    prec_prior = mask / prior.tau[..., :p] ** 2
    both = mask[..., :, None] * mask[..., None, :]
    P = XtVX * both + torch.diag_embed(prec_prior + (1 - mask))          # identity on inactive
    rhs = (XtVr + prec_prior * (prior.nu[..., :p] - beta0)) * mask
    P = torch.where(torch.isfinite(P), P, torch.zeros_like(P))
    chol, info = torch.linalg.cholesky_ex(P)
    bad = (info != 0)[..., None]
    eye = torch.eye(P.shape[-1], dtype=P.dtype).expand_as(chol)
    cov = torch.cholesky_inverse(torch.where(bad[..., None], eye, chol)) * both
    mean = (beta0 + (cov @ rhs[..., None])[..., 0]) * mask
    mean = torch.where(bad, torch.full_like(mean, float("nan")), mean)
    cov = torch.where(bad[..., None], torch.full_like(cov, float("nan")), cov)
    pad = full_p - p
    return (torch.nn.functional.pad(mean, (0, pad)),
            torch.nn.functional.pad(cov, (0, pad, 0, pad)))


def _chol_m(L: torch.Tensor, stats: GroupStats, s2: torch.Tensor) -> torch.Tensor:
    """Cholesky factor of ``M_g = I + L^T Z_g^T Z_g L / sigma^2`` per draw and group."""
    ZtZ_L = torch.einsum("bgqr,...brj->...bgqj", stats.ZtZ, L)
    M = torch.einsum("...bqi,...bgqj->...bgij", L, ZtZ_L) / s2
    return cholesky_small(M + torch.eye(M.shape[-1], dtype=M.dtype))


def weighted_quantile(x: np.ndarray, w: np.ndarray, probs) -> np.ndarray:
    """Quantiles of the weighted sample ``(x, w)`` (midpoint interpolation of its CDF;
    draws of zero weight play no part)."""
    x, w = x[w > 0], w[w > 0]
    order = np.argsort(x)
    xs, ws = x[order], w[order] / w.sum()
    cdf = np.cumsum(ws) - 0.5 * ws
    return np.interp(np.asarray(probs, dtype=float), cdf, xs)


def _mixture_moments(w: np.ndarray, mean: np.ndarray, sd: np.ndarray):
    """Mean and SD ``(k,)`` of the mixture ``sum_s w_s N(mean_s, sd_s^2)`` per column."""
    m = w @ mean
    return m, np.sqrt(np.clip(w @ (sd ** 2 + (mean - m) ** 2), 0, None))


def mixture_quantile(w: np.ndarray, mean: np.ndarray, sd: np.ndarray, probs) -> np.ndarray:
    """Quantiles of ``sum_s w_s N(mean_s, sd_s^2)`` per column.

    Args:
        w: ``(S,)`` weights summing to 1.
        mean, sd: ``(S, k)`` component means and SDs.
        probs: Probabilities ``(m,)``.

    Returns:
        ``(m, k)``: bracketed Newton on the mixture CDF, to about 1e-10 of a
        component SD.
    """
    probs = np.asarray(probs, dtype=float)
    keep = w > NEGLIGIBLE_WEIGHT * w.max()
    w, mean, sd = w[keep] / w[keep].sum(), mean[keep], np.maximum(sd[keep], 1e-300)
    lo = np.broadcast_to((mean - 10 * sd).min(0), (len(probs), mean.shape[1])).copy()
    hi = np.broadcast_to((mean + 10 * sd).max(0), lo.shape).copy()
    # start at the moment-matched normal's quantile: Newton then needs a few steps
    m, total_sd = _mixture_moments(w, mean, sd)
    x = np.clip(m + total_sd * ndtri(np.clip(probs, 1e-300, 1 - 1e-16))[:, None], lo, hi)
    inv_sd = 1 / sd
    w_sd = w[:, None] * inv_sd / np.sqrt(2 * np.pi)                       # (S, k)
    tol = 1e-10 * sd.min(0)
    for _ in range(QUANTILE_STEPS):
        z = (x[:, None, :] - mean[None]) * inv_sd[None]                    # (m, S, k)
        F = np.einsum("s,msk->mk", w, ndtr(z)) - probs[:, None]
        dens = np.einsum("sk,msk->mk", w_sd, np.exp(-0.5 * z * z))
        lo = np.where(F < 0, x, lo)
        hi = np.where(F >= 0, x, hi)
        step = np.where(dens > 0, F / np.maximum(dens, 1e-300), np.inf)
        new = x - step
        inside = (new >= lo) & (new <= hi)       # a converged x sits on a bracket's end
        new = np.where(inside, new, 0.5 * (lo + hi))
        if np.all(np.abs(new - x) <= tol + 8 * np.finfo(float).eps * np.abs(x)):
            return new
        x = new
    return x


def mixture_summary(w: np.ndarray, mean: np.ndarray, sd: np.ndarray, probs):
    """Mean, SD and quantiles of the mixture ``sum_s w_s N(mean_s, sd_s^2)`` per column.

    Args:
        w: ``(S,)`` weights summing to 1.
        mean, sd: ``(S, k)``.
        probs: Probabilities ``(m,)``.

    Returns:
        ``(mean (k,), sd (k,), quantiles (m, k))``.
    """
    return (*_mixture_moments(w, mean, sd), mixture_quantile(w, mean, sd, probs))


@dataclass
class WeightedPosterior:
    """A fit's importance-weighted draws, with the fixed effects' exact conditionals.

    Attributes:
        weights: ``(S,)`` normalized (PSIS-smoothed) weights.
        fixed_names: Names of the fixed-effect draws (``b_<name>``), column order.
        draws: Raw (weighted, not resampled) draws by name; the fixed effects'
            too when their conditionals are absent.
        fixed_mean, fixed_sd: ``(S, p)`` conditional means and SDs of the fixed
            effects given each draw's variance parameters, or ``None``
            (then the fixed effects are summarized by their weighted draws).
        fixed_cov: ``(S, p, p)`` conditional covariances, or ``None``.
    """

    weights: np.ndarray
    fixed_names: tuple[str, ...]
    draws: dict[str, np.ndarray] = field(default_factory=dict)
    fixed_mean: np.ndarray | None = None
    fixed_sd: np.ndarray | None = None
    fixed_cov: np.ndarray | None = None

    @property
    def rao_blackwellized(self) -> bool:
        """Are the fixed effects summarized through their exact conditionals?"""
        return self.fixed_mean is not None

    def _fixed_draws(self) -> np.ndarray:
        return np.column_stack([self.draws[n] for n in self.fixed_names])

    @property
    def beta_mean(self) -> np.ndarray:
        """``E[beta | y]``, ``(p,)``."""
        return self.weights @ (self.fixed_mean if self.rao_blackwellized else self._fixed_draws())

    @property
    def beta_cov(self) -> np.ndarray:
        """``Var[beta | y]``, ``(p, p)`` (within-draw plus between-draw parts)."""
        mean = self.beta_mean
        dev = (self.fixed_mean if self.rao_blackwellized else self._fixed_draws()) - mean
        between = np.einsum("s,si,sj->ij", self.weights, dev, dev)
        if not self.rao_blackwellized:
            return between
        return np.einsum("s,sij->ij", self.weights, self.fixed_cov) + between

    def mean(self, name: str) -> float:
        """Posterior mean of a parameter held as draws."""
        return float(self.weights @ self.draws[name])

    def quantiles(self, probs) -> dict[str, dict]:
        """``{name: {"mean", "sd", "q" (len(probs),)}}`` of every parameter."""
        out = {}
        if self.rao_blackwellized:
            mean, sd, q = mixture_summary(self.weights, self.fixed_mean, self.fixed_sd, probs)
            for j, name in enumerate(self.fixed_names):
                out[name] = {"mean": float(mean[j]), "sd": float(sd[j]), "q": q[:, j]}
        for name, x in self.draws.items():
            if name not in out:
                m = float(self.weights @ x)
                out[name] = {"mean": m, "sd": float(self.weights @ (x - m) ** 2) ** 0.5,
                             "q": weighted_quantile(x, self.weights, probs)}
        return out

    def table(self, level: float = 0.95) -> dict[str, dict[str, float]]:
        """``{name: {Estimate, Est.Error, lower, upper}}`` at the central ``level``."""
        return {name: {"Estimate": r["mean"], "Est.Error": r["sd"], "lower": float(r["q"][0]),
                       "upper": float(r["q"][1])}
                for name, r in self.quantiles([(1 - level) / 2, (1 + level) / 2]).items()}


def weighted_posterior(draws, i: int, log_weights: torch.Tensor, prior: Prior,
                       named: dict[str, np.ndarray], fixed_names: list[str]) -> WeightedPosterior:
    """The ``WeightedPosterior`` of data set ``i`` of ``draws``.

    Args:
        draws: ``PosteriorDraws`` (all draws, not resampled).
        i: Data set index.
        log_weights: ``(S,)`` normalized log weights of data set ``i``.
        prior: The batch's data-scale prior (batch shape ``(B,)``).
        named: Every global parameter's draws by name, ``(S,)`` each.
        fixed_names: Names of the fixed effects' draws, in column order.

    Returns:
        Rao-Blackwellized, unless some weighted draw's conditional is not
        finite (then the fixed effects keep their weighted draws).
    """
    p = len(fixed_names)
    st = draws.standardization
    params = GlobalParams(*(getattr(draws.params, f)[:, i:i + 1] for f in ("beta", "sd", "L_corr", "sigma")))
    mean, cov = fixed_effects_conditional(params, index_stats(draws.stats, i), prior.index(slice(i, i + 1)),
                                          st.fixed_mask[i:i + 1])
    w = torch.exp(log_weights).numpy()
    w = w / w.sum()
    mean, cov = mean[:, 0, :p].numpy(), cov[:, 0, :p, :p].numpy()
    used = w > 0
    if not (np.isfinite(mean[used]).all() and np.isfinite(cov[used]).all()):
        return WeightedPosterior(weights=w, fixed_names=tuple(fixed_names), draws=dict(named))
    mean, cov = np.where(used[:, None], mean, 0.0), np.where(used[:, None, None], cov, 0.0)
    sd = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0, None))
    others = {k: v for k, v in named.items() if k not in fixed_names}
    return WeightedPosterior(weights=w, fixed_names=tuple(fixed_names), draws=others, fixed_mean=mean,
                             fixed_sd=sd, fixed_cov=cov)


__all__ = ["fixed_effects_conditional", "weighted_quantile", "mixture_quantile", "mixture_summary",
           "WeightedPosterior", "weighted_posterior"]
