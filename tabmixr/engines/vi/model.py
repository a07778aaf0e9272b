"""The neural mixed model: backbone + one head per task + variational random effects.

For task ``k`` with ``n_eta`` linear predictors

    eta_k = X beta_k + head_k(backbone(X_std [+ embeddings])) + offset + Z b_k,

with ``q(b_k)`` per term and level (``posterior.py``).  The configuration is
a plain dict (``config``) so a fit can rebuild the module from its saved
``state_dict`` without pickling code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from tabmixr.engines.vi.backbones import make_backbone
from tabmixr.engines.vi.dense_posterior import DensePosterior
from tabmixr.engines.vi.kin_posterior import KinPosterior
from tabmixr.engines.vi.newlevels import NewLevelNet
from tabmixr.engines.vi.posterior import JointFactor, TermPosterior
from tabmixr.engines.vi.spde_posterior import SpdePosterior
from tabmixr.engines.vi.structured import StructuredPosterior

#: A term's ``"posterior"`` in the config -> its posterior module.
POSTERIORS = {"levels": TermPosterior, "structured": StructuredPosterior, "spde": SpdePosterior,
              "dense": DensePosterior, "kin": KinPosterior}


@dataclass
class Batch:
    """Rows of the data as tensors (all on the model's device).

    Attributes:
        X: Fixed-effects matrix ``(n, p)``.
        term_X: Per term, its model matrix ``(n, q_t)``.
        codes: Per term, level codes ``(n,)`` (``-1``: unseen level).
        offset: ``(n,)`` or ``None``.
        weights: Prior weights ``(n,)`` or ``None``.
        ys: Per task, the prepared response (``None`` at prediction).
    """

    X: torch.Tensor
    term_X: list[torch.Tensor]
    codes: list[torch.Tensor]
    offset: torch.Tensor | None = None
    weights: torch.Tensor | None = None
    ys: list[Any] | None = None

    @property
    def n(self) -> int:
        """Number of rows."""
        return self.X.shape[0]

    def rows(self, idx: torch.Tensor) -> "Batch":
        """The sub-batch of rows ``idx``."""
        pick = (lambda t: None if t is None else t[idx])
        return Batch(X=self.X[idx], term_X=[t[idx] for t in self.term_X],
                     codes=[c[idx] for c in self.codes], offset=pick(self.offset),
                     weights=pick(self.weights),
                     ys=None if self.ys is None else [y[idx] for y in self.ys])


class TaskHead(nn.Module):
    """Linear part ``X beta`` (+ a map of hidden features) for one task.

    The linear part is parametrized on standardized columns, ``Xl gamma``
    (``Xl = (X - center) / scale``, centred only when ``X`` has an intercept
    column), so that optimization does not depend on the units of the
    predictors; ``VIModel.beta`` maps ``gamma`` back to ``beta``.
    """

    def __init__(self, p: int, hidden_dim: int, n_eta: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(p, n_eta))
        self.out = nn.Linear(hidden_dim, n_eta, bias=False) if hidden_dim else None
        if self.out is not None:
            nn.init.zeros_(self.out.weight)

    def forward(self, Xl: torch.Tensor, H: torch.Tensor | None) -> torch.Tensor:
        eta = Xl @ self.gamma
        return eta if self.out is None else eta + self.out(H)


class VIModel(nn.Module):
    """The whole model, built from a plain ``config`` dict.

    ``config`` keys: ``p``, ``backbone`` (name), ``backbone_options``,
    ``group_embeddings``, ``new_level_net``, ``joint`` (per task: one
    posterior over all its terms), ``terms`` (list of ``{"q", "n_levels",
    "covariance", "text", "args", "posterior"}``; ``args``: the wrapper
    arguments of a structured term, ``posterior``: a key of ``POSTERIORS``),
    ``tasks`` (list of ``{"name", "n_eta", ...}``).
    """

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self.config = config
        p = int(config["p"])
        self.backbone = make_backbone(config["backbone"], p, **config.get("backbone_options", {}))
        self.register_buffer("x_center", torch.zeros(p))
        self.register_buffer("x_scale", torch.ones(p))
        self.register_buffer("intercept", torch.zeros(p))  # 1 at the intercept column, if any
        tasks, terms = config["tasks"], config["terms"]
        self.heads = nn.ModuleList(TaskHead(p, self.backbone.out_dim, int(t["n_eta"])) for t in tasks)
        self.posteriors = nn.ModuleList(
            nn.ModuleList(POSTERIORS[t.get("posterior", "levels")](
                t["q"], t["n_levels"], t["covariance"], int(task["n_eta"]), t.get("text", ""),
                t.get("args")) for t in terms)
            for task in tasks)
        joint = config.get("joint") or [False] * len(tasks)
        self.joint = nn.ModuleList(
            JointFactor([(post.n_levels, post.dim) for post in posts]) if flag else nn.Identity()
            for flag, posts in zip(joint, self.posteriors))
        self.aux = nn.ModuleList(
            nn.ParameterDict({k: nn.Parameter(torch.tensor(float(v))) if not isinstance(v, list)
                              else nn.Parameter(torch.tensor(v, dtype=torch.float64))
                              for k, v in task.get("aux_init", {}).items()})
            for task in tasks)
        self.embeddings = nn.ModuleList()
        if config.get("group_embeddings"):
            dim = self.backbone.embed_dim
            for t in terms:
                emb = nn.Embedding(int(t["n_levels"]), dim)
                nn.init.normal_(emb.weight, std=0.01)
                self.embeddings.append(emb)
        self.new_level_nets = nn.ModuleList()
        if config.get("new_level_net"):
            for task in tasks:
                for t in terms:
                    self.new_level_nets.append(NewLevelNet(p, int(t["q"]) * int(task["n_eta"])))
        self.families: list = []  # set by the engine / loader (not part of the state)

    # -- pieces ------------------------------------------------------------
    def features(self, batch: Batch) -> torch.Tensor | None:
        """Hidden features of the backbone (``None`` for a linear backbone)."""
        if self.backbone.out_dim == 0:
            return None
        Xs = self.standardized(batch.X)
        embedded = None
        for emb, codes in zip(self.embeddings, batch.codes):
            known = (codes >= 0).to(Xs.dtype)[:, None]
            e = emb(codes.clamp(min=0)) * known
            embedded = e if embedded is None else embedded + e
        return self.backbone(Xs, embedded)

    def standardized(self, X: torch.Tensor) -> torch.Tensor:
        """``Xs = (X - center) / scale``, the backbone's inputs."""
        return (X - self.x_center) / self.x_scale

    def structure_loss(self, batch: Batch) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The backbone's model of the features: ``(log-likelihood per row, penalty)``,
        either ``None`` when the backbone has none (see ``Backbone.feature_loglik``)."""
        loglik = self.backbone.feature_loglik(self.standardized(batch.X))
        return loglik, self.backbone.penalty()

    def linear_inputs(self, X: torch.Tensor) -> torch.Tensor:
        """``Xl``: columns scaled, and centred when there is an intercept column."""
        center = self.x_center * self.intercept.sum()
        return (X - center) / self.x_scale

    def beta_map(self) -> torch.Tensor:
        """``J`` with ``beta = J gamma``, ``(p, p)`` (see ``TaskHead``)."""
        J = torch.diag(1.0 / self.x_scale)
        if float(self.intercept.sum()) > 0:
            k0 = int(torch.argmax(self.intercept))
            row = -self.x_center / self.x_scale
            row[k0] = 1.0
            J[k0] = row
        return J

    def beta(self, task: int = 0) -> torch.Tensor:
        """Fixed-effect coefficients of ``task`` on the scale of ``X``, ``(p, n_eta)``."""
        return self.beta_map() @ self.heads[task].gamma

    def fixed_eta(self, batch: Batch, H: torch.Tensor | None, task: int) -> torch.Tensor:
        """``X beta + head(H) + offset``, shape ``(n, n_eta)``."""
        eta = self.heads[task](self.linear_inputs(batch.X), H)
        if batch.offset is not None:
            eta = eta + batch.offset[:, None]
        return eta

    def mean_eta(self, batch: Batch, task: int = 0, b_override: list | None = None,
                 H: torch.Tensor | None = None) -> torch.Tensor:
        """Linear predictors at the posterior means (or at ``b_override`` per term)."""
        H = self.features(batch) if H is None else H
        eta = self.fixed_eta(batch, H, task)
        for t, post in enumerate(self.posteriors[task]):
            b = post.mu if b_override is None else b_override[t]
            eta = eta + post.contribution(batch.term_X[t], batch.codes[t], b)
        return eta

    def joint_factor(self, task: int) -> JointFactor | None:
        """The task's joint posterior factor, or ``None`` (mean field over terms)."""
        factor = self.joint[task]
        return factor if isinstance(factor, JointFactor) else None

    def kl(self) -> torch.Tensor:
        """Sum of the KL terms of every task and term."""
        total = torch.zeros((), dtype=self.x_center.dtype, device=self.x_center.device)
        for k, task in enumerate(self.posteriors):
            factor = self.joint_factor(k)
            if factor is not None:
                total = total + factor.kl(task)
                continue
            for post in task:
                total = total + post.kl()
        return total

    def cond_var(self, task: int, t: int) -> torch.Tensor:
        """Posterior covariance blocks of term ``t`` of ``task``, ``(n_levels, dim, dim)``."""
        factor = self.joint_factor(task)
        if factor is not None:
            return factor.cond_var(t)
        L = self.posteriors[task][t].L_post()
        return L @ L.transpose(1, 2)

    def embedding_penalty(self) -> torch.Tensor:
        """0.5 * squared norm of the group embeddings (a N(0, 1) prior on them)."""
        total = torch.zeros((), dtype=self.x_center.dtype, device=self.x_center.device)
        for emb in self.embeddings:
            total = total + 0.5 * (emb.weight ** 2).sum()
        return total
