"""Posterior of a ``gp`` term: the joint Gaussian over its levels, refreshed to its optimum.

The learned structured posterior (``structured.py``) fits ``2 n q`` free
parameters by L-BFGS next to the kernel's, with autograd through a dense
Cholesky factor and a full triangular inverse per evaluation: at 400 sites
a fit took 1840 evaluations of 40 ms (74 s), and it grows as ``n^3`` per
evaluation and worse in their number.  Here, as for ``spde`` terms
(``spde_posterior.py``), ``refresh`` computes the optimal ``q(b) = N(m,
A^-1)``, ``A = (K kron Sigma)^-1 + blockdiag(W_g)``, from the full data and
the current values of everything else: one Newton step for a Gaussian
response (then exact, and the ELBO is the marginal likelihood), Newton
iterations to convergence otherwise.  The linear algebra goes through
``B = I + U^T (K kron Sigma) U`` (``dense_factor.py``), never through ``K^-1``.

By the envelope theorem the ELBO's gradient in every other parameter is its
partial derivative at fixed ``q(b)``: the levels' means and covariance
blocks enter the expected log-likelihood as constants, and the KL carries
gradients only through ``K(ell)`` and ``Sigma``, from the closed form
``dKL/dK``, ``dKL/dSigma`` of ``DenseFactor.envelope`` and the kernel's own
derivative (``GaussianProcess.correlation_and_gradient``; no autograd
through ``n^2`` entries): ``kl = value + sum_p <g_p, p - p.detach()>``
over the prior's parameters ``p`` (the value is unchanged, the gradient is
the partial one ``g_p``).  New levels are kriged from
``alpha = (K kron Sigma)^-1 m``.
"""

from __future__ import annotations

import numpy as np
import torch

from tabmixr.engines.vi.dense_factor import DenseFactor
from tabmixr.engines.vi.level_blocks import LevelBlocks
from tabmixr.engines.vi.profiled import MIN_CURVATURE, ProfiledPosterior, gradient_curvature
from tabmixr.errors import ConvergenceError, EngineError, NotPositiveDefiniteError

#: Newton iterations of a non-Gaussian refresh, and their relative tolerance.
NEWTON_STEPS, NEWTON_TOL = 30, 1e-8
#: Most effects (levels x effects per level) of a term fitted with this posterior.
DENSE_MAX_DIM = 5000


class DensePosterior(LevelBlocks, ProfiledPosterior):
    """``q(b) = N(m, A^-1)`` over all levels of a term with a dense ``K kron Sigma`` prior.

    Same constructor and interface as ``TermPosterior`` (``mu``, ``moments``,
    ``mean``, ``contribution``, ``L_post``, ``kl``, ``start``, ``sample``);
    its state lives in buffers that ``refresh`` fills.

    Raises:
        EngineError: A family with several linear predictors.
    """

    kind = "the dense posterior of a gp() term"

    def __init__(self, q: int, n_levels: int, covariance: str, n_eta: int = 1, text: str = "",
                 args: dict | None = None):
        super().__init__(q, n_levels, covariance, n_eta, text, args)
        self.register_buffer("site_mean", torch.zeros(n_levels, self.dim))
        self.register_buffer("site_cov", torch.eye(self.dim).repeat(n_levels, 1, 1))
        self.register_buffer("alpha", torch.zeros(n_levels, self.dim))
        self._factor: DenseFactor | None = None
        self._envelope: tuple | None = None  # (kl, dKL/dK, dKL/dSigma, the prior's K gradient)
        self._grads: list[torch.Tensor] = []

    # -- the interface the model uses (mu, L_post, mean, moments: ``LevelBlocks``) --------
    def sample(self, n_samples: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draws of the levels' effects, ``(n_samples, n_levels, dim)`` (no gradient)."""
        factor = self._need_factor()
        eps = torch.randn((factor.D, n_samples), generator=generator, dtype=torch.float64)
        dev = factor.sample(eps.to(factor.L.device)).T.reshape(n_samples, self.n_levels, self.dim)
        return (self.site_mean + dev.to(self.site_mean.dtype)).detach()

    def kl(self) -> torch.Tensor:
        """``KL(q || prior)`` at the refreshed ``q``, with gradients in the prior's parameters only."""
        if self._envelope is None:
            raise EngineError(f"term {self.text!r}: the dense posterior has not been refreshed")
        value = self._envelope[0]
        if not torch.is_grad_enabled():
            return value
        total = value
        for p, g in zip(self.prior.parameters(), self._partial_gradients()):
            total = total + (g * (p - p.detach())).sum()   # 0 in value, g in gradient
        return total

    def _partial_gradients(self) -> list[torch.Tensor]:
        """The KL's gradient in each prior parameter at fixed ``q`` (computed once per refresh):
        ``<dKL/dK, dK/dp>`` from the prior's ``correlation_and_gradient`` and
        ``<dKL/dSigma, dSigma/dp>`` by autograd through the ``q x q`` ``Sigma``."""
        value, d_K, d_sigma, k_grad = self._envelope
        if k_grad is None:
            return self._grads
        structure = self.prior.structure_parameters()
        grads = {id(p): g for p, g in zip(structure, k_grad(d_K))}
        rest = [p for p in self.prior.parameters() if id(p) not in grads]
        with torch.enable_grad():
            sigma = self.prior.cov()
            g = torch.autograd.grad((d_sigma.to(sigma.dtype) * sigma).sum(), rest, allow_unused=True)
        grads.update({id(p): torch.zeros_like(p) if gi is None else gi for p, gi in zip(rest, g)})
        self._grads = [grads[id(p)] for p in self.prior.parameters()]
        self._envelope = (value, None, None, None)          # drop the n x n pieces
        return self._grads

    def start(self, prior_sd: np.ndarray, post_fraction: float = 0.3) -> None:
        """The prior SDs (the posterior is computed by the first ``refresh``)."""
        self._start_sites(prior_sd, post_fraction)
        with torch.no_grad():
            self.alpha.zero_()
        self.refreshed, self._factor, self._envelope = False, None, None

    def conditional_mean(self, new_data: np.ndarray) -> torch.Tensor:
        """Kriging of new levels: ``E[b_new | b = m] = (k_new kron Sigma) alpha``, ``(m, dim)``."""
        k = self.prior.cross_correlation(new_data).to(self.alpha.dtype)
        return k @ self.alpha @ self.prior.cov().detach().to(self.alpha.dtype)

    def covariance_quadratic(self, site: np.ndarray) -> np.ndarray:
        """``site^T A^-1 site`` for ``site`` of shape ``(n_levels, dim, p)``: ``(p, p)``."""
        factor = self._need_factor()
        M = torch.as_tensor(site.reshape(factor.D, -1), dtype=factor.L.dtype, device=factor.L.device)
        return (M.T @ factor.covariance_times(M)).cpu().numpy()

    def _need_factor(self) -> DenseFactor:
        if self._factor is None:
            raise EngineError(f"term {self.text!r}: the dense posterior has not been refreshed")
        return self._factor

    # -- the refresh -------------------------------------------------------------------------
    def _fail(self, what: str) -> None:
        raise ConvergenceError(f"term {self.text!r}: the posterior of its {self.prior.name} prior "
                               f"{what} ({self.prior.describe()}); the data may not identify the "
                               f"structure (too few levels or rows per level?)")

    def refresh(self, eta_other: torch.Tensor, v_other: torch.Tensor, X_t: torch.Tensor,
                codes: torch.Tensor, expectation, gaussian: bool, row_weights=None) -> None:
        """Set ``q(b)`` to its optimum given everything else (see the module docstring).

        Args:
            eta_other: Mean linear predictor of the other parts, ``(n,)``.
            v_other: Its variance under ``q``, ``(n,)``.
            X_t: The term's model matrix, ``(n, dim)``.
            codes: Level codes, ``(n,)``.
            expectation: ``f(m, v) -> E_q[log p(y_r)]`` per row (differentiable).
            gaussian: Whether one Newton step is exact (Gaussian, identity link).
            row_weights: Prior weights per row or ``None``.

        Raises:
            ConvergenceError: The posterior precision is not positive definite or
                Newton diverged.
        """
        f64 = dict(dtype=torch.float64, device=self.site_mean.device)
        K, k_grad = self.prior.correlation_and_gradient()   # k_grad: for ``_partial_gradients``
        K, sigma = K.to(**f64), self.prior.cov().detach().to(**f64)
        X = X_t.detach().to(**f64).reshape(len(codes), self.dim)
        rw = torch.ones(len(codes), **f64) if row_weights is None else row_weights.detach().to(**f64)
        eta0, v0 = eta_other.detach().to(**f64), v_other.detach().to(**f64)
        m = self.site_mean.detach().to(**f64) if self.refreshed else torch.zeros(self.n_levels, self.dim, **f64)
        S = self.site_cov.detach().to(**f64)
        outer = X[:, :, None] * X[:, None, :]
        for _ in range(1 if gaussian else NEWTON_STEPS):
            m_rows = eta0 + (X * m[codes]).sum(-1)
            v_rows = v0 + torch.einsum("ni,nij,nj->n", X, S[codes], X)
            g, h = gradient_curvature(expectation, m_rows, v_rows)
            g, h = torch.as_tensor(g, **f64), torch.as_tensor(np.maximum(h, MIN_CURVATURE), **f64)
            W = torch.zeros(self.n_levels, self.dim, self.dim, **f64).index_add_(
                0, codes, (rw * h)[:, None, None] * outer)
            grad = torch.zeros(self.n_levels, self.dim, **f64).index_add_(0, codes, (rw * g)[:, None] * X)
            try:
                factor = DenseFactor(K, sigma, W)
            except NotPositiveDefiniteError:
                self._fail("broke down")
            alpha = factor.alpha(grad + torch.einsum("gij,gj->gi", W, m))
            new, S = factor.mean(alpha), factor.diagonal_blocks()
            change = float((new - m).abs().max() / (1.0 + new.abs().max()))
            m = new
            if not bool(torch.isfinite(m).all()):
                self._fail("diverged")
            if change < NEWTON_TOL:
                break
        self._factor = factor
        self._envelope = (*factor.envelope(alpha), k_grad)
        with torch.no_grad():
            self.site_mean.copy_(m.to(self.site_mean.dtype))
            self.site_cov.copy_(S.to(self.site_cov.dtype))
            self.alpha.copy_(alpha.to(self.alpha.dtype))
        self.refreshed = True
