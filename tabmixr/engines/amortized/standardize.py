"""Standardization of a data set and exact un-standardization of its parameters.

The networks see every data set on one scale (metabeta, Appendix B).  With
per-column centers ``c_j`` and scales ``d_j`` (``c_0 = 0, d_0 = 1`` for the
intercept) and response center/scale ``m, s``::

    x'_j = (x_j - c_j) / d_j,        y' = (y - m) / s

the model ``y = X beta + Z b + e`` becomes ``y' = X' beta' + Z' b' + e'`` with

    beta'_j = beta_j d_j / s                          (j >= 1)
    beta'_0 = (beta_0 + sum_j beta_j c_j - m) / s
    b'_k    = b_k d_{c_k} / s                         (slot k on column c_k >= 1)
    b'_0    = (b_0 + sum_k b_k c_{c_k}) / s           (the random intercept slot)
    e'      = e / s

so ``b = A b'`` with ``A = diag(s / d_{c_k})`` plus, in the intercept slot's
row, ``A[0, k] = -s c_{c_k} / d_{c_k}``.  Hence exactly::

    beta_j = s beta'_j / d_j,   beta_0 = m + s beta'_0 - sum_j beta_j c_j
    Sigma  = A Sigma' A^T,      sigma = s sigma'

The intercept's random-effect variance therefore picks up the slopes'
variance times their squared centers (Appendix B's intercept variance term):
``Sigma_00 = s^2 (Sigma'_00 - 2 sum_k c_k/d_k Sigma'_0k
+ sum_kl c_k c_l/(d_k d_l) Sigma'_kl)``, and intercept-slope correlations
appear even when ``Sigma'`` is diagonal.  When the intercept is *not* a random
effect, a random slope's column is scaled but not centered (``c_j = 0``):
centering would move ``b_k c_j`` into a random intercept the model does not
have.

Likelihood: ``log p(y | X, theta) = log p(y' | X', theta') - n log s``.

Jacobian of ``theta' -> theta`` with ``theta = (beta, sd, r, sigma)`` (``r``
the off-diagonal correlations, ``q`` active slots): ``beta`` is triangular
with diagonal ``s`` (intercept) and ``s / d_j``; ``sigma`` contributes
``log s``; for the covariance, ``Sigma' -> Sigma`` on symmetric matrices has
``|det A|^(q+1)`` and ``(sd, r) -> Sigma`` has ``2^q prod sd_i^q``, so::

    log|d(sd, r)/d(sd', r')| = (q+1) log|det A| + q sum log sd' - q sum log sd
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tabmixr.engines.amortized.parameters import GlobalParams
from tabmixr.engines.amortized.simulator import Batch


@dataclass
class Standardization:
    """Centers and scales of a batch of data sets (shape ``(B,)`` leading).

    Attributes:
        y_center, y_scale: ``(B,)`` response mean and SD (``m``, ``s``).
        x_center, x_scale: ``(B, P_MAX)`` column centers and SDs (``c``, ``d``).
        re_cols, re_mask: ``(B, Q_MAX)`` random-effect columns and active slots.
        fixed_mask: ``(B, P_MAX)`` active fixed effects.
        n: ``(B,)`` number of rows.
    """

    y_center: torch.Tensor
    y_scale: torch.Tensor
    x_center: torch.Tensor
    x_scale: torch.Tensor
    re_cols: torch.Tensor
    re_mask: torch.Tensor
    fixed_mask: torch.Tensor
    n: torch.Tensor

    def A(self) -> torch.Tensor:
        """``(B, Q_MAX, Q_MAX)`` map ``b = A b'`` (identity on inactive slots)."""
        d = torch.gather(self.x_scale, 1, self.re_cols)
        c = torch.gather(self.x_center, 1, self.re_cols)
        s = self.y_scale[:, None]
        diag = torch.where(self.re_mask, s / d, torch.ones_like(d))
        A = torch.diag_embed(diag)
        is_int = self.re_mask & (self.re_cols == 0)
        row = torch.where(self.re_mask & ~is_int, -s * c / d, torch.zeros_like(d))
        return A + is_int[:, :, None].to(A.dtype) * row[:, None, :]


def standardization_from_moments(n, y_center, y_var, x_center, x_var, fixed_mask, re_mask,
                                 re_cols) -> Standardization:
    """A ``Standardization`` from each data set's means and population variances.

    A constant column or response gets scale 1.  Random slopes are not
    centered when the intercept is not random (module docstring).

    Args:
        n: ``(B,)`` rows per data set.
        y_center, y_var: ``(B,)`` response mean and variance.
        x_center, x_var: ``(B, P_MAX)`` column means and variances.
        fixed_mask, re_mask, re_cols: The data sets' masks.

    Returns:
        The ``Standardization``.
    """
    y_scale = torch.where(y_var > 0, torch.sqrt(y_var), torch.ones_like(y_var))
    x_scale = torch.where(x_var > 1e-300, torch.sqrt(x_var), torch.ones_like(x_var))
    active = fixed_mask.clone()
    active[:, 0] = False
    random_int = (re_mask & (re_cols == 0)).any(1)
    is_random = torch.zeros_like(active)
    is_random.scatter_(1, re_cols, re_mask)
    centered = active & (random_int[:, None] | ~is_random)
    x_center = torch.where(centered, x_center, torch.zeros_like(x_center))
    x_scale = torch.where(active, x_scale, torch.ones_like(x_scale))
    return Standardization(y_center=y_center, y_scale=y_scale, x_center=x_center, x_scale=x_scale,
                           re_cols=re_cols, re_mask=re_mask, fixed_mask=fixed_mask, n=n)


def fit_standardization(batch: Batch) -> Standardization:
    """Centers and scales from the real rows of each data set (population SDs).

    See ``standardization_from_moments`` for constant columns and uncentered slopes.
    """
    m = batch.row_mask
    w = m.to(batch.X.dtype)
    n = w.sum((1, 2))
    y = torch.where(m, batch.y, torch.zeros_like(batch.y))
    X = torch.where(m[..., None], batch.X, torch.zeros_like(batch.X))
    y_center = y.sum((1, 2)) / n
    y_var = (((y - y_center[:, None, None]) * w) ** 2).sum((1, 2)) / n
    x_center = X.sum((1, 2)) / n[:, None]
    x_var = (((X - x_center[:, None, None, :]) * w[..., None]) ** 2).sum((1, 2)) / n[:, None]
    return standardization_from_moments(n, y_center, y_var, x_center, x_var, batch.fixed_mask,
                                        batch.re_mask, batch.re_cols)


def standardize_batch(batch: Batch, st: Standardization) -> Batch:
    """The batch on the standardized scale (true parameters mapped when present)."""
    X = (batch.X - st.x_center[:, None, None, :]) / st.x_scale[:, None, None, :]
    X = torch.where(batch.row_mask[..., None] & batch.fixed_mask[:, None, None, :], X,
                    torch.zeros_like(X))
    y = torch.where(batch.row_mask, (batch.y - st.y_center[:, None, None]) / st.y_scale[:, None, None],
                    torch.zeros_like(batch.y))
    params = params_to_standard(batch.params, st) if batch.params is not None else None
    b = None
    if batch.b is not None:
        b = torch.linalg.solve(st.A()[:, None], batch.b[..., None])[..., 0]
    return Batch(X=X, y=y, row_mask=batch.row_mask, group_mask=batch.group_mask,
                 fixed_mask=batch.fixed_mask, re_mask=batch.re_mask, re_cols=batch.re_cols,
                 prior=batch.prior, params=params, b=b, families=batch.families)


def _from_cov(cov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(sd, L_corr)`` of covariance matrices."""
    sd = torch.sqrt(torch.diagonal(cov, dim1=-2, dim2=-1))
    R = cov / (sd[..., :, None] * sd[..., None, :])
    R = torch.where(torch.isfinite(R), R, torch.zeros_like(R))
    L, info = torch.linalg.cholesky_ex(R)
    bad = (info != 0) | ~torch.isfinite(sd).all(-1)     # overflowed draws: NaN, weight 0 later
    return sd, torch.where(bad[..., None, None], torch.full_like(L, float("nan")), L)


def params_to_original(params: GlobalParams, st: Standardization):
    """Un-standardize ``theta'`` exactly (module docstring).

    Args:
        params: Standardized parameters, leading shape ``(..., B)``.
        st: The batch's standardization.

    Returns:
        ``(GlobalParams, log_jac)`` on the data scale, ``log_jac`` the
        log-Jacobian ``log|d theta / d theta'|`` over active coordinates.
    """
    s, d, c = st.y_scale, st.x_scale, st.x_center
    slope = st.fixed_mask.clone()
    slope[:, 0] = False
    beta_s = torch.where(slope, params.beta * s[..., None] / d, torch.zeros_like(params.beta))
    beta0 = st.y_center + s * params.beta[..., 0] - (beta_s * c).sum(-1)
    beta = torch.cat([beta0[..., None], beta_s[..., 1:]], -1)
    A = st.A()
    sd, L_corr = _from_cov(A @ params.cov @ A.transpose(-1, -2))
    q = st.re_mask.sum(-1).to(s.dtype)
    logdetA = torch.log(torch.abs(torch.diagonal(A, dim1=-2, dim2=-1))).sum(-1)
    zeros = torch.zeros_like(sd)
    log_jac = (torch.log(s) * (1 + slope.sum(-1)) - torch.where(slope, torch.log(d), 0 * d).sum(-1)
               + (q + 1) * logdetA
               + q * (torch.where(st.re_mask, torch.log(params.sd), zeros).sum(-1)
                      - torch.where(st.re_mask, torch.log(sd), zeros).sum(-1))
               + torch.log(s))
    return GlobalParams(beta=beta, sd=sd, L_corr=L_corr, sigma=params.sigma * s), log_jac


def params_to_standard(params: GlobalParams, st: Standardization) -> GlobalParams:
    """Inverse of ``params_to_original``."""
    s, d, c = st.y_scale, st.x_scale, st.x_center
    slope = st.fixed_mask.clone()
    slope[:, 0] = False
    beta_s = torch.where(slope, params.beta * d / s[..., None], torch.zeros_like(params.beta))
    beta0 = (params.beta[..., 0] + torch.where(slope, params.beta * c, 0 * c).sum(-1)
             - st.y_center) / s
    beta = torch.cat([beta0[..., None], beta_s[..., 1:]], -1)
    Ainv = torch.linalg.inv(st.A())
    sd, L_corr = _from_cov(Ainv @ params.cov @ Ainv.transpose(-1, -2))
    return GlobalParams(beta=beta, sd=sd, L_corr=L_corr, sigma=params.sigma / s)


def b_to_original(b: torch.Tensor, st: Standardization) -> torch.Tensor:
    """Random effects ``b = A b'``; ``b`` of shape ``(..., B, G, Q_MAX)``."""
    return (st.A()[:, None] @ b[..., None])[..., 0]


__all__ = ["Standardization", "standardization_from_moments", "fit_standardization",
           "standardize_batch", "params_to_original", "params_to_standard", "b_to_original"]
