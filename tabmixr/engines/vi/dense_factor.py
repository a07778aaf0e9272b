"""The optimal Gaussian posterior of a ``K kron Sigma`` prior, without inverting ``K``.

For effects ``b`` (``D = n q``, level-major) with prior ``N(0, C)``,
``C = K kron Sigma``, and a likelihood whose rows each touch one level, the
optimal Gaussian ``q(b) = N(m, A^-1)`` has ``A = C^-1 + W`` with a block
diagonal ``W`` (``q x q`` PSD blocks ``W_g = U_g U_g^T``, the expected
curvature of the level's rows).  Everything is taken from the factor of

    B = I + U^T C U      (eigenvalues >= 1: well conditioned, unlike ``K``)

as in Rasmussen & Williams (2006), "Gaussian Processes for Machine
Learning", Algorithms 3.1-3.2 and eq. 5.9:

* ``A^-1 = C - C U B^-1 U^T C``, so ``U A^-1 U = I - B^-1`` (``U`` block
  symmetric): a level's block is ``U_g^-1 (I - B^-1)_gg U_g^-1`` where its
  data are informative enough (``STRONG_RATIO``), else from a triangular
  solve with its own columns;
* the mean ``m = A^-1 r`` of a Newton step with right-hand side ``r`` is
  ``m = C alpha``, ``alpha = r - U B^-1 U^T C r`` (so ``alpha = C^-1 m``);
* ``KL(q || prior) = 0.5 * (tr(B^-1) - D + log det B + alpha^T m)``
  (``tr(C^-1 A^-1) = tr(B^-1)``, ``log det C + log det A = log det B``);
* at fixed ``q`` the KL's derivative in ``C`` is
  ``0.5 * (U B^-1 U^T - alpha alpha^T)``, mapped to ``K`` and ``Sigma``
  through ``dC = dK kron Sigma + K kron dSigma``.

Work: one dense Cholesky of ``B``, one triangular solve and one inverse
from it, each ``O(D^3)``, and no autograd through any of them.
"""

from __future__ import annotations

import torch

from tabmixr.errors import NotPositiveDefiniteError


#: A level's block of ``A^-1`` comes from ``B^-1`` when ``lambda_min(W_g) >= STRONG_RATIO *
#: (lambda_max(W_g) + 1 / lambda_min(Sigma))`` (rounding error <= 1e4 eps relative).
STRONG_RATIO = 1e-4


def block_roots(W: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Symmetric PSD square roots of the ``q x q`` blocks ``W_g`` and their inverses.

    Args:
        W: ``(n, q, q)`` PSD blocks (negative eigenvalues from rounding count as 0).

    Returns:
        ``(U, U_inv, lam_min, lam_max)``: ``U_g = W_g^1/2`` and ``W_g^-1/2``
        (``(n, q, q)``; 0 where a block is singular) and the extreme
        eigenvalues of each block (``(n,)``).
    """
    if W.shape[-1] == 1:
        w = W[:, 0, 0].clamp(min=0.0)
        u = torch.sqrt(w)
        u_inv = torch.where(w > 0, 1.0 / torch.where(w > 0, u, torch.ones_like(u)), torch.zeros_like(u))
        return u[:, None, None], u_inv[:, None, None], w, w
    values, vectors = torch.linalg.eigh(W)
    values = values.clamp(min=0.0)
    root = torch.sqrt(values)
    inv = torch.where(values > 0, 1.0 / torch.where(values > 0, root, torch.ones_like(root)),
                      torch.zeros_like(root))
    Vt = vectors.transpose(1, 2)
    return (vectors * root[:, None, :]) @ Vt, (vectors * inv[:, None, :]) @ Vt, values[:, 0], values[:, -1]


class DenseFactor:
    """``B = I + U^T (K kron Sigma) U`` factored once, with the posterior's pieces.

    Args:
        K: Correlation of the levels, ``(n, n)``.
        Sigma: Per-level covariance, ``(q, q)``.
        W: Data precision blocks, ``(n, q, q)`` (PSD).

    Raises:
        NotPositiveDefiniteError: ``B`` is not positive definite (``K`` or
            ``Sigma`` not positive semi-definite, or non-finite values).
    """

    def __init__(self, K: torch.Tensor, Sigma: torch.Tensor, W: torch.Tensor):
        self.K, self.Sigma = K, Sigma
        self.n, self.q = K.shape[0], Sigma.shape[0]
        self.D = self.n * self.q
        self.U, self.U_inv, lam_min, lam_max = block_roots(W)
        sigma_min = torch.linalg.eigvalsh(Sigma)[0].clamp(min=1e-300)
        self.strong = lam_min >= STRONG_RATIO * (lam_max + 1.0 / sigma_min)
        self.C = torch.kron(K, Sigma) if self.q > 1 else K * Sigma[0, 0]
        if self.q == 1:
            u = self.U[:, 0, 0]
            B = self.C * u[:, None]
            B.mul_(u[None, :])            # only the lower triangle is read
        else:
            B = self.u_t(self.u_t(self.C).T)
        B.diagonal().add_(1.0)
        self.L, info = torch.linalg.cholesky_ex(B)
        del B
        if int(info) != 0 or not bool(torch.isfinite(torch.diagonal(self.L)).all()):
            raise NotPositiveDefiniteError("I + U^T C U is not positive definite", int(info) or None)
        self._B_inv: torch.Tensor | None = None

    # -- U as a block-diagonal operator ------------------------------------------------
    def u_t(self, X: torch.Tensor) -> torch.Tensor:
        """``U^T X`` for ``X`` of shape ``(D, ...)``."""
        if self.q == 1:
            return self.U[:, 0, 0].reshape(-1, *([1] * (X.dim() - 1))) * X
        Xb = X.reshape(self.n, self.q, -1)
        return torch.einsum("gki,gkc->gic", self.U, Xb).reshape(X.shape)

    def u(self, X: torch.Tensor) -> torch.Tensor:
        """``U X`` for ``X`` of shape ``(D, ...)``."""
        if self.q == 1:
            return self.u_t(X)
        Xb = X.reshape(self.n, self.q, -1)
        return torch.einsum("gki,gic->gkc", self.U, Xb).reshape(X.shape)

    # -- the posterior --------------------------------------------------------------------
    def logdet(self) -> torch.Tensor:
        """``log det B`` (``= log det C + log det A``)."""
        return 2.0 * torch.log(torch.diagonal(self.L)).sum()

    def alpha(self, rhs: torch.Tensor) -> torch.Tensor:
        """``alpha = C^-1 A^-1 rhs`` for ``rhs`` of shape ``(n, q)``; the mean is ``C alpha``."""
        r = rhs.reshape(self.D, 1)
        s = torch.cholesky_solve(self.u_t(self.C @ r), self.L)
        return (r - self.u(s)).reshape(self.n, self.q)

    def mean(self, alpha: torch.Tensor) -> torch.Tensor:
        """``m = C alpha``, ``(n, q)``."""
        return (self.C @ alpha.reshape(self.D, 1)).reshape(self.n, self.q)

    def B_inv(self) -> torch.Tensor:
        """``B^-1``, ``(D, D)`` (computed once)."""
        if self._B_inv is None:
            self._B_inv = torch.cholesky_inverse(self.L)
        return self._B_inv

    def diagonal_blocks(self) -> torch.Tensor:
        """The levels' blocks of ``A^-1``, ``(n, q, q)`` (see the module docstring)."""
        n, q = self.n, self.q
        eye = torch.eye(q, dtype=self.L.dtype, device=self.L.device)
        Bd = torch.diagonal(self.B_inv().reshape(n, q, n, q), dim1=0, dim2=2).permute(2, 0, 1)
        S = self.U_inv @ (eye - Bd) @ self.U_inv
        weak = torch.nonzero(~self.strong).reshape(-1)
        if len(weak):
            cols = (weak[:, None] * q + torch.arange(q, device=weak.device)[None, :]).reshape(-1)
            V = torch.linalg.solve_triangular(self.L, self.u_t(self.C[:, cols]), upper=False)
            V = V.reshape(self.D, len(weak), q)
            prior = torch.diagonal(self.K)[weak][:, None, None] * self.Sigma
            S[weak] = prior - torch.einsum("kgi,kgj->gij", V, V)
        return 0.5 * (S + S.transpose(1, 2))

    def covariance_times(self, M: torch.Tensor) -> torch.Tensor:
        """``A^-1 M`` for ``M`` of shape ``(D, p)``."""
        Y = self.C @ M
        return Y - self.C @ self.u(torch.cholesky_solve(self.u_t(Y), self.L))

    def envelope(self, alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The KL at this posterior and its derivatives in ``K`` and ``Sigma`` at fixed ``q``.

        Args:
            alpha: ``C^-1 m``, ``(n, q)`` (from ``alpha``).

        Returns:
            ``(kl, dkl_dK, dkl_dSigma)``: a scalar, ``(n, n)`` and ``(q, q)``.
        """
        a = alpha.reshape(self.D)
        B_inv = self.B_inv()
        kl = 0.5 * (torch.diagonal(B_inv).sum() - self.D + self.logdet() + a @ (self.C @ a))
        if self.q == 1:          # 0.5 (U B^-1 U - a a^T), in B^-1's memory (n^2 passes are dear)
            u = self.U[:, 0, 0]
            G = B_inv.mul_(u[:, None]).mul_(u[None, :]).addr_(a, a, alpha=-1.0).mul_(0.5)
            self._B_inv = None
            d_sigma = (G.reshape(-1) @ self.K.reshape(-1)).reshape(1, 1)
            return kl, G.mul_(self.Sigma[0, 0]), d_sigma
        G = self.u(self.u(B_inv).T)                     # U B^-1 U^T (symmetric)
        G = 0.5 * (G - torch.outer(a, a))
        G4 = G.reshape(self.n, self.q, self.n, self.q)
        return kl, torch.einsum("gihj,ij->gh", G4, self.Sigma), torch.einsum("gihj,gh->ij", G4, self.K)

    def sample(self, eps: torch.Tensor) -> torch.Tensor:
        """``A^-1/2 eps`` (a factor of the posterior covariance) for ``eps`` of shape ``(D, s)``.

        Forms ``A^-1`` and its Cholesky factor (``O(D^3)``; sampling is rare).
        """
        S = self.covariance_times(torch.eye(self.D, dtype=eps.dtype, device=eps.device))
        S = 0.5 * (S + S.T)
        jitter = 1e-10 * float(torch.diagonal(S).abs().max().clamp(min=1e-300))
        L, _ = torch.linalg.cholesky_ex(S + jitter * torch.eye(self.D, dtype=S.dtype, device=S.device))
        return L @ eps
