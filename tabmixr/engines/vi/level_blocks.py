"""Per-level moments of a profiled posterior that stores its levels' marginal blocks.

``DensePosterior`` (``gp`` terms) and ``KinPosterior`` (``kin`` terms on a
pedigree) both hold, after each ``refresh``, the posterior mean of every
level's ``dim``-vector (``site_mean``, ``(n_levels, dim)``) and its marginal
covariance block (``site_cov``, ``(n_levels, dim, dim)``).  Each row of the
data meets one level, so those blocks are all the expected log-likelihood
needs: ``x_i^T b_g`` has mean ``x_i^T m_g`` and variance ``x_i^T S_g x_i``.
"""

from __future__ import annotations

import torch

from tabmixr.errors import ConvergenceError


class LevelBlocks:
    """``mu``, ``L_post``, ``mean`` and ``moments`` from ``site_mean`` and ``site_cov``.

    A mixin for ``ProfiledPosterior`` subclasses that register those two
    buffers (and ``text``, ``dim``, ``prior`` for messages).
    """

    @property
    def mu(self) -> torch.Tensor:
        """Posterior means of the levels' effects, ``(n_levels, dim)``."""
        return self.site_mean

    def L_post(self) -> torch.Tensor:
        """Cholesky factors of the levels' marginal posterior blocks, ``(n_levels, dim, dim)``.

        Raises:
            ConvergenceError: A block is not positive definite (the message
                names the term and its prior).
        """
        if self.dim == 1:
            return torch.sqrt(self.site_cov.clamp(min=0.0))
        L, info = torch.linalg.cholesky_ex(self.site_cov)
        if bool((info != 0).any()):
            raise ConvergenceError(f"term {self.text!r}: a level's posterior covariance is not "
                                   f"positive definite ({self.prior.describe()})")
        return L

    def mean(self, X_t: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Mean of ``x_i^T b_g`` under ``q``, ``(n,)`` (rows with code ``-1``: 0)."""
        known = (codes >= 0).to(X_t.dtype)
        return ((X_t * known[:, None]) * self.site_mean[codes.clamp(min=0)]).sum(-1)

    def moments(self, X_t: torch.Tensor, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of ``x_i^T b_g`` under ``q``: two ``(n,)``."""
        known = (codes >= 0).to(X_t.dtype)
        idx = codes.clamp(min=0)
        Xk = X_t * known[:, None]
        var = torch.einsum("ni,nij,nj->n", Xk, self.site_cov[idx], Xk)
        return (Xk * self.site_mean[idx]).sum(-1), var
