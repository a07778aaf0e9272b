"""Global parameters of the amortized LMM and the flow's unconstrained coordinates.

One trained model covers up to ``P_MAX`` fixed effects (the intercept is
column 0) and ``Q_MAX`` correlated random effects on one grouping factor.
A data set with fewer uses masks: ``fixed_mask`` (``P_MAX`` booleans) and
``re_mask`` (``Q_MAX`` booleans, the first ``q`` slots active).

The flow lives in ``phi``, a vector of ``D = P_MAX + Q_MAX + K_MAX + 1``
unconstrained numbers on the *standardized* scale (see ``standardize.py``)::

    phi = [ beta' (P_MAX) | log s' (Q_MAX) | z (K_MAX) | log sigma' ]

with ``K_MAX = Q_MAX (Q_MAX - 1) / 2`` correlations parametrized by canonical
partial correlations ``cpc = tanh(z)`` (C-vine, Lewandowski et al. 2009).  The
Cholesky factor ``L`` of the correlation matrix ``R`` is built row by row::

    L[i, j] = cpc[i, j] * sqrt(1 - sum_{k<j} L[i, k]^2)      (j < i)
    L[i, i] = sqrt(1 - sum_{k<i} L[i, k]^2)

Jacobians (every one is needed by importance sampling, ``importance.py``):

* ``s' = exp(phi_s)``, ``sigma' = exp(phi_sigma)``: ``log|J| = phi``.
* ``cpc = tanh(z)``: ``log|J| = sum log(1 - cpc^2)``.
* ``cpc -> r`` (the off-diagonal entries of ``R`` for ``q`` active slots):
  ``log|J| = sum_{i>j} (q - j - 2) / 2 * log(1 - cpc[i, j]^2)`` (0-based
  column ``j``; Lewandowski et al. 2009, eq. 11).

Inactive slots get ``cpc = 0`` so that ``R`` is block diagonal with an
identity block, and ``log det R`` and the Jacobian only see active entries.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: Most fixed effects (intercept included) one trained model handles.
P_MAX = 8
#: Most correlated random effects (one grouping factor).
Q_MAX = 3
#: Number of correlations among ``Q_MAX`` random effects.
K_MAX = Q_MAX * (Q_MAX - 1) // 2
#: Dimension of the flow's parameter vector ``phi``.
D_PHI = P_MAX + Q_MAX + K_MAX + 1

_ROWS, _COLS = torch.tril_indices(Q_MAX, Q_MAX, offset=-1)


def phi_slices() -> dict[str, slice]:
    """Where each block lives in ``phi``: ``beta``, ``log_sd``, ``z_corr``, ``log_sigma``."""
    return {"beta": slice(0, P_MAX), "log_sd": slice(P_MAX, P_MAX + Q_MAX),
            "z_corr": slice(P_MAX + Q_MAX, P_MAX + Q_MAX + K_MAX),
            "log_sigma": slice(D_PHI - 1, D_PHI)}


def corr_mask(re_mask: torch.Tensor) -> torch.Tensor:
    """Active correlations ``(..., K_MAX)``: pairs whose slots are both active."""
    return re_mask[..., _ROWS.to(re_mask.device)] & re_mask[..., _COLS.to(re_mask.device)]


def phi_mask(fixed_mask: torch.Tensor, re_mask: torch.Tensor) -> torch.Tensor:
    """Active coordinates of ``phi``, shape ``(..., D_PHI)``."""
    one = torch.ones_like(fixed_mask[..., :1])
    return torch.cat([fixed_mask, re_mask, corr_mask(re_mask), one], dim=-1)


def cpc_to_cholesky(cpc: torch.Tensor, dim: int = Q_MAX) -> torch.Tensor:
    """Lower Cholesky factor of a correlation matrix from canonical partial correlations.

    Args:
        cpc: ``(..., dim (dim - 1) / 2)`` values in (-1, 1), in
            ``torch.tril_indices(dim, dim, -1)`` order.
        dim: Matrix dimension.

    Returns:
        ``(..., dim, dim)`` lower-triangular factor with unit-norm rows.
    """
    rows, cols = torch.tril_indices(dim, dim, offset=-1, device=cpc.device)
    C = cpc.new_zeros(cpc.shape[:-1] + (dim, dim))
    C[..., rows, cols] = cpc
    out_rows = []
    for i in range(dim):
        entries, used = [], cpc.new_zeros(cpc.shape[:-1])
        for j in range(i):
            lij = C[..., i, j] * torch.sqrt(torch.clamp(1 - used, min=0.0))
            entries.append(lij)
            used = used + lij ** 2
        entries.append(torch.sqrt(torch.clamp(1 - used, min=0.0)))
        entries += [cpc.new_zeros(cpc.shape[:-1])] * (dim - i - 1)
        out_rows.append(torch.stack(entries, dim=-1))
    return torch.stack(out_rows, dim=-2)


def cholesky_to_cpc(L: torch.Tensor) -> torch.Tensor:
    """Inverse of ``cpc_to_cholesky``: ``cpc[i, j] = L[i, j] / sqrt(1 - sum_{k<j} L[i, k]^2)``."""
    dim = L.shape[-1]
    rows, cols = torch.tril_indices(dim, dim, offset=-1, device=L.device)
    used = torch.cumsum(L ** 2, dim=-1) - L ** 2
    denom = torch.sqrt(torch.clamp(1 - used, min=1e-300))
    return (L / denom)[..., rows, cols]


def cpc_log_jacobian(cpc: torch.Tensor, re_mask: torch.Tensor) -> torch.Tensor:
    """``log|d r / d cpc|`` for the ``q`` active slots (module docstring).

    Args:
        cpc: ``(..., K_MAX)`` canonical partial correlations.
        re_mask: ``(..., Q_MAX)`` active random-effect slots (first ``q``).

    Returns:
        ``(...)`` log-Jacobian.
    """
    q = re_mask.sum(-1, keepdim=True).to(cpc.dtype)
    power = (q - _COLS.to(cpc.device, cpc.dtype) - 2) / 2
    terms = power * torch.log1p(-cpc ** 2)
    return torch.where(corr_mask(re_mask), terms, torch.zeros_like(terms)).sum(-1)


@dataclass
class GlobalParams:
    """Global parameters of a batch of LMMs (any leading shape ``...``).

    Attributes:
        beta: Fixed effects ``(..., P_MAX)``.
        sd: Random-effect standard deviations ``(..., Q_MAX)``.
        L_corr: Lower Cholesky factor of the correlation matrix ``(..., Q_MAX, Q_MAX)``.
        sigma: Residual standard deviation ``(...)``.
    """

    beta: torch.Tensor
    sd: torch.Tensor
    L_corr: torch.Tensor
    sigma: torch.Tensor

    @property
    def L_cov(self) -> torch.Tensor:
        """Cholesky factor of the random-effect covariance, ``diag(sd) L_corr``."""
        return self.sd[..., :, None] * self.L_corr

    @property
    def cov(self) -> torch.Tensor:
        """Random-effect covariance ``diag(sd) R diag(sd)``."""
        L = self.L_cov
        return L @ L.transpose(-1, -2)

    @property
    def corr(self) -> torch.Tensor:
        """Correlation matrix ``R = L_corr L_corr^T``."""
        return self.L_corr @ self.L_corr.transpose(-1, -2)


def phi_to_params(phi: torch.Tensor, fixed_mask: torch.Tensor, re_mask: torch.Tensor):
    """Map flow coordinates to standardized parameters.

    Inactive coordinates are replaced by neutral values (beta 0, sd 1 - never
    used -, correlation 0) and contribute nothing to the Jacobian.

    Args:
        phi: ``(..., D_PHI)`` unconstrained coordinates.
        fixed_mask: ``(..., P_MAX)`` active fixed effects.
        re_mask: ``(..., Q_MAX)`` active random-effect slots.

    Returns:
        ``(GlobalParams, log_jac)`` with ``log_jac = log|d(beta, s, r, sigma) / d phi|``
        over the active coordinates, shape ``(...)``.
    """
    sl = phi_slices()
    zero = torch.zeros_like(phi[..., 0])
    beta = torch.where(fixed_mask, phi[..., sl["beta"]], torch.zeros_like(phi[..., sl["beta"]]))
    log_sd = torch.where(re_mask, phi[..., sl["log_sd"]], torch.zeros_like(phi[..., sl["log_sd"]]))
    cm = corr_mask(re_mask)
    z = torch.where(cm, phi[..., sl["z_corr"]], torch.zeros_like(phi[..., sl["z_corr"]]))
    cpc = torch.tanh(z)
    log_sigma = phi[..., -1]
    log_jac = (log_sd.sum(-1) + log_sigma
               + torch.where(cm, torch.log1p(-cpc ** 2), torch.zeros_like(cpc)).sum(-1)
               + cpc_log_jacobian(cpc, re_mask) + zero)
    params = GlobalParams(beta=beta, sd=torch.exp(log_sd), L_corr=cpc_to_cholesky(cpc, Q_MAX),
                          sigma=torch.exp(log_sigma))
    return params, log_jac


def params_to_phi(params: GlobalParams, fixed_mask: torch.Tensor, re_mask: torch.Tensor):
    """Inverse of ``phi_to_params`` (inactive coordinates set to 0).

    Returns:
        ``(..., D_PHI)`` coordinates.
    """
    cm = corr_mask(re_mask)
    cpc = cholesky_to_cpc(params.L_corr).clamp(-1 + 1e-15, 1 - 1e-15)
    beta = torch.where(fixed_mask, params.beta, torch.zeros_like(params.beta))
    log_sd = torch.where(re_mask, torch.log(params.sd), torch.zeros_like(params.sd))
    z = torch.where(cm, torch.atanh(cpc), torch.zeros_like(cpc))
    return torch.cat([beta, log_sd, z, torch.log(params.sigma)[..., None]], dim=-1)
