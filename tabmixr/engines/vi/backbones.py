"""Backbones: the fixed-effect feature map shared by every task.

``linear`` has no hidden features: each task's linear predictor is
``X beta`` (a classic GLMM).  ``mlp`` maps the standardized fixed-effect
columns through hidden layers; each task adds ``head(H)`` to ``X beta``.
Optional group embeddings are added to the first hidden layer (TabMixNN's
``H_fixed + Z u``).  ``gsem`` learns a linear structural equation model
(a DAG) among the fixed-effect columns (``gsem.py``); its heads are the
linear parts.  Registry: ``BACKBONES`` name -> class; each class also says
which options its config keeps (``options_from``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from tabmixr.engines.vi.gsem import LinearSEM, dag_summary
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
    #: Whether the backbone has a constrained structure learned before the rest
    #: (``lagrangian.learn_structure``; such a backbone has ``sem`` and ``node_values``).
    constrained: bool = False

    @classmethod
    def options_from(cls, opts: Any, design: Any) -> dict[str, Any]:
        """The constructor options kept in the model config (plain data).

        Args:
            opts: ``VIOptions``.
            design: The materialized design.

        Returns:
            Keyword arguments of the constructor (besides ``p``).
        """
        return {}

    def forward(self, Xs: torch.Tensor, embedded: torch.Tensor | None = None) -> torch.Tensor | None:
        """Hidden features ``(n, out_dim)`` or ``None`` for a linear model."""
        return None

    def feature_loglik(self, Xs: torch.Tensor) -> torch.Tensor | None:
        """Log-likelihood per row of the features themselves (``None``: not modelled)."""
        return None

    def penalty(self) -> torch.Tensor | None:
        """Structural penalty added to the per-row objective (``None``: none)."""
        return None

    def prepare(self, x_scale: torch.Tensor) -> None:
        """Called once the model's column scales are known, before training."""

    def summary(self) -> dict[str, Any] | None:
        """Plain data describing what the backbone learned (``None``: nothing to report)."""
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

    @classmethod
    def options_from(cls, opts: Any, design: Any) -> dict[str, Any]:
        """``hidden``, ``activation`` and ``dropout`` of ``opts``."""
        return {"hidden": list(opts.hidden), "activation": opts.activation, "dropout": opts.dropout}

    def forward(self, Xs: torch.Tensor, embedded: torch.Tensor | None = None) -> torch.Tensor:
        h = Xs
        for k, layer in enumerate(self.layers):
            h = layer(h)
            if k == 0 and embedded is not None:
                h = h + embedded
            h = self.drop(self.act(h))
        return h


class GSEMBackbone(Backbone):
    """A linear structural equation layer over the fixed-effect columns.

    The SEM ``eta = (I - B)^-1 xi`` (``gsem.LinearSEM``) models the node
    columns: its log-likelihood and structural penalty join the objective,
    and its DAG is learned first under the acyclicity constraint
    (``lagrangian.py``).  The heads read the SEM-implied latent features
    linearly; for a linear SEM these are the (standardized) node columns
    themselves, so the tasks' linear part ``X beta`` is the head and the
    backbone adds no hidden features (``out_dim = 0``): ``fixef``, ``vcov``
    and ``VarCorr`` keep their GLMM meaning.  The fit's criterion (``-2 ELBO``)
    also counts ``-2 log p(x)`` of the node columns, so its ``logLik``/``AIC``
    compare with other ``gsem`` fits of the same columns only.  The learned
    DAG is ``fit.model_state["dag"]`` (``gsem.learned_dag``; drawn by
    ``tabmixr.plots.plot_dag``).

    Every non-constant column of ``X`` is a node, dummy columns of factors
    included (modelled as Gaussian like the rest); prior weights do not enter
    the SEM.

    Args:
        p: Columns of ``X``.
        nodes: Indices of the columns that are SEM nodes.
        names: Their names.
        lambda_l1: L1 weight on ``B``.
        dag_threshold: Smallest absolute weight reported as an edge.
    """

    constrained = True

    def __init__(self, p: int, nodes=(), names=(), lambda_l1: float = 0.03,
                 dag_threshold: float = 0.3, **_: object):
        super().__init__()
        self.nodes = [int(j) for j in nodes]
        self.names = [str(n) for n in names] or [f"x{j}" for j in self.nodes]
        self.dag_threshold = float(dag_threshold)
        self.sem = LinearSEM(len(self.nodes), lambda_l1)

    @classmethod
    def options_from(cls, opts: Any, design: Any) -> dict[str, Any]:
        """Node columns (the non-constant columns of ``X``) and the SEM options.

        Raises:
            EngineError: fewer than two non-constant fixed-effect columns.
        """
        X = np.asarray(design.X, dtype=float)
        nodes = [j for j in range(X.shape[1]) if X.shape[0] > 1 and np.ptp(X[:, j]) > 0]
        if len(nodes) < 2:
            raise EngineError(f"backbone='gsem' needs at least two non-constant fixed-effect "
                              f"columns to relate, found {len(nodes)}; add predictors or use "
                              "backbone='mlp'")
        names = [str(design.fixed_names[j]) for j in nodes]
        return {"nodes": nodes, "names": names, "lambda_l1": float(opts.lambda_l1),
                "dag_threshold": float(opts.dag_threshold)}

    def feature_loglik(self, Xs: torch.Tensor) -> torch.Tensor:
        """SEM log-likelihood of each row's node values, ``(n,)``."""
        return self.sem.loglik(self.node_values(Xs))

    def penalty(self) -> torch.Tensor:
        """``alpha h + rho / 2 h^2 + lambda_l1 |B|_1``."""
        return self.sem.penalty()

    def prepare(self, x_scale: torch.Tensor) -> None:
        """Put the nodes on one common scale (see ``gsem``)."""
        self.sem.set_scale(x_scale[self.nodes])

    def node_values(self, Xs: torch.Tensor) -> torch.Tensor:
        """SEM node values ``z`` of standardized rows, ``(n, d)``."""
        return self.sem.nodes(Xs[:, self.nodes])

    def summary(self) -> dict[str, Any]:
        """The learned DAG (``gsem.dag_summary``)."""
        return {"dag": dag_summary(self.sem, self.names, self.dag_threshold)}


BACKBONES: dict[str, type[Backbone]] = {"linear": LinearBackbone, "mlp": MLPBackbone,
                                        "gsem": GSEMBackbone}


def backbone_options(opts: Any, design: Any) -> dict[str, Any]:
    """The config options of ``opts.backbone`` (see ``Backbone.options_from``).

    Raises:
        EngineError: unknown backbone, or a design the backbone cannot use.
    """
    try:
        cls = BACKBONES[opts.backbone]
    except KeyError:
        raise EngineError(f"unknown backbone {opts.backbone!r}; available: {', '.join(BACKBONES)}") from None
    return cls.options_from(opts, design)


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
