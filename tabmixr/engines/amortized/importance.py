"""Importance sampling of flow draws against the exact posterior, with PSIS.

Target and proposal live in the flow's coordinates ``phi``::

    log pi(phi) = log p(y | theta) + log p(theta) + log|d theta / d phi|
    log w       = log pi(phi) - log q(phi)

with ``theta = (beta, sd, r, sigma)`` on the data scale, ``p(y | theta)``
the exact marginal likelihood (``likelihood.py``), ``p(theta)`` the prior of
``simulator.py`` on the data scale, and ``log|d theta / d phi|`` the sum of
the positivity/correlation transforms (``parameters.phi_to_params``) and the
un-standardization (``standardize.params_to_original``).  Random effects
drawn from their exact conditional need no weight of their own:
``p(b | y, theta)`` cancels between target and proposal.

Pareto-smoothed importance sampling (Vehtari, Simpson, Gelman, Yao & Gabry
2024): the ``M = min(S/5, 3 sqrt(S))`` largest weights are replaced by the
expected order statistics of a generalized Pareto distribution fitted to
them (above the next largest weight), capped at the largest raw weight.
The fit is the profile-likelihood / empirical-Bayes estimator of Zhang &
Stephens (2009), with the shape shrunk toward 0.5 as in Vehtari et al.
(``k <- (M k + 5) / (M + 10)``).  ``k-hat`` diagnoses reliability: below 0.5
good, 0.5-0.7 usable, above 0.7 unreliable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from tabmixr.engines.amortized.likelihood import marginal_loglik
from tabmixr.engines.amortized.parameters import GlobalParams
from tabmixr.engines.amortized.posterior import PosteriorDraws
from tabmixr.engines.amortized.simulator import Prior

#: k-hat above which importance sampling is unreliable.
K_HAT_THRESHOLD = 0.7
#: Largest tail exceedance (relative to the largest weight) treated as a flat tail.
FLAT_TAIL = 1e-10


def reliability_class(pareto_k: float) -> str:
    """``"reliable"`` for k-hat <= 0.7, else ``"unreliable"`` (NaN: ``"reliable"``, no weights)."""
    return "unreliable" if pareto_k > K_HAT_THRESHOLD else "reliable"


def log_prior(params: GlobalParams, prior: Prior, fixed_mask, re_mask) -> torch.Tensor:
    """Log prior density of data-scale parameters w.r.t. ``(beta, sd, r, sigma)``.

    ``beta_j ~ N(nu_j, tau_j^2)``, ``sd_k ~ HalfNormal(tau_s,k)``,
    ``R ~ LKJ(eta)`` (density ``det(R)^(eta - 1)``, without its normalizing
    constant, which cancels in self-normalized weights),
    ``sigma ~ HalfNormal(tau_e)``; active coordinates only.
    """
    def normal(x, mu, sd):
        return -0.5 * ((x - mu) / sd) ** 2 - torch.log(sd) - 0.5 * math.log(2 * math.pi)

    lp_beta = torch.where(fixed_mask, normal(params.beta, prior.nu, prior.tau), 0 * params.beta).sum(-1)
    lp_sd = torch.where(re_mask, math.log(2) + normal(params.sd, 0, prior.tau_s), 0 * params.sd).sum(-1)
    diag = torch.diagonal(params.L_corr, dim1=-2, dim2=-1)
    logdet_R = 2 * torch.where(re_mask, torch.log(diag), 0 * diag).sum(-1)
    lp_R = (prior.eta - 1) * logdet_R
    lp_sigma = math.log(2) + normal(params.sigma, 0, prior.tau_e)
    return lp_beta + lp_sd + lp_R + lp_sigma


def log_posterior(params: GlobalParams, log_jac: torch.Tensor, stats, prior: Prior, fixed_mask,
                  re_mask) -> torch.Tensor:
    """``log pi(phi)`` up to a constant: likelihood + prior + ``log|d theta / d phi|``."""
    return marginal_loglik(params, stats) + log_prior(params, prior, fixed_mask, re_mask) + log_jac


def log_weights(draws: PosteriorDraws, prior: Prior) -> torch.Tensor:
    """Raw log importance weights ``(S, B)`` (module docstring).

    Reuses ``draws.log_target`` when it was evaluated under this very ``prior``.
    """
    if draws.log_target is not None and draws.target_prior is prior:
        return draws.log_target - draws.log_q
    st = draws.standardization
    return log_posterior(draws.params, draws.log_jac, draws.stats, prior, st.fixed_mask,
                         st.re_mask) - draws.log_q


def gpd_fit(x: torch.Tensor) -> tuple[float, float]:
    """Fit a generalized Pareto distribution to exceedances ``x > 0`` (Zhang & Stephens 2009).

    The GPD with shape ``k`` and scale ``sigma`` has ``P(X > x) =
    (1 + k x / sigma)^(-1/k)``.  With ``theta = -k / sigma`` the profile
    log-likelihood is ``n (log(theta / kk) + kk - 1)``, ``kk(theta) = -mean
    log(1 - theta x)``; the estimate of ``theta`` is its posterior mean over
    ``m = 30 + sqrt(n)`` grid points
    ``theta_j = 1/x_max + (1 - sqrt(m / (j - 1/2))) / (3 x_(n/4))``.

    Args:
        x: 1-D exceedances.

    Returns:
        ``(k, sigma)``.
    """
    x = torch.sort(x.to(torch.float64)).values
    n = x.numel()
    m = 30 + int(math.sqrt(n))
    quartile = x[max(int(n / 4 + 0.5) - 1, 0)]
    j = torch.arange(1, m + 1, dtype=torch.float64)
    theta = 1 / x[-1] + (1 - torch.sqrt(m / (j - 0.5))) / (3 * quartile)
    kk = -torch.log1p(-theta[:, None] * x[None, :]).mean(1)
    prof = n * (torch.log(theta / kk) + kk - 1)
    w = torch.softmax(prof, 0)
    theta_hat = (w * theta).sum()
    k = torch.log1p(-theta_hat * x).mean()
    sigma = -k / theta_hat
    return float(k), float(sigma)


@dataclass
class ImportanceResult:
    """Smoothed, self-normalized importance weights for one data set.

    Attributes:
        log_weights: Normalized log weights ``(S,)`` (log-sum-exp 0).
        pareto_k: k-hat of the raw weights' tail.
        ess: Effective sample size ``1 / sum w^2`` of the smoothed weights.
        n_draws: ``S``.
    """

    log_weights: torch.Tensor
    pareto_k: float
    ess: float
    n_draws: int

    @property
    def reliable(self) -> bool:
        """``pareto_k <= 0.7``."""
        return self.pareto_k <= K_HAT_THRESHOLD


def psis(log_w: torch.Tensor) -> ImportanceResult:
    """Pareto-smoothed importance sampling of one data set's log weights ``(S,)``.

    Returns:
        ``ImportanceResult`` (non-finite raw weights count as zero weight).
        ``pareto_k`` is ``-inf`` when the tail weights are equal to within
        ``FLAT_TAIL`` (proposal = target: a bounded tail), and ``inf`` when
        there are too few draws (fewer than 25) to fit a tail or no draw has
        a finite weight (then ``ess`` is 0).
    """
    lw = torch.where(torch.isfinite(log_w), log_w.to(torch.float64),
                     torch.full_like(log_w, -float("inf"), dtype=torch.float64))
    S = lw.numel()
    if not bool(torch.isfinite(lw).any()):
        return ImportanceResult(log_weights=lw, pareto_k=float("inf"), ess=0.0, n_draws=S)
    lw = lw - lw.max()
    M = int(math.ceil(min(0.2 * S, 3 * math.sqrt(S))))
    k = float("inf")
    if M >= 5 and S > M + 1:
        order = torch.argsort(lw)
        tail_idx = order[-M:]
        cutoff = lw[order[-M - 1]]
        if torch.isfinite(cutoff):
            exceed = torch.exp(lw[tail_idx]) - torch.exp(cutoff)
            if float(exceed.max()) <= FLAT_TAIL:
                k = -float("inf")                   # numerically constant tail: nothing to smooth
            elif bool((exceed > 0).all()) and float(exceed.max() - exceed.min()) > 0:
                k, sigma = gpd_fit(exceed)
                k = (M * k + 5.0) / (M + 10.0)
                if math.isfinite(k):
                    p = (torch.arange(1, M + 1, dtype=torch.float64) - 0.5) / M
                    q = sigma * torch.expm1(-k * torch.log1p(-p)) / k if abs(k) > 1e-12 \
                        else -sigma * torch.log1p(-p)
                    smooth = torch.log(torch.exp(cutoff) + q).clamp(max=0.0)
                    lw = lw.clone()
                    lw[tail_idx] = smooth
    lw = lw - torch.logsumexp(lw, 0)
    ess = float(1.0 / torch.exp(2 * lw).sum())
    return ImportanceResult(log_weights=lw, pareto_k=k, ess=ess, n_draws=S)
