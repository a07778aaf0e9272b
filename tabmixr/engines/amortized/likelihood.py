"""Exact marginal LMM log-likelihood with the random effects integrated out.

For group ``g`` with rows ``X_g``, ``Z_g`` and ``y_g``, and ``b_g ~ N(0, L L^T)``::

    y_g ~ N(X_g beta, Z_g L L^T Z_g^T + sigma^2 I)

Writing ``b_g = L u_g`` and ``M_g = I + L^T Z_g^T Z_g L / sigma^2`` (matrix
determinant lemma and Woodbury identity), with ``r_g = y_g - X_g beta``::

    log det V_g = n_g log sigma^2 + log det M_g
    r^T V_g^-1 r = r^T r / sigma^2 - c_g^T M_g^-1 c_g,   c_g = L^T Z_g^T r_g / sigma^2
    log p(y_g) = -(n_g log 2 pi + log det V_g + r^T V_g^-1 r) / 2

Everything needs only the per-group cross-products ``X^T X``, ``X^T y``,
``y^T y``, ``Z^T Z``, ``Z^T X``, ``Z^T y`` (``GroupStats``), so one
evaluation costs ``O(G q^3)`` per parameter draw whatever the group sizes,
and ``L`` may be singular (a zero SD).  The same ``M_g`` gives the exact
Gaussian conditional of the random effects (``posterior.py``):
``u_g | y, theta ~ N(M_g^-1 c_g, M_g^-1)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch

from tabmixr.engines.amortized.parameters import GlobalParams
from tabmixr.engines.amortized.simulator import Batch


@dataclass
class GroupStats:
    """Per-group cross-products of a batch (shapes ``(B, G, ...)``).

    Attributes:
        n: Rows per group ``(B, G)``.
        XtX, Xty, yty: ``(B, G, P, P)``, ``(B, G, P)``, ``(B, G)``.
        ZtZ, ZtX, Zty: ``(B, G, Q, Q)``, ``(B, G, Q, P)``, ``(B, G, Q)``.
        group_mask: ``(B, G)`` real groups.
        beta0: ``(B, P)`` or ``None``: the cross-products with ``y`` are those of
            ``y - X beta0`` (``centered_group_stats``), and the likelihood
            reads ``beta - beta0``.
        trimmed_cache: Filled by ``trimmed`` (not part of the data).
    """

    n: torch.Tensor
    XtX: torch.Tensor
    Xty: torch.Tensor
    yty: torch.Tensor
    ZtZ: torch.Tensor
    ZtX: torch.Tensor
    Zty: torch.Tensor
    group_mask: torch.Tensor
    beta0: torch.Tensor | None = None
    trimmed_cache: tuple | None = field(default=None, repr=False, compare=False)


def trimmed(stats: GroupStats) -> tuple[GroupStats, int, int]:
    """The cross-products cut to the leading ``p`` fixed and ``q`` random columns in use.

    Columns past the last one with a nonzero entry in any data set (padding:
    fewer than ``P_MAX`` fixed effects or ``Q_MAX`` random terms) do not enter
    the likelihood: a zero column of ``X`` carries no ``beta``, and a zero
    column of ``Z`` adds an identity block to ``M_g`` (``log det`` 0, no
    quadratic term) since ``L`` is lower triangular.  Cutting them is exact
    and saves most of the work on small models.  Cached on ``stats``.

    Returns:
        ``(stats_cut, p, q)``.
    """
    if stats.trimmed_cache is None:
        def last_used(diag):
            used = (diag != 0).reshape(-1, diag.shape[-1]).any(0).nonzero()
            return int(used.max()) + 1 if used.numel() else 1
        p = last_used(torch.diagonal(stats.XtX, dim1=-2, dim2=-1))
        q = last_used(torch.diagonal(stats.ZtZ, dim1=-2, dim2=-1))
        cut = replace(stats, XtX=stats.XtX[..., :p, :p], Xty=stats.Xty[..., :p],
                      ZtZ=stats.ZtZ[..., :q, :q], ZtX=stats.ZtX[..., :q, :p], Zty=stats.Zty[..., :q],
                      beta0=None if stats.beta0 is None else stats.beta0[..., :p])
        stats.trimmed_cache = (cut, p, q)
    return stats.trimmed_cache


def group_stats(batch: Batch) -> GroupStats:
    """Cross-products over the real rows of every group (padding ignored by mask)."""
    m = batch.row_mask
    w = m.to(batch.X.dtype)
    X = torch.where(m[..., None], batch.X, torch.zeros_like(batch.X))
    Z = torch.where(m[..., None], batch.Z, torch.zeros_like(batch.Z))
    y = torch.where(m, batch.y, torch.zeros_like(batch.y))
    return GroupStats(n=w.sum(-1), XtX=X.transpose(-1, -2) @ X,
                      Xty=(X * y[..., None]).sum(-2), yty=(y * y).sum(-1),
                      ZtZ=Z.transpose(-1, -2) @ Z, ZtX=Z.transpose(-1, -2) @ X,
                      Zty=(Z * y[..., None]).sum(-2), group_mask=batch.group_mask)


def centered_group_stats(batch: Batch) -> GroupStats:
    """Cross-products of the residuals from each data set's pooled least-squares fit.

    ``r^T r = y^T y - 2 beta^T X^T y + beta^T X^T X beta`` loses every digit
    to cancellation when the residual SD is tiny against ``y`` (a residual
    SD of 1e-3 under effects of 20 and heavy-tailed predictors): it can even
    come out negative, and the log-likelihood then runs to ``+inf`` at a
    small ``sigma``.  With ``y - X beta0`` (``beta0`` the pooled OLS fit,
    ridged slightly for rank-deficient designs) and ``beta - beta0`` the
    same formulas only see the small residual scale.  The likelihood is the
    same function of ``beta``; only its rounding changes.
    """
    plain = group_stats(batch)
    XtX, Xty = plain.XtX.sum(1), plain.Xty.sum(1)                              # pooled over groups
    d = torch.diagonal(XtX, dim1=-2, dim2=-1)
    ridge = 1e-10 * d.amax(-1, keepdim=True) + (d == 0).to(d.dtype)
    beta0 = torch.linalg.solve(XtX + torch.diag_embed(ridge), Xty)
    m = batch.row_mask
    r = torch.where(m, batch.y - torch.einsum("bgnp,bp->bgn", batch.X, beta0), torch.zeros_like(batch.y))
    X = torch.where(m[..., None], batch.X, torch.zeros_like(batch.X))
    Z = torch.where(m[..., None], batch.Z, torch.zeros_like(batch.Z))
    # only the products with y change; r^T r is summed row by row, never by cancellation
    return replace(plain, Xty=(X * r[..., None]).sum(-2), yty=(r * r).sum(-1),
                   Zty=(Z * r[..., None]).sum(-2), beta0=beta0)


def index_stats(stats: GroupStats, i) -> GroupStats:
    """The cross-products of data set(s) ``i`` (an int keeps a batch axis of 1)."""
    i = slice(i, i + 1) if isinstance(i, int) else i
    parts = {f: getattr(stats, f)[i] for f in ("n", "XtX", "Xty", "yty", "ZtZ", "ZtX", "Zty",
                                                "group_mask")}
    return GroupStats(**parts, beta0=None if stats.beta0 is None else stats.beta0[i])


def cholesky_small(M: torch.Tensor) -> torch.Tensor:
    """Lower Cholesky factor of many tiny SPD matrices ``(..., q, q)``, elementwise.

    For ``q <= 3`` a loop over entries on whole ``(...)`` tensors is far
    faster than batched LAPACK calls on CPU.  A matrix that is not positive
    definite (or holds NaN) gives NaN entries, never an error.
    """
    q = M.shape[-1]
    L = [[None] * q for _ in range(q)]
    for i in range(q):
        for j in range(i + 1):
            acc = M[..., i, j]
            for k in range(j):
                acc = acc - L[i][k] * L[j][k]
            L[i][j] = torch.sqrt(acc) if i == j else acc / L[j][j]
    zero = torch.zeros_like(M[..., 0, 0])
    return torch.stack([torch.stack([L[i][j] if j <= i else zero for j in range(q)], -1)
                        for i in range(q)], -2)


def solve_lower_small(L: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``L^-1 c`` by forward substitution; ``L (..., q, q)``, ``c (..., q)``."""
    q = L.shape[-1]
    w = []
    for i in range(q):
        acc = c[..., i]
        for k in range(i):
            acc = acc - L[..., i, k] * w[k]
        w.append(acc / L[..., i, i])
    return torch.stack(w, -1)


def solve_upper_small(L: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``L^-T v`` by back substitution; ``L (..., q, q)`` lower, ``v (..., q)``."""
    q = L.shape[-1]
    u = [None] * q
    for i in reversed(range(q)):
        acc = v[..., i]
        for k in range(i + 1, q):
            acc = acc - L[..., k, i] * u[k]
        u[i] = acc / L[..., i, i]
    return torch.stack(u, -1)


def whitened_system(params: GlobalParams, stats: GroupStats):
    """``(chol(M_g), c_g, r^T r, L)`` for every draw and group.

    Args:
        params: Parameters with leading shape ``(..., B)``.
        stats: Cross-products ``(B, G, ...)``.

    Returns:
        ``C`` ``(..., B, G, Q, Q)`` lower Cholesky factor of ``M_g``, ``c``
        ``(..., B, G, Q)``, ``rtr`` ``(..., B, G)``, and ``L`` ``(..., B, 1, Q, Q)``.
    """
    beta = params.beta if stats.beta0 is None else params.beta - stats.beta0   # (..., B, P)
    s2 = (params.sigma ** 2)[..., None]                    # (..., B, 1)
    L = params.L_cov                                       # (..., B, Q, Q)
    # einsum keeps the draws in one large matmul instead of many tiny ones
    XtX_beta = torch.einsum("...bp,bgpk->...bgk", beta, stats.XtX)
    rtr = (stats.yty - 2 * torch.einsum("...bp,bgp->...bg", beta, stats.Xty)
           + torch.einsum("...bgk,...bk->...bg", XtX_beta, beta))
    Ztr = stats.Zty - torch.einsum("bgqp,...bp->...bgq", stats.ZtX, beta)
    ZtZ_L = torch.einsum("bgqr,...brj->...bgqj", stats.ZtZ, L)
    M = torch.einsum("...bqi,...bgqj->...bgij", L, ZtZ_L) / s2[..., None, None]
    M = M + torch.eye(M.shape[-1], dtype=M.dtype, device=M.device)
    C = cholesky_small(M)                                 # NaN parameters give NaN, not an error
    c = torch.einsum("...bqi,...bgq->...bgi", L, Ztr) / s2[..., None]
    L = L[..., None, :, :]
    return C, c, rtr, L


def marginal_loglik(params: GlobalParams, stats: GroupStats, per_group: bool = False) -> torch.Tensor:
    """``log p(y | beta, Sigma, sigma)`` with ``b`` integrated out (module docstring).

    Args:
        params: Parameters, leading shape ``(..., B)`` (e.g. draws x data sets).
        stats: Cross-products of the ``B`` data sets.
        per_group: Return ``(..., B, G)`` per-group terms (0 for padded groups).

    Returns:
        Log-likelihood ``(..., B)`` (or per group).
    """
    stats, p, q = trimmed(stats)
    params = GlobalParams(beta=params.beta[..., :p], sd=params.sd[..., :q],
                          L_corr=params.L_corr[..., :q, :q], sigma=params.sigma)
    C, c, rtr, _ = whitened_system(params, stats)
    s2 = (params.sigma ** 2)[..., None]
    w = solve_lower_small(C, c)
    logdet = stats.n * torch.log(2 * math.pi * s2) + 2 * torch.log(
        torch.diagonal(C, dim1=-2, dim2=-1)).sum(-1)
    quad = (rtr / s2 - (w * w).sum(-1)).clamp(min=0)     # >= 0 exactly; rounding must not make it < 0
    ll = -0.5 * (logdet + quad)
    ll = torch.where(stats.group_mask, ll, torch.zeros_like(ll))
    return ll if per_group else ll.sum(-1)
