"""Posterior of an ``spde`` term: a Gaussian over the grid's nodes, refreshed from the data.

The sites' effects are ``b = P w`` (``tabmixr.covariance.spde``).  The
optimal Gaussian ``q(w)`` for a likelihood whose rows each touch one site
has a sparse precision (Opper & Archambeau 2009)

    A = Q + P^T diag(lambda) P,     lambda_s = sum_{rows at s} w_r x_r^2 h_r,

with ``h_r = -2 dE_q[log p(y_r)] / dv_r`` the expected curvature, on ``Q``'s
own pattern (nodes that share a cell are neighbours of the 13-point stencil).
Rather than learning ``q(w)`` by gradient steps over tens of thousands of
correlated nodes, ``refresh`` computes it from the full data and the current
values of everything else: one Newton step for a Gaussian response (then
exact, and the ELBO equals the marginal likelihood), Newton iterations to
convergence otherwise.  Each step is one sparse Cholesky of ``A``
(``tabmixr.linalg.SparseCholesky``) and its selected inverse, which gives
the sites' marginal variances ``p_s^T A^-1 p_s`` and ``tr(Q A^-1)``.

With ``q(w)`` at its optimum, the gradient of the ELBO in every other
parameter is its partial derivative at fixed ``q(w)`` (the envelope
theorem), so the site means and variances enter the expected
log-likelihood as constants, and the KL divergence

    KL = 0.5 * (tr(Q A^-1) + m^T Q m - N + log det A - log det Q)

carries gradients only through ``Q(kappa, tau)``.  The trainer refreshes
it before every full-batch evaluation (L-BFGS) or at the start of every
epoch (Adam; coordinate ascent) through ``tabmixr.engines.vi.profiled``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from tabmixr.engines.vi.profiled import (MIN_CURVATURE, ProfiledPosterior, gradient_curvature,
                                         newton_change)
from tabmixr.errors import ConvergenceError, EngineError, NotPositiveDefiniteError

#: Newton iterations of a non-Gaussian refresh, and their relative tolerance.
NEWTON_STEPS, NEWTON_TOL = 30, 1e-8


class SpdePosterior(ProfiledPosterior):
    """``q(w) = N(m, A^-1)`` over the nodes of an ``spde`` term (one effect per site).

    Same constructor and interface as ``TermPosterior`` (``mu``, ``moments``,
    ``mean``, ``contribution``, ``L_post``, ``kl``, ``start``, ``sample``);
    its state lives in buffers that ``refresh`` fills.
    """

    kind = "an spde() term"

    def __init__(self, q: int, n_levels: int, covariance: str, n_eta: int = 1, text: str = "",
                 args: dict | None = None):
        super().__init__(q, n_levels, covariance, n_eta, text, args)
        N = self.prior.n_nodes
        self.register_buffer("scale", torch.ones(self.dim))
        self.register_buffer("node_mean", torch.zeros(N))
        self.register_buffer("site_mean", torch.zeros(n_levels))
        self.register_buffer("site_var", torch.ones(n_levels))
        self._chol = None
        self._kl_weights: torch.Tensor | None = None  # S_Q + m m^T on Q's pattern
        self._logdet_A = 0.0

    # -- the interface the model uses -------------------------------------------------
    @property
    def mu(self) -> torch.Tensor:
        """Posterior means of the sites' effects, ``(n_levels, 1)``."""
        return self.site_mean[:, None]

    def L_post(self) -> torch.Tensor:
        """Marginal posterior SDs of the sites, ``(n_levels, 1, 1)``."""
        return torch.sqrt(self.site_var)[:, None, None]

    def mean(self, X_t: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        known = (codes >= 0).to(X_t.dtype)
        return X_t[:, 0] * known * self.site_mean[codes.clamp(min=0)]

    def moments(self, X_t: torch.Tensor, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        known = (codes >= 0).to(X_t.dtype)
        idx = codes.clamp(min=0)
        x = X_t[:, 0] * known
        return x * self.site_mean[idx], x * x * self.site_var[idx]

    def sample(self, n_samples: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draws of the sites' effects, ``(n_samples, n_levels, 1)`` (no gradient)."""
        if self._chol is None:
            raise EngineError(f"term {self.text!r}: the spde posterior has not been refreshed")
        z = torch.randn((self.prior.n_nodes, n_samples), generator=generator, dtype=torch.float64)
        w = self.node_mean.cpu().numpy()[:, None] + self._chol.sample(z.numpy())
        b = self._projector() @ w
        return torch.as_tensor(b.T[:, :, None], dtype=self.site_mean.dtype,
                               device=self.site_mean.device)

    def kl(self) -> torch.Tensor:
        """``KL(q(w) || N(0, Q^-1))``, with gradients in the prior's parameters only."""
        if self._kl_weights is None:
            raise EngineError(f"term {self.text!r}: the spde posterior has not been refreshed")
        q_vals = self.prior.precision_values()
        weights = self._kl_weights.to(q_vals.dtype)
        return 0.5 * ((q_vals * weights).sum() - self.prior.n_nodes + self._logdet_A
                      - self.prior.logdet_precision())

    def start(self, prior_sd: np.ndarray, post_fraction: float = 0.3) -> None:
        """The prior SD (the posterior is computed by the first ``refresh``)."""
        self.prior.set_scale(prior_sd)
        with torch.no_grad():
            self.node_mean.zero_()
            self.site_mean.zero_()
            self.site_var.fill_(float(np.ravel(prior_sd)[0]) ** 2 * post_fraction ** 2)
        self.refreshed = False

    def conditional_mean(self, new_data: np.ndarray) -> torch.Tensor:
        """Kriging of new sites: ``E[b_new] = p_new^T m``, ``(m, 1)``.

        Raises:
            EngineError: A new site lies outside the term's grid.
        """
        try:
            Pn = self.prior.projector(new_data)
        except Exception as err:  # SpdeError from the projector names the point
            raise EngineError(f"term {self.text!r}: new sites must lie on the fitted grid "
                              f"({err})") from None
        b = Pn @ self.node_mean.cpu().numpy()
        return torch.as_tensor(b[:, None], dtype=self.site_mean.dtype)

    def covariance_quadratic(self, site: np.ndarray) -> np.ndarray:
        """``site^T Cov_q(b) site`` for ``site`` of shape ``(n_levels, 1, p)`` (``b = P w``)."""
        if self._chol is None:
            raise EngineError(f"term {self.text!r}: the spde posterior has not been refreshed")
        M = self._projector().T @ site[:, 0, :]                  # (N, p)
        return M.T @ self._chol.solve(M)

    # -- the refresh -------------------------------------------------------------------------
    def _projector(self) -> sp.csr_array:
        if getattr(self, "_P", None) is None:
            self._P = self.prior.projector()
        return self._P

    def _cells(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per site: its (up to 4) nodes, weights and the positions of the 16 node
        pairs in ``Q``'s pattern (padding: weight 0 on the site's first node)."""
        if getattr(self, "_cell_cache", None) is None:
            P = self._projector()
            pat = self.prior.pattern()
            n = P.shape[0]
            nodes = np.zeros((n, 4), dtype=np.int64)
            weights = np.zeros((n, 4))
            counts = np.diff(P.indptr)
            for k in range(4):
                has = counts > k
                nodes[has, k] = P.indices[P.indptr[:-1][has] + k]
                nodes[~has, k] = nodes[~has, 0]  # padding: the site's first node, weight 0
                weights[has, k] = P.data[P.indptr[:-1][has] + k]
            N = self.prior.n_nodes
            keys = nodes[:, None, :] * N + nodes[:, :, None]  # (col, row) key of pair (a, b)
            pos = np.searchsorted(pat["keys"], keys)
            pos = np.minimum(pos, len(pat["keys"]) - 1)
            if not np.all(pat["keys"][pos] == keys):
                raise EngineError(f"term {self.text!r}: a cell's nodes fall outside Q's pattern")
            self._cell_cache = (nodes, weights, pos)
        return self._cell_cache

    def refresh(self, eta_other: torch.Tensor, v_other: torch.Tensor, x: torch.Tensor,
                codes: torch.Tensor, expectation, gaussian: bool, row_weights=None) -> None:
        """Set ``q(w)`` to its optimum given everything else (see the module docstring).

        Args:
            eta_other: Mean linear predictor of the other parts, ``(n,)``.
            v_other: Its variance under ``q``, ``(n,)``.
            x: The term's model-matrix column, ``(n,)`` or ``(n, 1)``.
            codes: Site codes, ``(n,)``.
            expectation: ``f(m, v) -> E_q[log p(y_r)]`` per row (differentiable).
            gaussian: Whether one Newton step is exact (Gaussian, identity link).
            row_weights: Prior weights per row or ``None``.

        Raises:
            ConvergenceError: ``A`` is not positive definite or Newton diverged.
        """
        from tabmixr.linalg.sparse_cholesky import SparseCholesky

        pat = self.prior.pattern()
        nodes, cw, pos = self._cells()
        P = self._projector()
        n_sites = self.n_levels
        c = codes.cpu().numpy()
        xv = x.detach().cpu().numpy().astype(np.float64).reshape(len(c))
        rw = np.ones_like(xv) if row_weights is None else row_weights.detach().cpu().numpy()
        with torch.no_grad():
            q_vals = self.prior.precision_values().cpu().numpy().astype(np.float64)
        eta0 = eta_other.detach().to(torch.float64)
        v0 = v_other.detach().to(torch.float64)
        m_nodes = self.node_mean.detach().cpu().numpy().astype(np.float64)
        if not self.refreshed:
            m_nodes = np.zeros_like(m_nodes)
        site_var = self.site_var.detach().cpu().numpy().astype(np.float64)
        if self._chol is None:
            self._chol = SparseCholesky(pat["Q"], factorize=False)
        pair_w = cw[:, :, None] * cw[:, None, :]
        for step in range(1 if gaussian else NEWTON_STEPS):
            site_mean = P @ m_nodes
            m = eta0 + torch.as_tensor(xv * site_mean[c])
            v = v0 + torch.as_tensor(xv * xv * site_var[c])
            g, h = gradient_curvature(expectation, m, v)
            h = np.maximum(h, MIN_CURVATURE)
            lam = np.bincount(c, weights=rw * xv * xv * h, minlength=n_sites)
            grad_site = np.bincount(c, weights=rw * xv * g, minlength=n_sites)
            A_vals = q_vals + np.bincount(pos.ravel(), weights=(lam[:, None, None] * pair_w).ravel(),
                                          minlength=len(q_vals))
            try:
                self._chol.factorize(A_vals)
            except NotPositiveDefiniteError:
                raise ConvergenceError(f"term {self.text!r}: the spde posterior precision is not "
                                       f"positive definite ({self.prior.describe()})") from None
            new = self._chol.solve(P.T @ (grad_site + lam * site_mean))
            S = self._chol.selected_inverse(pattern="Q")   # all the keys lie on the analysed pattern
            S_vals = _values_at(S, pat["keys"])
            site_var = (pair_w * S_vals[pos]).sum(axis=(1, 2))
            change = newton_change(new, m_nodes, self.text, "the spde posterior")
            m_nodes = new
            if change < NEWTON_TOL:
                break
        mm = m_nodes[pat["rows"]] * m_nodes[pat["cols"]]
        dtype, device = self.site_mean.dtype, self.site_mean.device
        with torch.no_grad():
            self.node_mean.copy_(torch.as_tensor(m_nodes, dtype=dtype))
            self.site_mean.copy_(torch.as_tensor(P @ m_nodes, dtype=dtype))
            self.site_var.copy_(torch.as_tensor(site_var, dtype=dtype))
        self._kl_weights = torch.as_tensor(S_vals + mm, dtype=torch.float64, device=device)
        self._logdet_A = float(self._chol.logdet())
        self.refreshed = True


def _values_at(S: sp.csc_array, keys: np.ndarray) -> np.ndarray:
    """Entries of the selected inverse ``S`` at the pattern ``keys`` (col * n + row)."""
    n = S.shape[0]
    s_keys = np.repeat(np.arange(n, dtype=np.int64), np.diff(S.indptr)) * n + S.indices
    return S.data[np.searchsorted(s_keys, keys)]
