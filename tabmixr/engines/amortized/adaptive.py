"""Adaptive rounds of importance sampling: a Student-t fitted to the weighted draws.

The defensive mixture (``laplace.py``) covers most posteriors, but where the
posterior is far from Gaussian in the flow's coordinates (few rows, an SD
near zero, a skewed residual SD) neither the flow nor the Laplace-t at the
mode has the right spread, and a few draws carry all the weight.  Such a
data set is refined by adaptive multiple importance sampling (Cornuet,
Marin, Mira & Robert 2012), in rounds:

1. From the draws so far and their (truncated, self-normalized) weights,
   fit a multivariate Student-t: the weighted mean, and the weighted
   covariance shrunk toward the Laplace covariance by the effective sample
   size (``(ess C_w + d C_laplace) / (ess + d)``, so a handful of heavy
   draws cannot collapse it), inflated by ``INFLATE^2``.
2. Draw ``n_round`` new points from it.
3. Re-weight every draw against the deterministic mixture of all
   components used so far, each with its share of the draws (the balance
   heuristic: unbiased, and a poor component only dilutes).

A round runs only when some data set's effective sample size of raw
weights is below ``ESS_FRACTION`` of its draws; all data sets of a batch get
the round's draws (tensors keep one shape), which never hurts the good ones.
"""

from __future__ import annotations

import math

import torch

from tabmixr.engines.amortized.laplace import (T_DF, component_covariance, precision_from_covariance,
                                              t_log_prob, t_sample)

#: Rounds at most, and draws per round as a share of the first round's.
ROUNDS = 3
ROUND_SHARE = 0.5
#: A round runs while some data set's raw-weight ESS is below this share of its draws.
#: At 0.1 a fit of MathAchieve-like data (slope SD near 0, raw ESS about 19 %) kept a
#: biased slope SD (0.21 brms SDs on average over 8 seeds, against 0.05 with the rounds);
#: calibration batches of 32 sets nearly always run the rounds, so 0.5 also makes a fit
#: use the procedure its calibration was learned with.
ESS_FRACTION = 0.5
#: Scale inflation of the fitted component.
INFLATE = 1.5


def _relative_weights(log_w: torch.Tensor) -> torch.Tensor:
    """``exp(log_w - max)`` per data set, ``(S, B)``; non-finite log weights give 0."""
    lw = torch.where(torch.isfinite(log_w), log_w, torch.full_like(log_w, -math.inf))
    top = lw.max(0).values
    return torch.exp(lw - torch.where(torch.isfinite(top), top, torch.zeros_like(top)))


def raw_ess(log_w: torch.Tensor) -> torch.Tensor:
    """``(sum w)^2 / sum w^2`` of raw weights per data set, ``log_w (S, B)`` -> ``(B,)`` (0 if none finite)."""
    w = _relative_weights(log_w)
    return torch.nan_to_num(w.sum(0) ** 2 / (w * w).sum(0), nan=0.0)


def truncated_weights(log_w: torch.Tensor) -> torch.Tensor:
    """Self-normalized weights ``(S, B)`` truncated at ``mean * sqrt(S)`` (Ionides 2008)."""
    w = _relative_weights(log_w)
    w = torch.minimum(w, w.mean(0) * math.sqrt(log_w.shape[0]))
    return w / w.sum(0).clamp(min=1e-300)


def fit_component(phi: torch.Tensor, w: torch.Tensor, active: torch.Tensor, laplace):
    """Student-t location and equilibrated precision from weighted draws.

    Args:
        phi: Draws ``(S, B, D)``.
        w: Normalized weights ``(S, B)``.
        active: ``(B, D)`` active coordinates.
        laplace: ``(mode, evals, evecs, scale)`` of the Laplace component (shrinkage target).

    Returns:
        ``(mean, evals, evecs, scale)`` as ``laplace.t_sample`` takes them.
    """
    w = torch.nan_to_num(w)
    mean = (w[..., None] * phi).sum(0)
    dev = (phi - mean) * active
    cov_w = torch.einsum("sb,sbd,sbe->bde", w, dev, dev)
    cov_l = component_covariance(*laplace[1:])
    ess = 1 / (w * w).sum(0).clamp(min=1e-300)
    d = active.sum(-1).clamp(min=1)
    cov = (ess[:, None, None] * cov_w + d[:, None, None] * cov_l) / (ess + d)[:, None, None]
    return (mean * active, *precision_from_covariance(INFLATE ** 2 * cov, active))


def adapt(phi: torch.Tensor, log_q: torch.Tensor, log_pi: torch.Tensor, log_q_first,
          active: torch.Tensor, laplace, f, generator: torch.Generator):
    """Run the adaptive rounds (module docstring).

    Args:
        phi: First-round draws ``(S, B, D)``.
        log_q: Their first-round proposal density ``(S, B)``.
        log_pi: Their target density ``(S, B)``.
        log_q_first: Callable, first-round proposal density at new draws ``(n, B, D)``.
        active: ``(B, D)`` active coordinates.
        laplace: ``(mode, evals, evecs, scale)`` of the Laplace component.
        f: Target log density at draws ``(n, B, D)``.
        generator: Source of randomness.

    Returns:
        ``(phi, log_q, log_pi, rounds)``: all draws with their density under
        the final deterministic mixture, their target density, and the number
        of rounds that ran.
    """
    n_first = phi.shape[0]
    n_round = max(int(n_first * ROUND_SHARE), 1)
    log_first = log_q                        # every draw's density under the first round's proposal
    comps, counts = [], [n_first]
    rounds = 0
    for _ in range(ROUNDS):
        if not bool((raw_ess(log_pi - log_q) < ESS_FRACTION * phi.shape[0]).any()):
            break
        comp = fit_component(phi, truncated_weights(log_pi - log_q), active, laplace)
        mean, evals, evecs, scale = comp
        new = t_sample(n_round, mean, evals, evecs, generator, scale=scale) * active
        with torch.no_grad():
            log_pi = torch.cat([log_pi, f(new)])
            log_first = torch.cat([log_first, log_q_first(new)])
        phi = torch.cat([phi, new])
        comps.append(comp)
        counts.append(n_round)
        log_q = _mixture(log_first, phi, comps, counts)
        rounds += 1
    return phi, log_q, log_pi, rounds


def _mixture(log_first: torch.Tensor, phi: torch.Tensor, comps, counts) -> torch.Tensor:
    """``log sum_k (n_k / N) q_k(phi)`` over the first round and the fitted components."""
    total = float(sum(counts))
    terms = [log_first + math.log(counts[0] / total)]
    for comp, n in zip(comps, counts[1:]):
        mean, evals, evecs, scale = comp
        terms.append(t_log_prob(phi, mean, evals, evecs, T_DF, scale) + math.log(n / total))
    return torch.logsumexp(torch.stack(terms), 0)


__all__ = ["adapt", "fit_component", "raw_ess", "truncated_weights"]
