"""Simulated data sets as packed rows and as per-group summaries, without padding.

``Simulator.sample`` pads every data set of a batch to the batch's largest
group count and group size; with group counts up to 200 and sizes up to 200
most of a padded batch is padding.  Training needs far less: for a Gaussian
LMM the per-group cross-products ``X^T X, X^T y, y^T y`` (``GroupStats``) are
sufficient statistics, so this module draws the rows of a batch packed one
after another (``PackedRows``: cost proportional to the real rows) and
reduces them to standardized per-group cross-products (``SummaryBatch``),
which is all that a moments-only ``AmortizedModel`` reads.

The data sets come from the same model as ``Simulator.sample`` (module
docstring of ``simulator.py``): the same structure, prior, parameter and
predictor-family draws, and the same rank copula, applied per data set by
sorting on ``(data set, value)``.  Only the random stream differs.
``PackedRows.to_batch`` rebuilds the padded ``Batch`` of the same rows, so
the summaries can be checked against ``group_stats(standardize_batch(..))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tabmixr.engines.amortized import sampling as rs
from tabmixr.engines.amortized.likelihood import GroupStats
from tabmixr.engines.amortized.parameters import P_MAX, Q_MAX, GlobalParams
from tabmixr.engines.amortized.simulator import (
    FAMILIES, Batch, Prior, Simulator, _draw_family, sample_families, sample_params, sample_prior,
    sample_structure,
)
from tabmixr.engines.amortized.standardize import (
    Standardization, params_to_standard, standardization_from_moments,
)


@dataclass
class PackedRows:
    """The real rows of ``B`` data sets, one after another.

    Attributes:
        X: ``(R, P_MAX)`` rows, column 0 the intercept, inactive columns 0.
        y: ``(R,)`` responses.
        dataset: ``(R,)`` data set of each row (non-decreasing).
        group: ``(R,)`` flat group index ``dataset * G + g`` of each row.
        sizes: ``(B, G)`` group sizes (0: padded group).
        fixed_mask, re_mask, re_cols, prior, params, b, families: as in ``Batch``.
    """

    X: torch.Tensor
    y: torch.Tensor
    dataset: torch.Tensor
    group: torch.Tensor
    sizes: torch.Tensor
    fixed_mask: torch.Tensor
    re_mask: torch.Tensor
    re_cols: torch.Tensor
    prior: Prior
    params: GlobalParams
    b: torch.Tensor
    families: torch.Tensor

    def to_batch(self) -> Batch:
        """The same data sets as a padded ``Batch`` (for checks and small batches)."""
        B, G = self.sizes.shape
        N = int(self.sizes.max())
        start = torch.cumsum(self.sizes.reshape(-1), 0) - self.sizes.reshape(-1)
        pos = torch.arange(self.y.shape[0], device=self.y.device) - start[self.group]
        X = torch.zeros(B * G, N, P_MAX, dtype=self.X.dtype, device=self.X.device)
        y = torch.zeros(B * G, N, dtype=self.y.dtype, device=self.y.device)
        X[self.group, pos] = self.X
        y[self.group, pos] = self.y
        row_mask = torch.arange(N, device=self.y.device)[None, None, :] < self.sizes[:, :, None]
        return Batch(X=X.reshape(B, G, N, P_MAX), y=y.reshape(B, G, N), row_mask=row_mask,
                     group_mask=self.sizes > 0, fixed_mask=self.fixed_mask, re_mask=self.re_mask,
                     re_cols=self.re_cols, prior=self.prior, params=self.params, b=self.b,
                     families=self.families)


@dataclass
class SummaryBatch:
    """Standardized per-group summaries of ``B`` data sets: what the model reads.

    Attributes:
        stats: Cross-products of the standardized rows, ``(B, G, ...)``.
        group_mask, fixed_mask, re_mask, re_cols: Masks as in ``Batch``.
        prior: Prior hyperparameters on the data's own scale.
        params: True parameters on the standardized scale (simulated data).
    """

    stats: GroupStats
    group_mask: torch.Tensor
    fixed_mask: torch.Tensor
    re_mask: torch.Tensor
    re_cols: torch.Tensor
    prior: Prior
    params: GlobalParams | None = None


def _order_within(keys: torch.Tensor, segment: torch.Tensor) -> torch.Tensor:
    """Permutation sorting ``keys`` by ``(segment, key)`` (two sorts, the second stable)."""
    by_key = torch.argsort(keys)
    return by_key[torch.sort(segment[by_key], stable=True).indices]


def packed_predictors(sim: Simulator, fixed_mask: torch.Tensor, dataset: torch.Tensor):
    """Predictor rows ``(R, P_MAX)`` and families ``(B, P_MAX)`` (``sample_predictors``, packed)."""
    g, cfg = sim.generator, sim.config
    B, J, R = fixed_mask.shape[0], P_MAX - 1, dataset.shape[0]
    dt = torch.float64
    fam, par = sample_families(B, J, g)
    active = fixed_mask[:, 1:]
    fam_rows = torch.where(active, fam, -1).T[:, dataset]              # (J, R)
    values = torch.zeros(J, R, dtype=dt, device=g.device)
    for f in range(len(FAMILIES)):
        sel = fam_rows == f
        k = int(sel.sum())
        if k:
            col, row = sel.nonzero(as_tuple=True)
            ds = dataset[row]
            pr = {name: v[ds, col] for name, v in par.items()}
            values[col, row] = _draw_family(f, pr, (k,), g)
    p = fixed_mask.sum(1)
    L = rs.lkj_cholesky(J, torch.full((B,), cfg.predictor_eta, dtype=dt, device=g.device), g,
                        active=(p - 1).clamp(min=1))
    z = torch.randn(R, J, generator=g, device=g.device, dtype=dt)
    latent = torch.einsum("rjk,rk->jr", L[dataset], z)
    col, row = (fam_rows >= 0).nonzero(as_tuple=True)     # active entries, by column then row
    segment = col * B + dataset[row]                      # one segment per (column, data set)
    v = values[col, row]
    ranked = torch.empty_like(v)
    ranked[_order_within(latent[col, row], segment)] = v[_order_within(v, segment)]
    cols = torch.zeros_like(values)
    cols[col, row] = ranked
    X = torch.cat([torch.ones(1, R, dtype=dt, device=g.device), cols], 0).T.contiguous()
    families = torch.cat([torch.full((B, 1), -1, device=g.device), torch.where(active, fam, -1)], 1)
    return X, families


def sample_packed(sim: Simulator, B: int) -> PackedRows:
    """Simulate ``B`` data sets as packed rows, from ``sim``'s configuration and generator."""
    g, cfg = sim.generator, sim.config
    fixed_mask, re_mask, re_cols, sizes = sample_structure(cfg, B, g)
    G = sizes.shape[1]
    prior = sample_prior(cfg, B, g)
    params = sample_params(prior, fixed_mask, re_mask, g)
    group = torch.repeat_interleave(torch.arange(B * G, device=g.device), sizes.reshape(-1))
    dataset = group // G
    X, families = packed_predictors(sim, fixed_mask, dataset)
    u = torch.randn(B, G, Q_MAX, generator=g, device=g.device, dtype=torch.float64)
    b = u @ params.L_cov.transpose(1, 2)
    b = torch.where((sizes > 0)[:, :, None] & re_mask[:, None, :], b, torch.zeros_like(b))
    Z = torch.gather(X, 1, re_cols[dataset]) * re_mask[dataset].to(X.dtype)
    eps = torch.randn(X.shape[0], generator=g, device=g.device, dtype=torch.float64)
    y = ((X * params.beta[dataset]).sum(1) + (Z * b.reshape(B * G, Q_MAX)[group]).sum(1)
         + params.sigma[dataset] * eps)
    return PackedRows(X=X, y=y, dataset=dataset, group=group, sizes=sizes, fixed_mask=fixed_mask,
                      re_mask=re_mask, re_cols=re_cols, prior=prior, params=params, b=b,
                      families=families)


def _segment_sum(values: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """Sums of the rows of ``values`` by ``index`` into ``n`` segments."""
    out = torch.zeros((n,) + values.shape[1:], dtype=values.dtype, device=values.device)
    return out.index_add_(0, index, values)


def packed_standardization(rows: PackedRows) -> Standardization:
    """``fit_standardization`` of the packed data sets (two passes: means, then variances)."""
    B = rows.sizes.shape[0]
    n = rows.sizes.sum(1).to(rows.X.dtype)
    x_center = _segment_sum(rows.X, rows.dataset, B) / n[:, None]
    y_center = _segment_sum(rows.y, rows.dataset, B) / n
    x_var = _segment_sum((rows.X - x_center[rows.dataset]) ** 2, rows.dataset, B) / n[:, None]
    y_var = _segment_sum((rows.y - y_center[rows.dataset]) ** 2, rows.dataset, B) / n
    return standardization_from_moments(n, y_center, y_var, x_center, x_var, rows.fixed_mask,
                                        rows.re_mask, rows.re_cols)


def summarize(rows: PackedRows) -> tuple[SummaryBatch, Standardization]:
    """Standardized per-group cross-products and the standardization of packed rows.

    Returns:
        ``(SummaryBatch, Standardization)``; the summary's ``stats`` equal
        ``group_stats(standardize_batch(rows.to_batch(), st))`` and its
        ``params`` are the true parameters on the standardized scale.
    """
    B, G = rows.sizes.shape
    st = packed_standardization(rows)
    ds = rows.dataset
    Xs = (rows.X - st.x_center[ds]) / st.x_scale[ds] * rows.fixed_mask[ds].to(rows.X.dtype)
    ys = (rows.y - st.y_center[ds]) / st.y_scale[ds]
    W = torch.cat([Xs, ys[:, None]], 1)
    P1 = P_MAX + 1
    WtW = _segment_sum((W[:, :, None] * W[:, None, :]).reshape(-1, P1 * P1), rows.group, B * G)
    WtW = WtW.reshape(B, G, P1, P1)
    XtX, Xty, yty = WtW[..., :P_MAX, :P_MAX], WtW[..., :P_MAX, P_MAX], WtW[..., P_MAX, P_MAX]
    c = rows.re_cols[:, None, :].expand(B, G, Q_MAX)
    m = rows.re_mask[:, None, :].to(XtX.dtype)
    ZtX = torch.gather(XtX, 2, c[..., None].expand(B, G, Q_MAX, P_MAX)) * m[..., None]
    ZtZ = torch.gather(ZtX, 3, c[:, :, None, :].expand(B, G, Q_MAX, Q_MAX)) * m[..., None, :]
    Zty = torch.gather(Xty, 2, c) * m
    group_mask = rows.sizes > 0
    stats = GroupStats(n=rows.sizes.to(XtX.dtype), XtX=XtX, Xty=Xty, yty=yty, ZtZ=ZtZ, ZtX=ZtX,
                       Zty=Zty, group_mask=group_mask)
    summary = SummaryBatch(stats=stats, group_mask=group_mask, fixed_mask=rows.fixed_mask,
                           re_mask=rows.re_mask, re_cols=rows.re_cols, prior=rows.prior,
                           params=params_to_standard(rows.params, st))
    return summary, st


def sample_summaries(sim: Simulator, B: int) -> tuple[SummaryBatch, Standardization]:
    """``summarize(sample_packed(sim, B))``: a training batch without padded rows."""
    return summarize(sample_packed(sim, B))


__all__ = ["PackedRows", "SummaryBatch", "packed_predictors", "sample_packed",
           "packed_standardization", "summarize", "sample_summaries"]
