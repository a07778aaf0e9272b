"""``new_levels="learned"``: a small network predicting a new group's effects.

For every task and term, a two-layer network maps a level's summary -- the
mean of its rows' standardized fixed-effect features and the log of its row
count -- to the level's effects.  It is trained after the main fit on the
fitted levels, with the variational means as targets (weighted least
squares with a small L2 penalty), and applied at prediction to levels the
fit has never seen, using their rows in ``newdata``.
"""

from __future__ import annotations

import torch
from torch import nn

#: Hidden width of the new-level networks.
HIDDEN = 32
#: L2 penalty on their weights.
PENALTY = 1e-3


class NewLevelNet(nn.Module):
    """``summary(level rows) -> b_g``: ``(n_groups, p + 1) -> (n_groups, dim)``."""

    def __init__(self, p: int, dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(p + 1, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, dim))

    def forward(self, summary: torch.Tensor) -> torch.Tensor:
        return self.net(summary)


def level_summaries(Xs: torch.Tensor, codes: torch.Tensor, n_groups: int) -> torch.Tensor:
    """Per group: mean of ``Xs`` over its rows and ``log(count)``; ``(n_groups, p + 1)``.

    Rows with a negative code are ignored; a group without rows gets zeros.
    """
    keep = codes >= 0
    Xs, codes = Xs[keep], codes[keep]
    sums = torch.zeros((n_groups, Xs.shape[1]), dtype=Xs.dtype, device=Xs.device)
    sums.index_add_(0, codes, Xs)
    counts = torch.zeros(n_groups, dtype=Xs.dtype, device=Xs.device)
    counts.index_add_(0, codes, torch.ones_like(codes, dtype=Xs.dtype))
    means = sums / counts.clamp(min=1.0)[:, None]
    return torch.cat([means, torch.log(counts.clamp(min=1.0))[:, None]], dim=1)


def train_new_level_net(net: NewLevelNet, summary: torch.Tensor, target: torch.Tensor,
                        max_iter: int = 200) -> float:
    """Fit ``net(summary) ~ target`` by L-BFGS; returns the final mean squared error."""
    scale = target.detach().std().clamp(min=1e-8)
    optimizer = torch.optim.LBFGS(net.parameters(), lr=1.0, max_iter=max_iter,
                                  line_search_fn="strong_wolfe")
    weights = [p for name, p in net.named_parameters() if name.endswith("weight")]

    def loss_fn():
        mse = (((net(summary) - target) / scale) ** 2).mean()
        return mse + PENALTY * sum((w ** 2).sum() for w in weights)

    def closure():
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return float(((net(summary) - target) ** 2).mean())
