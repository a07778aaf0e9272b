"""Posterior of a ``kin()`` term on a pedigree: a sparse Gaussian over every animal, refreshed.

The prior covers all ``N`` pedigree animals, ancestors without records
included: ``u ~ N(0, A kron Sigma)``, and the term's levels (the animals
with records) are ``b_g = u[level_index[g]]``.  For a likelihood whose rows
each touch one level, the optimal Gaussian ``q(u) = N(m, Lambda^-1)`` has
the sparse precision (Opper & Archambeau 2009)

    Lambda = A^-1 kron Sigma^-1 + sum_g E_g W_g E_g^T,
    W_g = sum_{rows at g} w_r h_r x_r x_r^T,

with ``h_r = -2 dE_q[log p(y_r)] / dv_r`` the expected curvature, on the
pattern of Henderson's ``A^-1`` (``kin_pattern.py``): no dense matrix of
the animals is formed, and the dense structured posterior's limit
(``structured.py``) does not apply.  ``refresh`` computes ``q(u)`` from the
full data and the current values of everything else, as for ``spde`` terms
(``spde_posterior.py``): one Newton step for a Gaussian response (then
exact, and the ELBO equals the marginal likelihood), Newton iterations to
convergence otherwise.  Each step is one sparse Cholesky of ``Lambda``
(symbolic analysis once) and its selected inverse on ``Lambda``'s pattern,
which holds the levels' marginal blocks and everything the KL needs.

By the envelope theorem only the prior's ``Sigma`` carries gradients, through
the closed form at fixed ``q``:

    KL = 0.5 * (sum(Sigma^-1 * C) - N q + log det Lambda
                + q log det A + N log det Sigma),

``C_ab = sum_ij (A^-1)_ij (S + m m^T)_{(i,a),(j,b)}`` from the selected
inverse ``S`` (``KinPattern.kl_moment``), ``log det A = sum log d_i``.

Animals of the pedigree without records in the fit have posterior means
``E[u_n | y] = -P_nn^-1 P_no m_o`` (``P = A^-1``: kriging through
relatives); ``refresh`` already holds them (``animal_mean``), and
``conditional_mean_ids`` hands them to ``predict``.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from tabmixr.engines.vi.kin_pattern import KinPattern
from tabmixr.engines.vi.level_blocks import LevelBlocks
from tabmixr.engines.vi.profiled import (MIN_CURVATURE, ProfiledPosterior, gradient_curvature,
                                         newton_change)
from tabmixr.errors import ConvergenceError, EngineError, NotPositiveDefiniteError

#: Newton iterations of a non-Gaussian refresh, and their relative tolerance.
NEWTON_STEPS, NEWTON_TOL = 30, 1e-8


class NewAnimalWarning(UserWarning):
    """New levels of a ``kin()`` term that are not in its pedigree got the population mean."""


class KinPosterior(LevelBlocks, ProfiledPosterior):
    """``q(u) = N(m, Lambda^-1)`` over every animal of a ``kin()`` term's pedigree.

    Same constructor and interface as ``TermPosterior`` (``mu``, ``moments``,
    ``mean``, ``contribution``, ``L_post``, ``kl``, ``start``, ``sample``);
    its state lives in buffers that ``refresh`` fills.  ``args["animals"]``
    (set by the engine's ``structure_args``) lists the pedigree's ids in its
    order; the relationship itself is handed over by ``set_relationship``.

    Raises:
        EngineError: A family with several linear predictors, or no pedigree ids.
    """

    kind = "the sparse posterior of a kin() term"

    def __init__(self, q: int, n_levels: int, covariance: str, n_eta: int = 1, text: str = "",
                 args: dict | None = None):
        super().__init__(q, n_levels, covariance, n_eta, text, args)
        ids = (args or {}).get("animals")
        if ids is None:
            raise EngineError(f"term {text!r}: {self.kind} needs the pedigree's ids "
                              "(args['animals']); fit with kin(1 | animal, pedigree = ...)")
        self.animal_ids = [str(a) for a in ids]
        self.n_animals = len(self.animal_ids)
        self.register_buffer("site_mean", torch.zeros(n_levels, self.dim))
        self.register_buffer("site_cov", torch.eye(self.dim).repeat(n_levels, 1, 1))
        self.register_buffer("animal_mean", torch.zeros(self.n_animals, self.dim))
        self._pattern: KinPattern | None = None
        self._logdet_A: float | None = None
        self._chol = None
        self._moment: np.ndarray | None = None     # C of the module docstring
        self._logdet_post = 0.0

    # -- the relationship ----------------------------------------------------------------
    def set_relationship(self, relationship) -> None:
        """Use a term's pedigree relationship (``tabmixr.design.relmat.Relationship``).

        Raises:
            EngineError: The relationship has no pedigree or covers other animals.
        """
        if relationship.pedigree is None:
            raise EngineError(f"term {self.text!r}: {self.kind} needs a pedigree "
                              "(kin(1 | animal, pedigree = ...)), not a matrix")
        if list(relationship.ids) != self.animal_ids:
            raise EngineError(f"term {self.text!r}: the pedigree covers {relationship.n} animals, "
                              f"the posterior was built for {self.n_animals} others")
        self._pattern = KinPattern(relationship.precision(), relationship.level_index, self.dim)
        self._logdet_A = float(relationship.logdet)
        self._chol = None

    # -- the interface the model uses (mu, L_post, mean, moments: ``LevelBlocks``) --------
    def sample(self, n_samples: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draws of the levels' effects, ``(n_samples, n_levels, dim)`` (no gradient)."""
        chol, pat = self._need_factor(), self._pattern
        z = torch.randn((pat.n, n_samples), generator=generator, dtype=torch.float64)
        dev = chol.sample(z.numpy()).reshape(pat.N, self.dim, n_samples)[pat.level_index]
        b = self.site_mean.detach().cpu().numpy()[:, :, None] + dev
        return torch.as_tensor(np.moveaxis(b, 2, 0), dtype=self.site_mean.dtype,
                               device=self.site_mean.device)

    def kl(self) -> torch.Tensor:
        """``KL(q(u) || N(0, A kron Sigma))``, with gradients in ``Sigma`` only."""
        if self._moment is None:
            raise EngineError(f"term {self.text!r}: {self.kind} has not been refreshed")
        L = self.prior.chol()
        sigma = L @ L.T
        C = torch.as_tensor(self._moment, dtype=sigma.dtype, device=sigma.device)
        trace = (torch.cholesky_inverse(L) * C).sum()
        logdet_sigma = 2.0 * torch.log(torch.diagonal(L)).sum()
        N, q = self.n_animals, self.dim
        return 0.5 * (trace - N * q + self._logdet_post + q * self._logdet_A + N * logdet_sigma)

    def start(self, prior_sd: np.ndarray, post_fraction: float = 0.3) -> None:
        """The prior SDs (the posterior is computed by the first ``refresh``)."""
        self._start_sites(prior_sd, post_fraction)
        with torch.no_grad():
            self.animal_mean.zero_()
        self.refreshed, self._moment = False, None

    def conditional_mean_ids(self, labels) -> torch.Tensor:
        """Effects of new levels by their ids: ``E[u_n | y]`` for pedigree animals, ``(m, dim)``.

        Animals absent from the pedigree get the population mean (zero), with
        a ``NewAnimalWarning`` naming a few of them.
        """
        index = {a: i for i, a in enumerate(self.animal_ids)}
        pos = np.array([index.get(str(a), -1) for a in labels], dtype=np.int64)
        out = self.animal_mean[np.maximum(pos, 0)] * torch.as_tensor(pos >= 0)[:, None]
        missing = [str(a) for a, p in zip(labels, pos) if p < 0]
        if missing:
            shown = ", ".join(map(repr, missing[:5])) + (" ..." if len(missing) > 5 else "")
            warnings.warn(f"term {self.text!r}: {len(missing)} new level(s) are not in the "
                          f"pedigree and get the population mean: {shown}", NewAnimalWarning,
                          stacklevel=4)
        return out

    def covariance_quadratic(self, site: np.ndarray) -> np.ndarray:
        """``site^T Cov_q(b) site`` for ``site`` of shape ``(n_levels, dim, p)``: ``(p, p)``."""
        chol, pat = self._need_factor(), self._pattern
        M = np.zeros((pat.N, self.dim, site.shape[2]))
        M[pat.level_index] = site
        M = M.reshape(pat.n, -1)
        return M.T @ chol.solve(M)

    def _need_factor(self):
        if self._chol is None or not self.refreshed:
            raise EngineError(f"term {self.text!r}: {self.kind} has not been refreshed")
        return self._chol

    # -- the refresh -------------------------------------------------------------------------
    def refresh(self, eta_other: torch.Tensor, v_other: torch.Tensor, X_t: torch.Tensor,
                codes: torch.Tensor, expectation, gaussian: bool, row_weights=None) -> None:
        """Set ``q(u)`` to its optimum given everything else (see the module docstring).

        Args:
            eta_other, v_other, X_t, codes, expectation, gaussian, row_weights: As for
                ``DensePosterior.refresh`` (the other parts' mean and variance per
                row, the term's ``(n, dim)`` model matrix and level codes, the
                expected log-likelihood per row, whether one Newton step is exact,
                prior weights).

        Raises:
            EngineError: No relationship was set.
            ConvergenceError: ``Lambda`` is not positive definite or Newton diverged.
        """
        from tabmixr.linalg.sparse_cholesky import SparseCholesky

        pat = self._pattern
        if pat is None:
            raise EngineError(f"term {self.text!r}: no pedigree was set (set_relationship) "
                              "before refreshing its posterior")
        q, n_levels = self.dim, self.n_levels
        c = codes.cpu().numpy()
        known = c >= 0
        c = np.maximum(c, 0)
        X = X_t.detach().cpu().numpy().astype(np.float64).reshape(len(c), q) * known[:, None]
        rw = np.ones(len(c)) if row_weights is None else row_weights.detach().cpu().numpy()
        with torch.no_grad():
            sigma_inv = torch.cholesky_inverse(self.prior.chol()).cpu().numpy().astype(np.float64)
        prior_vals = pat.prior_values(sigma_inv)
        eta0, v0 = eta_other.detach().to(torch.float64), v_other.detach().to(torch.float64)
        u = self.animal_mean.detach().cpu().numpy().astype(np.float64)
        if not self.refreshed:
            u = np.zeros_like(u)
        S = self.site_cov.detach().cpu().numpy().astype(np.float64)
        if self._chol is None:
            self._chol = SparseCholesky(pat.matrix(prior_vals), factorize=False)
        outer = (X[:, :, None] * X[:, None, :]).reshape(len(c), q * q)
        for _ in range(1 if gaussian else NEWTON_STEPS):
            b = u[pat.level_index]
            m = eta0 + torch.as_tensor((X * b[c]).sum(-1))
            v = v0 + torch.as_tensor(np.einsum("ni,nij,nj->n", X, S[c], X))
            g, h = gradient_curvature(expectation, m, v)
            h = np.maximum(h, MIN_CURVATURE)
            W = _per_level(c, (rw * h)[:, None] * outer, n_levels).reshape(n_levels, q, q)
            grad = _per_level(c, (rw * g)[:, None] * X, n_levels)
            try:
                self._chol.factorize(prior_vals + pat.data_values(W))
            except NotPositiveDefiniteError:
                raise ConvergenceError(f"term {self.text!r}: the posterior precision of its kin() "
                                       f"prior is not positive definite ({self.prior.describe()})") \
                    from None
            rhs = np.zeros((pat.N, q))
            rhs[pat.level_index] = grad + np.einsum("gij,gj->gi", W, b)
            new = self._chol.solve(rhs.reshape(-1)).reshape(pat.N, q)
            S_vals = self._chol.selected_inverse(pattern="Q").data
            S = S_vals[pat.level_pos]
            change = newton_change(new, u, self.text, "its kin() posterior")
            u = new
            if change < NEWTON_TOL:
                break
        self._moment = pat.kl_moment(S_vals, u)
        self._logdet_post = float(self._chol.logdet())
        dtype = self.site_mean.dtype
        with torch.no_grad():
            self.animal_mean.copy_(torch.as_tensor(u, dtype=dtype))
            self.site_mean.copy_(torch.as_tensor(u[pat.level_index], dtype=dtype))
            self.site_cov.copy_(torch.as_tensor(S, dtype=dtype))
        self.refreshed = True


def _per_level(codes: np.ndarray, values: np.ndarray, n_levels: int) -> np.ndarray:
    """Column sums of ``values`` ``(n, k)`` by level code: ``(n_levels, k)``."""
    return np.stack([np.bincount(codes, weights=values[:, j], minlength=n_levels)
                     for j in range(values.shape[1])], axis=1)
