"""The amortized posterior network: local and global set summaries + conditional flow.

Input: a batch on its standardized scale (``standardize.py``).

* rows -> local ``SetEncoder`` per group, over the real rows only
  (``row_mask``); row features ``[y', x'_j, y' x'_j, x'_j^2, column flags]``.
* groups -> global ``SetEncoder`` over the real groups (``group_mask``) of
  ``[local summary, log n_g]``.
* context = ``[global summary, prior features, size features, masks, pooled
  least-squares statistics]``; the priors enter on the standardized scale
  (``prior_features``).
* ``q(phi | context)``: ``ConditionalFlow`` with the active coordinates of
  ``phi`` given by ``parameters.phi_mask``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from tabmixr.engines.amortized.networks.attention import SetEncoder
from tabmixr.engines.amortized.networks.flow import ConditionalFlow, FlowDistribution
from tabmixr.engines.amortized.parameters import D_PHI, P_MAX, Q_MAX, phi_mask
from tabmixr.engines.amortized.simulator import Batch
from tabmixr.engines.amortized.standardize import Standardization

ROW_FEATURES = 1 + 3 * (P_MAX - 1) + (P_MAX - 1) + P_MAX
PRIOR_FEATURES = 2 * P_MAX + Q_MAX + 2
SIZE_FEATURES = 5
STAT_FEATURES = P_MAX + 1
MASK_FEATURES = P_MAX + Q_MAX + P_MAX


@dataclass
class ModelConfig:
    """Widths and depths of the networks (saved next to the weights)."""

    dim: int = 64
    heads: int = 4
    inducing: int = 16
    local_depth: int = 2
    global_depth: int = 2
    couplings: int = 8
    hidden: int = 128
    flow_layers: int = 2
    clamp: float = 3.0
    df_init: float = 10.0
    mask_seed: int = 0

    def to_dict(self) -> dict:
        """Plain dict for checkpoints."""
        return asdict(self)


def is_random_column(batch: Batch) -> torch.Tensor:
    """``(B, P_MAX)`` flags: column is a random effect."""
    flags = torch.zeros_like(batch.fixed_mask)
    return flags.scatter(1, batch.re_cols, batch.re_mask)


def prior_features(batch: Batch, st: Standardization) -> torch.Tensor:
    """Hyperparameters mapped to the standardized scale (inactive entries 0).

    ``nu'_j = nu_j d_j / s``, ``tau'_j = tau_j d_j / s`` for slopes;
    ``nu'_0 = (nu_0 + sum_j nu_j c_j - m) / s``, ``tau'_0 = tau_0 / s``; random
    SD scales ``tau_s d_{c_k} / s``; ``tau_e / s``; ``log eta``.  Means pass
    through ``asinh``, scales through ``log``.
    """
    pr, s = batch.prior, st.y_scale[:, None]
    slope = batch.fixed_mask.clone()
    slope[:, 0] = False
    nu = pr.nu * st.x_scale / s
    nu0 = (pr.nu[:, 0] + torch.where(slope, pr.nu * st.x_center, 0 * pr.nu).sum(1)
           - st.y_center) / st.y_scale
    nu = torch.cat([nu0[:, None], nu[:, 1:]], 1)
    tau = pr.tau * st.x_scale / s
    d_re = torch.gather(st.x_scale, 1, batch.re_cols)
    tau_s = pr.tau_s * d_re / s
    zeros = torch.zeros_like
    fm, rm = batch.fixed_mask, batch.re_mask
    return torch.cat([torch.where(fm, torch.asinh(nu), zeros(nu)),
                      torch.where(fm, torch.log(tau), zeros(tau)),
                      torch.where(rm, torch.log(tau_s), zeros(tau_s)),
                      torch.log(pr.tau_e / st.y_scale)[:, None], torch.log(pr.eta)[:, None]], 1)


def pooled_statistics(batch: Batch) -> torch.Tensor:
    """Pooled least squares on the standardized rows: ``[beta_ols (P_MAX), log rmse]``."""
    m = batch.row_mask
    w = m.to(batch.X.dtype)[..., None]
    X = torch.where(m[..., None], batch.X, torch.zeros_like(batch.X))
    y = torch.where(m, batch.y, torch.zeros_like(batch.y))
    XtX = torch.einsum("bgnp,bgnk->bpk", X, X)
    Xty = torch.einsum("bgnp,bgn->bp", X, y)
    inactive = (~batch.fixed_mask).to(X.dtype)
    n = w.sum((1, 2, 3))
    ridge = 1e-6 * n[:, None] + inactive
    beta = torch.linalg.solve(XtX + torch.diag_embed(ridge), Xty[..., None])[..., 0]
    yty = (y ** 2).sum((1, 2))
    rss = (yty - (beta * Xty).sum(1)).clamp(min=1e-12 * n)
    return torch.cat([beta, 0.5 * torch.log(rss / n)[:, None]], 1)


class AmortizedModel(nn.Module):
    """Summary networks and flow: ``model(batch_std, st)`` is ``q(phi | data, prior)``.

    Args:
        config: Widths and depths.
    """

    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        self.config = config or ModelConfig()
        c = self.config
        self.local = SetEncoder(ROW_FEATURES, c.dim, c.heads, c.inducing, c.local_depth)
        self.glob = SetEncoder(c.dim + 1, c.dim, c.heads, c.inducing, c.global_depth)
        self.context_dim = c.dim + PRIOR_FEATURES + SIZE_FEATURES + MASK_FEATURES + STAT_FEATURES
        self.flow = ConditionalFlow(D_PHI, self.context_dim, c.couplings, c.hidden, c.flow_layers,
                                    c.clamp, c.df_init, c.mask_seed)

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of the weights."""
        return self.flow.df_raw.dtype

    def context(self, batch: Batch, st: Standardization) -> torch.Tensor:
        """``(B, context_dim)`` conditioning vector of a standardized batch."""
        dt = self.dtype
        rand = is_random_column(batch)
        B, G, N, _ = batch.X.shape
        x = batch.X[..., 1:]
        y = batch.y[..., None]
        flags = torch.cat([batch.fixed_mask[:, 1:], rand], 1).to(x.dtype)
        rows = torch.cat([y, x, y * x, x * x, flags[:, None, None, :].expand(B, G, N, -1)], -1)
        local = self.local(rows.to(dt), batch.row_mask)
        n_g = batch.row_mask.sum(-1).clamp(min=1).to(dt)
        groups = torch.cat([local, torch.log(n_g)[..., None]], -1)
        summary = self.glob(groups, batch.group_mask)
        G_real = batch.group_mask.sum(1).to(dt)
        n = st.n.to(dt)
        sizes = torch.stack([torch.log(G_real), torch.log(n), torch.log(n / G_real),
                             batch.fixed_mask.sum(1).to(dt) / P_MAX, batch.re_mask.sum(1).to(dt) / Q_MAX], 1)
        masks = torch.cat([batch.fixed_mask, batch.re_mask, rand], 1).to(dt)
        return torch.cat([summary, prior_features(batch, st).to(dt), sizes, masks,
                          pooled_statistics(batch).to(dt)], 1)

    def forward(self, batch: Batch, st: Standardization) -> FlowDistribution:
        """``q(phi | data, prior)`` for every data set of the standardized ``batch``."""
        active = phi_mask(batch.fixed_mask, batch.re_mask)
        return self.flow(self.context(batch, st), active)
