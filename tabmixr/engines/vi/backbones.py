"""Backbones: the fixed-effect feature map shared by every task.

``linear`` has no hidden features: each task's linear predictor is
``X beta`` (a classic GLMM).  ``mlp`` maps the standardized fixed-effect
columns through hidden layers; each task adds ``head(H)`` to ``X beta``.
Optional group embeddings are added to the first hidden layer (TabMixNN's
``H_fixed + Z u``).  ``gsem`` learns a linear structural equation model
(a DAG) among the fixed-effect columns (``gsem.py``); its heads are the
linear parts.  Registry: ``BACKBONES`` name -> class; each class also says
which options its config keeps (``options_from``).  ``manifold`` reads the
rows' coordinates (and time) from named fixed-effect columns, maps them onto
latent fields with an SPDE Matern (x AR1) prior (``manifold.py``) and feeds
the fields' values with the features through an MLP.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from tabmixr.covariance.spde import grid_for_sites
from tabmixr.engines.vi.gsem import LinearSEM, dag_summary
from tabmixr.engines.vi.manifold import LatentFields
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

    def kl(self) -> torch.Tensor | None:
        """KL term of the backbone's own latent variables (``None``: none)."""
        return None

    def set_input_scaling(self, center: torch.Tensor, scale: torch.Tensor) -> None:
        """Called with the model's column centres and scales once they are known."""


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


class ManifoldBackbone(MLPBackbone):
    """Latent spatial (or spatio-temporal) fields read at the rows, then an MLP.

    The hidden features are ``MLP([X_std, f(x, y[, t])])``: ``f`` holds the
    values of ``channels`` latent fields (``manifold.LatentFields``, an SPDE
    Matern prior on a grid covering the coordinates, times an AR(1) prior
    over equally spaced time knots when ``time`` is given), so location and
    time can interact with the features.  The fields' KL joins the ELBO.
    Coordinates and time are fixed-effect columns named by ``coords`` and
    ``time``; they also keep their linear terms in ``X beta``.  Rows outside
    the fitted grid or time range are refused at prediction.

    Args:
        p: Columns of ``X``.
        coords: Indices of the two coordinate columns.
        time: Index of the time column, or ``None``.
        grid: ``[nx, ny, hx, hy, x0, y0]``.
        knots: ``[t0, dt, K]`` or ``None``.
        channels: Number of latent fields.
        ranges: Their practical ranges (``None``: ``manifold.range_ladder``).
        extent: Longer side of the coordinates' bounding box.
        names: Names of the coordinate (and time) columns, for messages and the summary.
        hidden, activation, dropout: As ``MLPBackbone``.
    """

    def __init__(self, p: int, coords=(0, 1), time=None, grid=None, knots=None,
                 channels: int = 4, ranges=None, extent: float = 1.0, names=(), hidden=(64, 32),
                 activation: str = "relu", dropout: float = 0.0, **_: object):
        super().__init__(int(p) + int(channels), hidden=hidden, activation=activation,
                         dropout=dropout)
        self.coord_cols = [int(c) for c in coords]
        self.time_col = None if time is None else int(time)
        self.names = [str(n) for n in names]
        self.fields = LatentFields(grid, int(channels), knots, ranges, float(extent))
        cols = self.coord_cols + ([] if self.time_col is None else [self.time_col])
        self.register_buffer("input_center", torch.zeros(len(cols)))
        self.register_buffer("input_scale", torch.ones(len(cols)))
        self._cols = cols

    @classmethod
    def options_from(cls, opts: Any, design: Any) -> dict[str, Any]:
        """Coordinate/time columns, the grid, the time knots and the MLP options.

        Raises:
            EngineError: ``coords`` missing or not two fixed-effect columns, ``time``
                not a fixed-effect column, non-finite values, or fewer than 3 sites.
        """
        names = [str(n) for n in design.fixed_names]

        def column(name: str, what: str) -> int:
            if name not in names:
                raise EngineError(f"backbone='manifold': {what} column {name!r} is not a "
                                  f"fixed-effect column of the formula (columns: "
                                  f"{', '.join(names)}); add it to the formula's fixed part")
            return names.index(name)

        if opts.coords is None or isinstance(opts.coords, str) or len(opts.coords) != 2:
            raise EngineError("backbone='manifold' needs coords=(x, y): the names of two "
                              f"fixed-effect columns holding the rows' coordinates, got "
                              f"{opts.coords!r}")
        X = np.asarray(design.X, dtype=float)
        cols = [column(str(c), "coordinate") for c in opts.coords]
        xy = X[:, cols]
        if not np.all(np.isfinite(xy)):
            raise EngineError("backbone='manifold': coordinates hold NaN or Inf")
        sites = np.unique(xy, axis=0)
        grid = grid_for_sites(sites, opts.nodes)
        extent = float(np.max(xy.max(axis=0) - xy.min(axis=0)))
        out = {"coords": cols, "time": None, "grid": [float(v) for v in grid],
               "knots": None, "channels": int(opts.field_channels), "extent": extent,
               "ranges": None if opts.field_ranges is None else
               [float(r) for r in opts.field_ranges],
               "names": [str(c) for c in opts.coords], "hidden": list(opts.hidden),
               "activation": opts.activation, "dropout": opts.dropout}
        if opts.time is not None:
            t_col = column(str(opts.time), "time")
            t = X[:, t_col]
            if not np.all(np.isfinite(t)):
                raise EngineError(f"backbone='manifold': time column {opts.time!r} holds "
                                  "NaN or Inf")
            distinct = np.unique(t)
            if distinct.size < 2:
                raise EngineError(f"backbone='manifold': time column {opts.time!r} has a "
                                  "single value; leave time=None")
            K = int(min(distinct.size, opts.time_knots))
            out.update(time=t_col, knots=[float(distinct[0]),
                                          float(distinct[-1] - distinct[0]) / (K - 1), K])
            out["names"].append(str(opts.time))
        return out

    def set_input_scaling(self, center: torch.Tensor, scale: torch.Tensor) -> None:
        with torch.no_grad():
            self.input_center.copy_(center[self._cols])
            self.input_scale.copy_(scale[self._cols])

    def forward(self, Xs: torch.Tensor, embedded: torch.Tensor | None = None) -> torch.Tensor:
        raw = Xs[:, self._cols] * self.input_scale + self.input_center
        times = raw[:, 2] if self.time_col is not None else None
        f = self.fields(raw[:, :2], times)
        return super().forward(torch.cat([Xs, f.to(Xs.dtype)], dim=1), embedded)

    def kl(self) -> torch.Tensor:
        """KL of the latent fields (``manifold.LatentFields.kl``)."""
        return self.fields.kl()

    def summary(self) -> dict[str, Any]:
        """``{"manifold": {...}}``: per field range, SD (and rho), the grid, the columns."""
        out = self.fields.summary()
        out["columns"] = list(self.names)
        return {"manifold": out}


BACKBONES: dict[str, type[Backbone]] = {"linear": LinearBackbone, "mlp": MLPBackbone,
                                        "gsem": GSEMBackbone, "manifold": ManifoldBackbone}


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
