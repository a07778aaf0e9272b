"""Variational random effects of one term: ``q(b_g) = N(mu_g, L_g L_g^T)`` per level.

The prior is the term's ``CovarianceStructure``; the KL divergence to it is
analytic (see ``tabmixr.covariance.base``).  Effects enter the linear
predictor as ``Z b``: row ``i`` of level ``g`` gets ``x_i^T b_g`` where
``x_i`` is the row of the term's model matrix.  For a task with ``n_eta``
linear predictors (categorical) every level carries ``q * n_eta`` effects,
ordered column-major (``b[g, j * n_eta + k]`` multiplies ``x_ij`` in ``eta_k``).

Scaling: the free parameters are dimensionless.  ``start`` stores a
per-effect scale ``s`` (the starting prior SD, in the units of the effect)
and ``mu = s * mu_raw``, ``L_g = diag(s) L_raw_g``; without it the means
live in the response's units (tens, for a reaction time) beside log-scale
parameters of order one, and quasi-Newton steps are badly conditioned.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tabmixr.covariance import get_covariance


class TermPosterior(nn.Module):
    """Per-level Gaussian posterior and the term's prior.

    Args:
        q: Columns of the term's model matrix.
        n_levels: Levels of the grouping factor.
        covariance: Prior structure name (``"us"``, ``"diag"``, ``"scalar"``, ...).
        n_eta: Linear predictors of the task the term belongs to.
        text: Term text, for error messages.
        args: The term's wrapper arguments (``kernel``, ``p``, ``q``, ``coords``).
    """

    def __init__(self, q: int, n_levels: int, covariance: str, n_eta: int = 1, text: str = "",
                 args: dict | None = None):
        super().__init__()
        self.q, self.n_eta, self.n_levels = int(q), int(n_eta), int(n_levels)
        self.text = text
        dim = self.q * self.n_eta
        self.dim = dim
        self.prior = get_covariance(covariance, dim, n_levels, text, args)
        self.mu_raw = nn.Parameter(torch.zeros(n_levels, dim))
        self.register_buffer("scale", torch.ones(dim))
        self.log_diag = nn.Parameter(torch.zeros(n_levels, dim))
        self.lower = nn.Parameter(torch.zeros(n_levels, dim * (dim - 1) // 2))
        rows, cols = torch.tril_indices(dim, dim, offset=-1)
        self.register_buffer("tril_rows", rows, persistent=False)
        self.register_buffer("tril_cols", cols, persistent=False)

    @property
    def mu(self) -> torch.Tensor:
        """Posterior means ``(n_levels, dim)`` in the effects' units."""
        return self.mu_raw * self.scale

    def L_post(self) -> torch.Tensor:
        """Posterior factors ``(n_levels, dim, dim)``, lower triangular, positive diagonal."""
        L = torch.diag_embed(torch.exp(self.log_diag))
        if self.dim > 1:
            L[:, self.tril_rows, self.tril_cols] = self.lower
        return self.scale[:, None] * L

    def kl(self) -> torch.Tensor:
        """``KL(q || prior)`` summed over levels."""
        return self.prior.kl(self.mu, self.L_post())

    def start(self, prior_sd: np.ndarray, post_fraction: float = 0.3) -> None:
        """Starting values: ``mu = 0``, prior ``diag(prior_sd^2)``, posterior sd a fraction of it."""
        sd = np.broadcast_to(np.asarray(prior_sd, dtype=float), (self.dim,))
        self.prior.set_scale(sd)
        with torch.no_grad():
            self.scale.copy_(torch.as_tensor(np.maximum(sd, 1e-8), dtype=self.scale.dtype))
            self.mu_raw.zero_()
            self.lower.zero_()
            self.log_diag.fill_(float(np.log(post_fraction)))

    def sample(self, n_samples: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Reparameterized draws ``mu + L eps``, shape ``(n_samples, n_levels, dim)``."""
        eps = torch.randn((n_samples, self.n_levels, self.dim), generator=generator,
                          dtype=self.mu.dtype, device=self.mu.device)
        return self.mu + torch.einsum("gij,sgj->sgi", self.L_post(), eps)

    def contribution(self, X_t: torch.Tensor, codes: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``Z b`` for effects ``b`` of shape ``(..., n_levels, dim)``: ``(..., n, n_eta)``.

        Rows with code ``-1`` (a level not seen when fitting) get 0.
        """
        known = (codes >= 0).to(X_t.dtype)
        rows = b[..., codes.clamp(min=0), :]
        rows = rows.reshape(*rows.shape[:-1], self.q, self.n_eta)
        return torch.einsum("nj,...njk->...nk", X_t * known[:, None], rows)

    def mean(self, X_t: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Mean of ``x_i^T b_g`` under ``q`` (single-eta tasks), ``(n,)``."""
        known = (codes >= 0).to(X_t.dtype)
        return ((X_t * known[:, None]) * self.mu[codes.clamp(min=0)]).sum(-1)

    def moments(self, X_t: torch.Tensor, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of ``x_i^T b_g`` under ``q`` (single-eta tasks): two ``(n,)``."""
        known = (codes >= 0).to(X_t.dtype)
        idx = codes.clamp(min=0)
        Xk = X_t * known[:, None]
        mean = (Xk * self.mu[idx]).sum(-1)
        A = torch.einsum("nj,njk->nk", Xk, self.L_post()[idx])
        return mean, (A * A).sum(-1)


class JointFactor(nn.Module):
    """One Gaussian posterior over every effect of every term of a task.

    Mean-field posteriors (one ``q`` per term) cannot represent the strong
    posterior correlation of nested or crossed terms (a brood's effect
    against its location's), and the ELBO then pushes one of the variances
    to zero.  Here ``q(b) = N(mu, L L^T)`` over all ``D = sum_t n_levels_t *
    dim_t`` effects (the means stay in each ``TermPosterior``); the rows of
    ``L`` belonging to term ``t`` and level ``g`` factor that level's block
    of the covariance, so the prior's KL pieces still apply term by term.

    Args:
        sizes: Per term, ``(n_levels, dim)``.
    """

    def __init__(self, sizes: list[tuple[int, int]]):
        super().__init__()
        self.sizes = [(int(g), int(d)) for g, d in sizes]
        self.offsets = list(np.cumsum([0] + [g * d for g, d in self.sizes]))
        D = int(self.offsets[-1])
        self.D = D
        self.log_diag = nn.Parameter(torch.zeros(D))
        self.lower = nn.Parameter(torch.zeros(D * (D - 1) // 2))
        self.register_buffer("scale", torch.ones(D))  # row scales, as in TermPosterior
        rows, cols = torch.tril_indices(D, D, offset=-1)
        self.register_buffer("tril_rows", rows, persistent=False)
        self.register_buffer("tril_cols", cols, persistent=False)

    def L(self) -> torch.Tensor:
        """The ``(D, D)`` lower-triangular factor."""
        L = torch.diag_embed(torch.exp(self.log_diag))
        if self.D > 1:
            L = L.index_put((self.tril_rows, self.tril_cols), self.lower)
        return self.scale[:, None] * L

    def term_rows(self, L: torch.Tensor, t: int) -> torch.Tensor:
        """Rows of ``L`` for term ``t``: ``(n_levels, dim, D)``."""
        g, d = self.sizes[t]
        return L[self.offsets[t]:self.offsets[t + 1]].reshape(g, d, self.D)

    def start(self, sds: list[np.ndarray]) -> None:
        """Diagonal start: ``sds[t]`` (length ``dim_t``) for every level of term ``t``."""
        values = np.concatenate([np.tile(np.asarray(sd, dtype=float), g)
                                 for (g, _), sd in zip(self.sizes, sds)]) if self.sizes else np.zeros(0)
        with torch.no_grad():
            self.lower.zero_()
            self.log_diag.zero_()
            self.scale.copy_(torch.as_tensor(np.maximum(values, 1e-8), dtype=self.scale.dtype))

    def kl(self, posts) -> torch.Tensor:
        """``KL(q || prod_t prior_t)`` with the means of ``posts`` (the task's terms)."""
        L = self.L()
        total = -0.5 * self.D - torch.log(torch.diagonal(L)).sum()
        for t, post in enumerate(posts):
            rows = self.term_rows(L, t)
            total = total + 0.5 * (post.prior.trace_joint(rows) + post.prior.quad(post.mu)
                                   + post.prior.logdet())
        return total

    def variance(self, term_X: list[torch.Tensor], codes: list[torch.Tensor]) -> torch.Tensor:
        """``Var_q(sum_t x_it^T b_t[g_it])`` per row, ``(n,)`` (single-eta tasks)."""
        L = self.L()
        A = None
        for t, (X_t, c) in enumerate(zip(term_X, codes)):
            known = (c >= 0).to(X_t.dtype)
            rows = self.term_rows(L, t)[c.clamp(min=0)]
            part = torch.einsum("nj,njD->nD", X_t * known[:, None], rows)
            A = part if A is None else A + part
        return (A * A).sum(-1)

    def sample(self, n_samples: int) -> list[torch.Tensor]:
        """Draws of ``b - mu`` per term, each ``(n_samples, n_levels, dim)``."""
        eps = torch.randn((n_samples, self.D), dtype=self.log_diag.dtype, device=self.log_diag.device)
        dev = eps @ self.L().T
        return [dev[:, self.offsets[t]:self.offsets[t + 1]].reshape(n_samples, g, d)
                for t, (g, d) in enumerate(self.sizes)]

    def cond_var(self, t: int) -> torch.Tensor:
        """Posterior covariance blocks of term ``t``'s levels, ``(n_levels, dim, dim)``."""
        rows = self.term_rows(self.L(), t)
        return rows @ rows.transpose(1, 2)
