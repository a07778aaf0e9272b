"""The amortized posterior network: local and global set summaries + conditional flow.

Input: a batch on its standardized scale (``standardize.py``).

* rows -> per group, the exact first and second moments of ``[x'_1..x'_{P-1}, y']``
  over the real rows (``group_moments``): for a Gaussian LMM they are
  sufficient statistics of the group, at the cost of one ``einsum``; and,
  when ``local_depth > 0``, a learned local ``SetEncoder`` over the real rows
  (``row_mask``) of ``[y', x'_j, y' x'_j, x'_j^2, column flags]``.
* groups -> global ``SetEncoder`` over the real groups (``group_mask``) of
  ``[moments, local summary, log n_g]``.
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
from tabmixr.engines.amortized.likelihood import GroupStats, group_stats
from tabmixr.engines.amortized.simulator import Batch
from tabmixr.engines.amortized.standardize import Standardization
from tabmixr.engines.amortized.summaries import SummaryBatch

ROW_FEATURES = 1 + 3 * (P_MAX - 1) + (P_MAX - 1) + P_MAX
PRIOR_FEATURES = 2 * P_MAX + Q_MAX + 2
SIZE_FEATURES = 5
STAT_FEATURES = P_MAX + 1
MASK_FEATURES = P_MAX + Q_MAX + P_MAX
#: Per-group moments: means of ``[x_1..x_{P-1}, y]`` and the upper triangle of their second moments.
MOMENT_FEATURES = P_MAX + P_MAX * (P_MAX + 1) // 2


@dataclass
class ModelConfig:
    """Widths and depths of the networks (saved next to the weights)."""

    dim: int = 64
    heads: int = 4
    inducing: int = 16
    local_depth: int = 0
    global_depth: int = 2
    couplings: int = 8
    hidden: int = 128
    flow_layers: int = 2
    clamp: float = 3.0
    df_init: float = 10.0
    mask_seed: int = 0
    group_moments: bool = True

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


def pooled_statistics(stats: GroupStats, fixed_mask: torch.Tensor) -> torch.Tensor:
    """Pooled least squares on the standardized rows: ``[beta_ols (P_MAX), log rmse]``.

    Args:
        stats: Per-group cross-products of the standardized rows.
        fixed_mask: ``(B, P_MAX)`` active columns.
    """
    XtX, Xty, yty = stats.XtX.sum(1), stats.Xty.sum(1), stats.yty.sum(1)
    n = stats.n.sum(1)
    ridge = 1e-6 * n[:, None] + (~fixed_mask).to(XtX.dtype)
    beta = torch.linalg.solve(XtX + torch.diag_embed(ridge), Xty[..., None])[..., 0]
    rss = (yty - (beta * Xty).sum(1)).clamp(min=1e-12 * n)
    return torch.cat([beta, 0.5 * torch.log(rss / n)[:, None]], 1)


def group_moments(stats: GroupStats) -> torch.Tensor:
    """``(B, G, MOMENT_FEATURES)`` exact moments of each group's standardized rows.

    With ``v = [x'_1, .., x'_{P-1}, y']`` (inactive columns are 0): the means
    ``sum_i v_i / n_g`` and the upper triangle of ``sum_i v_i v_i^T / n_g``,
    passed through ``asinh`` so that heavy-tailed predictors stay in range.
    Together with ``n_g`` they determine the group's Gaussian LMM likelihood.
    They are read off the cross-products (column 0 of ``X`` is the
    intercept), so padded rows never enter.
    """
    n_g = stats.n.clamp(min=1)[..., None]
    mean = torch.cat([stats.XtX[..., 0, 1:], stats.Xty[..., :1]], -1) / n_g
    top = torch.cat([stats.XtX[..., 1:, 1:], stats.Xty[..., 1:, None]], -1)
    bottom = torch.cat([stats.Xty[..., None, 1:], stats.yty[..., None, None]], -1)
    second = torch.cat([top, bottom], -2) / n_g[..., None]
    iu = torch.triu_indices(P_MAX, P_MAX, device=second.device)
    return torch.asinh(torch.cat([mean, second[..., iu[0], iu[1]]], -1))


class AmortizedModel(nn.Module):
    """Summary networks and flow: ``model(batch_std, st)`` is ``q(phi | data, prior)``.

    Args:
        config: Widths and depths.
    """

    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        self.config = config or ModelConfig()
        c = self.config
        self.local = SetEncoder(ROW_FEATURES, c.dim, c.heads, c.inducing, c.local_depth) \
            if c.local_depth > 0 else None
        group_dim = 1 + (c.dim if self.local is not None else 0) + (MOMENT_FEATURES if c.group_moments else 0)
        self.glob = SetEncoder(group_dim, c.dim, c.heads, c.inducing, c.global_depth)
        self.context_dim = c.dim + PRIOR_FEATURES + SIZE_FEATURES + MASK_FEATURES + STAT_FEATURES
        self.flow = ConditionalFlow(D_PHI, self.context_dim, c.couplings, c.hidden, c.flow_layers,
                                    c.clamp, c.df_init, c.mask_seed)

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of the weights."""
        return self.flow.df_raw.dtype

    def context(self, data: Batch | SummaryBatch, st: Standardization) -> torch.Tensor:
        """``(B, context_dim)`` conditioning vector of standardized data.

        Args:
            data: A standardized ``Batch`` (rows) or ``SummaryBatch`` (per-group
                cross-products; enough unless the model has a row encoder).
            st: The data's standardization.

        Raises:
            ValueError: a ``SummaryBatch`` given to a model with a row encoder.
        """
        dt = self.dtype
        rand = is_random_column(data)
        stats = data.stats if isinstance(data, SummaryBatch) else group_stats(data)
        parts = []
        if self.local is not None:
            if isinstance(data, SummaryBatch):
                raise ValueError("this model has a row encoder (local_depth > 0): give it rows (a Batch)")
            B, G, N, _ = data.X.shape
            x = data.X[..., 1:]
            y = data.y[..., None]
            flags = torch.cat([data.fixed_mask[:, 1:], rand], 1).to(x.dtype)
            rows = torch.cat([y, x, y * x, x * x, flags[:, None, None, :].expand(B, G, N, -1)], -1)
            parts.append(self.local(rows.to(dt), data.row_mask))
        if self.config.group_moments:
            parts.append(group_moments(stats).to(dt))
        parts.append(torch.log(stats.n.clamp(min=1)).to(dt)[..., None])
        summary = self.glob(torch.cat(parts, -1), data.group_mask)
        G_real = data.group_mask.sum(1).to(dt)
        n = st.n.to(dt)
        sizes = torch.stack([torch.log(G_real), torch.log(n), torch.log(n / G_real),
                             data.fixed_mask.sum(1).to(dt) / P_MAX, data.re_mask.sum(1).to(dt) / Q_MAX], 1)
        masks = torch.cat([data.fixed_mask, data.re_mask, rand], 1).to(dt)
        return torch.cat([summary, prior_features(data, st).to(dt), sizes, masks,
                          pooled_statistics(stats, data.fixed_mask).to(dt)], 1)

    def forward(self, data: Batch | SummaryBatch, st: Standardization) -> FlowDistribution:
        """``q(phi | data, prior)`` for every standardized data set of ``data`` (see ``context``)."""
        active = phi_mask(data.fixed_mask, data.re_mask)
        return self.flow(self.context(data, st), active)
