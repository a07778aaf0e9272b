"""Posterior of a term whose prior couples its levels (``ar1``, ``arma``, ``kin``; ``gp``
where the dense posterior of ``dense_posterior.py`` does not apply).

A per-level posterior ``q(b_g) = N(mu_g, S_g)`` ignores that a coupled prior
makes the levels' posteriors correlated, which biases the structure's
parameters (a too-small ``rho``).  A full joint Gaussian over all levels has
``D (D + 1) / 2`` free parameters and is slow to fit.  This term uses the
family that holds the optimum (Opper & Archambeau 2009, "The variational
Gaussian approximation revisited"): for a likelihood that factorizes over
rows, each touching one level, the optimal Gaussian posterior has precision

    A = P + blockdiag(W_1, ..., W_n),   P = R^-1 kron Sigma^-1 (the prior's),

with a ``q x q`` positive semi-definite ``W_g = D^-1 U_g U_g^T D^-1`` per level
(``U_g`` lower triangular, log diagonal; ``D = diag(scale)`` as in
``TermPosterior``).  For a Gaussian response it is the exact posterior, so
the ELBO is the marginal likelihood.  The KL divergence to the prior is
exact:

    KL = 0.5 * (-sum_g tr(W_g S_gg) + mu^T P mu + log det P^-1 + log det A),

using ``tr(P A^-1) = D - tr(W A^-1)``; ``S_gg`` are the diagonal blocks of
``A^-1``, which are also what the expected log-likelihood needs (each row
meets one level of the term).  The work is one dense Cholesky of ``A``
(``D = n_levels * q``) per evaluation, so it is used up to
``STRUCTURED_MAX_DIM`` effects; larger terms fall back to a per-level
posterior (with its exact, but less accurate, KL).
"""

from __future__ import annotations

import numpy as np
import torch

from tabmixr.engines.vi.posterior import TermPosterior
from tabmixr.errors import ConvergenceError

#: Most effects of a term fitted with the structured posterior.
STRUCTURED_MAX_DIM = 3000


class StructuredPosterior(TermPosterior):
    """``q(b) = N(mu, (P + blockdiag(W_g))^-1)`` over all levels of one term.

    Same arguments and free parameters as ``TermPosterior`` (``mu_raw``,
    ``log_diag``, ``lower``); ``log_diag`` and ``lower`` parametrize ``U_g``.
    """

    def _block_index(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Row and column indices of the levels' diagonal blocks in ``A``."""
        n, d = self.n_levels, self.dim
        g = torch.arange(n, device=self.mu_raw.device)[:, None, None]
        i = torch.arange(d, device=self.mu_raw.device)[None, :, None]
        j = torch.arange(d, device=self.mu_raw.device)[None, None, :]
        rows, cols = (g * d + i).expand(n, d, d), (g * d + j).expand(n, d, d)
        return rows.reshape(-1), cols.reshape(-1)

    def data_precision(self) -> torch.Tensor:
        """``W_g`` per level, ``(n_levels, dim, dim)``."""
        U = torch.diag_embed(torch.exp(self.log_diag))
        if self.dim > 1:
            U[:, self.tril_rows, self.tril_cols] = self.lower
        U = U / self.scale[:, None]
        return U @ U.transpose(1, 2)

    def _key(self) -> tuple:
        tensors = [self.log_diag, self.lower, self.scale, *self.prior.parameters()]
        return (torch.is_grad_enabled(),) + tuple((id(t), t._version) for t in tensors)

    def _factor(self) -> tuple[torch.Tensor, ...]:
        """``(W, C, S_blocks, P, logdet_prior)``: data precision, Cholesky factor of ``A``,
        diagonal blocks of ``A^-1``, the prior's precision and covariance log det.

        ``L_post`` (the expected log-likelihood, first in the ELBO) leaves its
        result for the ``kl`` that follows at the same parameter values, which
        takes it (once), so one evaluation factors ``A`` once.
        """
        cached, self._pending = getattr(self, "_pending", None), None
        if cached is not None and cached[0] == self._key():
            return cached[1]
        rows, cols = self._block_index()
        W = self.data_precision()
        P, logdet_prior = self.prior.precision_pieces()
        A = P.index_put((rows, cols), W.reshape(-1), accumulate=True)
        C, info = torch.linalg.cholesky_ex(A)
        if int(info) != 0 or not bool(torch.isfinite(torch.diagonal(C)).all()):
            self._fail()
        eye = torch.eye(C.shape[0], dtype=C.dtype, device=C.device)
        C_inv = torch.linalg.solve_triangular(C, eye, upper=False).reshape(-1, self.n_levels, self.dim)
        S = torch.einsum("kgi,kgj->gij", C_inv, C_inv)          # diagonal blocks of A^-1, PSD
        return W, C, S, P, logdet_prior

    def _fail(self) -> None:
        raise ConvergenceError(f"term {self.text!r}: the posterior of its {self.prior.name} prior "
                               f"broke down ({self.prior.describe()}); the data may not identify "
                               f"the structure (too few levels or rows per level?)")

    def L_post(self) -> torch.Tensor:
        """Cholesky factors of the levels' marginal posterior blocks ``S_gg``.

        Raises:
            ConvergenceError: The posterior precision is not positive definite
                (parameters ran off to a degenerate structure).
        """
        pieces = self._factor()
        self._pending = (self._key(), pieces)
        L, info = torch.linalg.cholesky_ex(pieces[2])
        if bool((info != 0).any()):
            self._fail()
        return L

    def kl(self) -> torch.Tensor:
        """``KL(q || prior)`` over all levels (exact; see the module docstring)."""
        W, C, S, P, logdet_prior = self._factor()
        logdet_A = 2.0 * torch.log(torch.diagonal(C)).sum()
        m = self.mu.reshape(-1)
        return 0.5 * (-(W * S).sum() + m @ (P @ m) + logdet_prior + logdet_A)

    def start(self, prior_sd: np.ndarray, post_fraction: float = 0.3) -> None:
        """As ``TermPosterior.start``, with ``W_g`` making the posterior SD
        ``post_fraction`` of the prior SD while the levels are independent."""
        super().start(prior_sd, post_fraction)
        with torch.no_grad():
            self.log_diag.fill_(0.5 * float(np.log(1.0 / post_fraction ** 2 - 1.0)))


def level_residual_means(model, train, task: int, t: int) -> np.ndarray | None:
    """Per-level mean residual ``y - mean`` of the current (fixed-effects-only) fit.

    Args:
        model: The ``VIModel`` after its fixed-effects warm start.
        train: Training rows (with responses).
        task: Task index.
        t: Term index.

    Returns:
        ``(n_levels,)`` means (0 for levels without rows), or ``None`` where
        the response is not one column with one linear predictor.
    """
    y = train.ys[task]
    if y.dim() != 1 or int(model.config["tasks"][task]["n_eta"]) != 1 or not y.is_floating_point():
        return None
    with torch.no_grad():
        eta = model.fixed_eta(train, model.features(train), task)
        mean = model.families[task].mean(eta, dict(model.aux[task])).reshape(-1)
        resid = (y - mean).to(torch.float64).cpu().numpy()
    codes = train.codes[t].cpu().numpy()
    n_levels = model.posteriors[task][t].n_levels
    sums = np.bincount(codes, weights=resid, minlength=n_levels)
    counts = np.bincount(codes, minlength=n_levels)
    return sums / np.maximum(counts, 1)


def start_structures(model, train) -> None:
    """Start the parameters of coupled priors from the residuals (``start_from_effects``).

    Called after the prior scales are set.  A start near the data's own
    autocorrelation keeps the first quasi-Newton steps away from the flat
    edges of the parameter space (``rho -> 1``, a random walk), where the
    objective has no slope to lead back.
    """
    for k, task in enumerate(model.posteriors):
        for t, post in enumerate(task):
            if post.prior.level_data is None:
                continue
            means = level_residual_means(model, train, k, t)
            if means is not None:
                post.prior.start_from_effects(means)


#: Outer L-BFGS steps of the warm-up with the structures' own parameters held.
WARMUP_STEPS = 5


def structure_warmup(model, train, opts) -> list[dict]:
    """L-BFGS on everything but the structures' own parameters (``rho``, ARMA
    coefficients, length scales), held at their data-driven start.

    From the raw start the first quasi-Newton step can carry ``rho`` to the
    flat unit-root edge, where the objective has no slope to lead back; with
    the effects and scales fitted first, the steps stay local.

    A profiled posterior (``gp`` terms: ``dense_posterior.py``) needs no
    warm-up: its objective is the marginal likelihood of its parameters,
    smooth in the length scale, with a posterior that cannot break down;
    the warm-up there only doubled the number of evaluations.

    Returns:
        The warm-up's history (``stage="warmup"``), empty without learned
        structured terms.
    """
    from dataclasses import replace

    from tabmixr.engines.vi.profiled import is_profiled
    from tabmixr.engines.vi.train import fit_lbfgs

    held = {id(p) for task in model.posteriors for post in task if not is_profiled(post)
            for p in post.prior.structure_parameters()}
    if not held:
        return []
    params = [p for p in model.parameters() if p.requires_grad and id(p) not in held]
    return fit_lbfgs(model, train, replace(opts, max_epochs=min(opts.max_epochs, WARMUP_STEPS)),
                     params=params, stage="warmup")
