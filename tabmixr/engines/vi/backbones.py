"""Backbones: the fixed-effect feature map shared by every task.

``linear`` has no hidden features: each task's linear predictor is
``X beta`` (a classic GLMM).  ``mlp`` maps the standardized fixed-effect
columns through hidden layers; each task adds ``head(H)`` to ``X beta``.
Optional group embeddings are added to the first hidden layer (TabMixNN's
``H_fixed + Z u``).  Registry: ``BACKBONES`` name -> class.
"""

from __future__ import annotations

import torch
from torch import nn

from tabmixr.errors import EngineError

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "elu": nn.ELU, "silu": nn.SiLU}


class Backbone(nn.Module):
    """Maps standardized fixed-effect features to hidden features.

    Attributes:
        out_dim: Width of the features handed to the heads (0: none).
        embed_dim: Width group embeddings must have (0: not supported).
    """

    out_dim: int = 0
    embed_dim: int = 0

    def forward(self, Xs: torch.Tensor, embedded: torch.Tensor | None = None) -> torch.Tensor | None:
        """Hidden features ``(n, out_dim)`` or ``None`` for a linear model."""
        return None


class LinearBackbone(Backbone):
    """No hidden features: the tasks' linear parts are the whole model."""

    def __init__(self, p: int, **_: object):
        super().__init__()


class MLPBackbone(Backbone):
    """Fully connected layers with activation and dropout.

    Args:
        p: Input columns.
        hidden: Widths of the hidden layers.
        activation: Activation name.
        dropout: Dropout probability after each hidden layer.
    """

    def __init__(self, p: int, hidden=(64, 32), activation: str = "relu", dropout: float = 0.0, **_: object):
        super().__init__()
        widths = [int(p)] + [int(h) for h in hidden]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.act = _ACTIVATIONS[activation]()
        self.drop = nn.Dropout(dropout)
        self.out_dim = widths[-1]
        self.embed_dim = widths[1]

    def forward(self, Xs: torch.Tensor, embedded: torch.Tensor | None = None) -> torch.Tensor:
        h = Xs
        for k, layer in enumerate(self.layers):
            h = layer(h)
            if k == 0 and embedded is not None:
                h = h + embedded
            h = self.drop(self.act(h))
        return h


BACKBONES: dict[str, type[Backbone]] = {"linear": LinearBackbone, "mlp": MLPBackbone}


def make_backbone(name: str, p: int, **options: object) -> Backbone:
    """A new backbone by registry name.

    Raises:
        EngineError: unknown name.
    """
    try:
        cls = BACKBONES[name]
    except KeyError:
        raise EngineError(f"unknown backbone {name!r}; available: {', '.join(BACKBONES)}") from None
    return cls(p, **options)
