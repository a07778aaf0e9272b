"""Posteriors held at their optimum: the driver shared by ``spde`` and ``gp`` terms.

A *profiled* posterior (``SpdePosterior``, ``DensePosterior``, both
``ProfiledPosterior``) is not learned by gradient steps: ``refresh`` computes the optimal Gaussian
``q(b)`` of its term from the full data and the current values of
everything else (one Newton step for a Gaussian response, where it is
exact; Newton iterations otherwise), and its ``kl`` carries gradients only
through the prior's parameters (the envelope theorem: at the optimum the
ELBO's derivative in any other parameter is its partial derivative at fixed
``q(b)``).  Such a posterior sets ``profiled = True`` and offers

* ``refresh(eta_other, v_other, X_t, codes, expectation, gaussian, row_weights)``;
* ``covariance_quadratic(site)``: ``site^T Cov_q(b) site`` for a
  ``(n_levels, q, p)`` array, the piece of the fixed effects' Hessian
  that the posterior holds (``profiled_correction``).

The trainer calls ``refresh_profiled`` before every full-batch evaluation
(L-BFGS) or at the start of every epoch (Adam; coordinate ascent).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tabmixr.covariance import get_covariance
from tabmixr.errors import ConvergenceError, EngineError

#: Smallest expected curvature per row (keeps the posterior precision positive definite).
MIN_CURVATURE = 1e-10


class ProfiledPosterior(nn.Module):
    """What the profiled posteriors share: one effect vector per level on one linear
    predictor, the term's prior, ``Z b`` and the ``refreshed`` flag.

    Args:
        q: Columns of the term's model matrix.
        n_levels: Levels of the grouping factor.
        covariance: Prior structure name (``"spde"``, ``"gp"``).
        n_eta: Linear predictors of the task (must be 1).
        text: Term text, for error messages.
        args: The term's wrapper arguments.

    Raises:
        EngineError: A family with several linear predictors, or a prior that
            cannot be built (the message names the term).
    """

    #: Refreshed to its optimum by ``refresh_profiled``, not learned.
    profiled = True
    #: The posterior's name in messages.
    kind = ""

    def __init__(self, q: int, n_levels: int, covariance: str, n_eta: int = 1, text: str = "",
                 args: dict | None = None):
        super().__init__()
        if int(n_eta) != 1:
            raise EngineError(f"term {text!r}: {self.kind} needs a family with one linear "
                              f"predictor (got {n_eta})")
        self.q, self.n_eta, self.n_levels, self.dim, self.text = int(q), 1, int(n_levels), int(q), text
        try:
            self.prior = get_covariance(covariance, self.dim, n_levels, text, args)
        except EngineError as err:
            raise EngineError(f"term {text!r}: {err}") from None
        self.refreshed = False

    def _start_sites(self, prior_sd: np.ndarray, post_fraction: float) -> None:
        """Set the prior SDs and reset the levels' moments (``site_mean``, ``site_cov``,
        registered by the subclass) to zero means and ``(post_fraction sd)^2`` variances."""
        sd = np.broadcast_to(np.asarray(prior_sd, dtype=float), (self.dim,))
        self.prior.set_scale(sd)
        with torch.no_grad():
            self.site_mean.zero_()
            block = torch.diag(torch.as_tensor((sd * post_fraction) ** 2, dtype=self.site_cov.dtype))
            self.site_cov.copy_(block.expand_as(self.site_cov))

    def contribution(self, X_t: torch.Tensor, codes: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``Z b`` for effects ``b`` of shape ``(..., n_levels, dim)``: ``(..., n, 1)``."""
        known = (codes >= 0).to(X_t.dtype)
        rows = b[..., codes.clamp(min=0), :]
        return (X_t * known[:, None] * rows).sum(-1, keepdim=True)


def is_profiled(post) -> bool:
    """Whether a term's posterior is refreshed to its optimum rather than learned."""
    return bool(getattr(post, "profiled", False))


def has_profiled(model) -> bool:
    """Whether any term of the model has a profiled posterior."""
    return any(is_profiled(post) for task in model.posteriors for post in task)


def gradient_curvature(expectation, m: torch.Tensor, v: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``dE/dm`` and ``-2 dE/dv`` per row of ``E = expectation(m, v)``.

    Args:
        expectation: ``f(m, v) -> E_q[log p(y_r)]`` per row (differentiable).
        m: Mean linear predictor per row, ``(n,)``.
        v: Its variance per row, ``(n,)``.

    Returns:
        Two ``(n,)`` float arrays: the gradient and the expected curvature.
    """
    m = m.detach().clone().requires_grad_(True)
    v = v.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        E = expectation(m, v).sum()
        gm, gv = torch.autograd.grad(E, (m, v))
    return gm.detach().cpu().numpy(), (-2.0 * gv).detach().cpu().numpy()


def newton_change(new: np.ndarray, old: np.ndarray, text: str, what: str) -> float:
    """Relative change ``max|new - old| / (1 + max|new|)`` of a refresh's Newton step.

    Args:
        new, old: The posterior means after and before the step.
        text: The term, for the message.
        what: The posterior, for the message (``"the spde posterior"``).

    Raises:
        ConvergenceError: ``new`` holds a non-finite value (Newton diverged).
    """
    if not np.all(np.isfinite(new)):
        raise ConvergenceError(f"term {text!r}: the Newton steps of {what} diverged")
    return float(np.max(np.abs(new - old)) / (1.0 + np.max(np.abs(new))))


def _other_moments(posts, batch, t: int, eta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance per row of ``eta`` plus every term but ``t`` (``t = -1``: all terms)."""
    var = torch.zeros_like(eta)
    for u, other in enumerate(posts):
        if u == t:
            continue
        dm, dv = other.moments(batch.term_X[u], batch.codes[u])
        eta, var = eta + dm, var + dv
    return eta, var


def refresh_profiled(model, batch, n_nodes: int = 20) -> None:
    """Refresh every profiled posterior from the rows of ``batch`` (the full training data).

    Args:
        model: The ``VIModel``.
        batch: All training rows, with responses.
        n_nodes: Gauss-Hermite nodes of the expected log-likelihood.
    """
    if not has_profiled(model):
        return
    from tabmixr.engines.vi.elbo import expectation_given

    with torch.no_grad():
        H = model.features(batch)
    for k, posts in enumerate(model.posteriors):
        family, y = model.families[k], batch.ys[k]
        aux = {name: p.detach() for name, p in model.aux[k].items()}
        gaussian = family.name == "gaussian" and family.link == "identity"
        for t, post in enumerate(posts):
            if not is_profiled(post):
                continue
            with torch.no_grad():
                eta, var = _other_moments(posts, batch, t, model.fixed_eta(batch, H, k)[:, 0])

            def expectation(m, v, y=y, family=family, aux=aux):
                return expectation_given(family, y, m, v, aux, n_nodes)

            post.refresh(eta, var, batch.term_X[t], batch.codes[t], expectation, gaussian,
                         batch.weights)


def profiled_correction(model, batch, n_nodes: int = 20) -> np.ndarray | None:
    """``C Cov_q(b) C^T`` for the first task's fixed-effects block of the Hessian (``gamma``).

    The Hessian of the negative ELBO over ``(gamma, b)`` has the blocks
    ``H_gg``, ``C = Xl^T diag(r x h) Z`` and the posterior precision ``A``;
    a profiled term is held in ``q(b)``, not in the parameters, so ``vcov``
    takes the Schur complement ``H_gg - C A^-1 C^T`` to account for it.

    Returns:
        ``(p, p)`` (summed over the task's profiled terms), or ``None`` without any.
    """
    posts = model.posteriors[0]
    if not any(is_profiled(post) for post in posts):
        return None
    from tabmixr.engines.vi.elbo import expectation_given

    family, y = model.families[0], batch.ys[0]
    aux = {name: p.detach() for name, p in model.aux[0].items()}
    with torch.no_grad():
        eta, var = _other_moments(posts, batch, -1, model.fixed_eta(batch, model.features(batch), 0)[:, 0])
        Xl = model.linear_inputs(batch.X).to(torch.float64).cpu().numpy()
    _, h = gradient_curvature(lambda m, v: expectation_given(family, y, m, v, aux, n_nodes), eta, var)
    rw = np.ones(batch.n) if batch.weights is None else batch.weights.cpu().numpy()
    total = np.zeros((Xl.shape[1], Xl.shape[1]))
    for t, post in enumerate(posts):
        if not is_profiled(post):
            continue
        X_t = batch.term_X[t].to(torch.float64).cpu().numpy().reshape(batch.n, -1)
        site = np.zeros((post.n_levels, X_t.shape[1], Xl.shape[1]))
        np.add.at(site, batch.codes[t].cpu().numpy(), (rw * h)[:, None, None] * X_t[:, :, None] * Xl[:, None, :])
        total += post.covariance_quadratic(site)
    return total
