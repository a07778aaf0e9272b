"""Masked set-transformer blocks (Lee et al. 2019) written for explicit masks.

Padding is never inferred from values: every block takes a boolean ``mask``
over the set elements, and masked elements are excluded from the keys of
every attention and from every pooling.  A query whose keys are all masked
(a padded group) gets a zero attention output instead of NaN.  Outputs at
padded positions are unspecified and must be masked by the caller; the
pooling here does so with ``torch.where`` so that even non-finite padding
values cannot leak.

Blocks:
    ``MAB(Q, K)  = H + FF(LN(H)),  H = Q + Attn(LN(Q), LN(K))``   (pre-norm)
    ``ISAB(X)    = MAB(X, MAB(I, X))`` with ``m`` learned inducing points: cost
                   ``O(n m)`` instead of ``O(n^2)``.
    ``PMA(X)     = MAB(S, X)`` with ``k`` learned seeds: a set -> ``k`` vectors.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class MaskedAttention(nn.Module):
    """Multi-head attention whose keys carry a boolean mask.

    Args:
        dim: Model width (divisible by ``heads``).
        heads: Number of heads.
    """

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, query: torch.Tensor, key: torch.Tensor, key_mask: torch.Tensor | None):
        """Attend ``query (..., nq, dim)`` to ``key (..., nk, dim)``; ``key_mask (..., nk)``."""
        h = self.heads
        split = lambda t: t.reshape(*t.shape[:-1], h, -1).transpose(-2, -3)  # noqa: E731
        q, k, v = split(self.q(query)), split(self.k(key)), split(self.v(key))
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        if key_mask is not None:
            m = key_mask[..., None, None, :]
            scores = scores.masked_fill(~m, float("-inf"))
            any_key = m.any(-1, keepdim=True)
            scores = torch.where(any_key, scores, torch.zeros_like(scores))
            v = torch.where(key_mask[..., None, :, None], v, torch.zeros_like(v))
            weights = torch.softmax(scores, dim=-1)
            weights = torch.where(m & any_key, weights, torch.zeros_like(weights))
        else:
            weights = torch.softmax(scores, dim=-1)
        out = (weights @ v).transpose(-2, -3)
        return self.out(out.reshape(*out.shape[:-2], -1))


class MAB(nn.Module):
    """Multihead attention block (pre-norm, residual, feed-forward)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.attn = MaskedAttention(dim, heads)
        self.ln_q, self.ln_k, self.ln_h = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, query, key, key_mask=None):
        """``(..., nq, dim)`` outputs for ``query`` attending to masked ``key``."""
        key = torch.where(key_mask[..., None], key, torch.zeros_like(key)) if key_mask is not None else key
        h = query + self.attn(self.ln_q(query), self.ln_k(key), key_mask)
        return h + self.ff(self.ln_h(h))


class ISAB(nn.Module):
    """Induced set attention block with ``m`` inducing points."""

    def __init__(self, dim: int, heads: int, m: int):
        super().__init__()
        self.inducing = nn.Parameter(torch.randn(m, dim) / math.sqrt(dim))
        self.mab1 = MAB(dim, heads)
        self.mab2 = MAB(dim, heads)

    def forward(self, x, mask):
        """``x (..., n, dim)`` with ``mask (..., n)`` -> ``(..., n, dim)``."""
        ind = self.inducing.expand(*x.shape[:-2], *self.inducing.shape)
        h = self.mab1(ind, x, mask)
        return self.mab2(x, h, None)


class PMA(nn.Module):
    """Pooling by multihead attention to one vector per set."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.seed = nn.Parameter(torch.randn(1, dim) / math.sqrt(dim))
        self.mab = MAB(dim, heads)

    def forward(self, x, mask):
        """``x (..., n, dim)``, ``mask (..., n)`` -> ``(..., dim)``."""
        seed = self.seed.expand(*x.shape[:-2], *self.seed.shape)
        return self.mab(seed, x, mask)[..., 0, :]


class SetEncoder(nn.Module):
    """Embedding, ``depth`` ISABs and a PMA: a masked set -> one summary vector.

    Args:
        in_dim: Features per element.
        dim: Model width.
        heads: Attention heads.
        inducing: Inducing points per ISAB.
        depth: Number of ISABs.
    """

    def __init__(self, in_dim: int, dim: int, heads: int, inducing: int, depth: int):
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(in_dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.blocks = nn.ModuleList(ISAB(dim, heads, inducing) for _ in range(depth))
        self.pool = PMA(dim, heads)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(..., n, in_dim)`` elements with ``(..., n)`` mask -> ``(..., dim)``."""
        x = torch.where(mask[..., None], x, torch.zeros_like(x))
        h = self.embed(x)
        for block in self.blocks:
            h = block(h, mask)
        return self.pool(h, mask)
