"""Conditional affine-coupling normalizing flow with a learnable Student-t base.

``q(phi | context)`` for the ``D``-dimensional global parameter vector
``phi`` (see ``parameters.py``).  Generative direction ``z -> phi``::

    z ~ prod_d StudentT(nu_d)                      (learnable nu_d > 1)
    x <- mu(ctx) + exp(s(ctx)) * z                 (conditional elementwise affine)
    x <- coupling_1(x; ctx) ... coupling_K(x; ctx)

Coupling ``k`` keeps the dimensions in its binary mask ``m_k`` and moves the
others: ``x'_d = x_d exp(a_d) + t_d`` for ``m_k,d = 0`` with
``(a, t) = NN([m_k * x, ctx])`` and ``a = clamp * tanh(raw / clamp)``; its
``log|det J| = sum_d (1 - m_k,d) a_d``.

Variable dimension by masking: an inactive coordinate (``active_d = 0``) is
zeroed in every conditioner input and never moved (``a = t = 0``), and the
base density counts active coordinates only, so the flow restricted to the
active coordinates is an exact normalizing flow of that dimension.

Following zuko's layering, ``ConditionalFlow.forward(context, active)``
returns a ``torch.distributions.Distribution`` (``FlowDistribution``).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Distribution, constraints

from tabmixr.engines.amortized.sampling import student_t


def student_t_log_prob(z: torch.Tensor, df: torch.Tensor) -> torch.Tensor:
    """Elementwise log-density of the standard Student-t with ``df`` degrees of freedom."""
    return (torch.lgamma((df + 1) / 2) - torch.lgamma(df / 2) - 0.5 * torch.log(df * math.pi)
            - (df + 1) / 2 * torch.log1p(z * z / df))


def _mlp(n_in: int, n_out: int, hidden: int, layers: int) -> nn.Sequential:
    mods, width = [], n_in
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.GELU()]
        width = hidden
    last = nn.Linear(width, n_out)
    nn.init.normal_(last.weight, std=1e-2)  # near-identity start, gradients reach every layer
    nn.init.zeros_(last.bias)
    return nn.Sequential(*mods, last)


class Conditioner(nn.Module):
    """MLP of ``[x, context]`` whose first layer is split: ``W_x x + (W_c context + b)``.

    The context part is computed once per data set and broadcast over the
    draws, so ``S`` draws cost ``S`` small products instead of ``S`` wide ones.
    """

    def __init__(self, D: int, context_dim: int, n_out: int, hidden: int, layers: int):
        super().__init__()
        self.x_in = nn.Linear(D, hidden, bias=False)
        self.c_in = nn.Linear(context_dim, hidden)
        self.rest = _mlp(hidden, n_out, hidden, layers - 1)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """``x (..., B, D)``, ``context (B, C)`` -> ``(..., B, n_out)``."""
        return self.rest(nn.functional.gelu(self.x_in(x) + self.c_in(context)))


class AffineCoupling(nn.Module):
    """One conditional affine coupling layer (module docstring).

    Args:
        mask: ``(D,)`` 1 for kept, 0 for moved dimensions.
        context_dim: Width of the context.
        hidden: Conditioner width.
        layers: Conditioner hidden layers.
        clamp: Bound of the log-scale.
    """

    def __init__(self, mask: torch.Tensor, context_dim: int, hidden: int, layers: int, clamp: float):
        super().__init__()
        self.register_buffer("mask", mask.float())
        D = mask.numel()
        self.clamp = clamp
        self.net = Conditioner(D, context_dim, 2 * D, hidden, layers)

    def _params(self, x, context, active):
        keep = self.mask.to(x.dtype) * active
        raw = self.net(x * keep, context)
        a, t = raw.chunk(2, -1)
        moved = (1 - self.mask.to(x.dtype)) * active
        a = self.clamp * torch.tanh(a / self.clamp) * moved
        return a, t * moved

    def forward(self, x, context, active):
        """``z -> x`` direction: returns ``(x', log|det J|)``."""
        a, t = self._params(x, context, active)
        return x * torch.exp(a) + t, a.sum(-1)

    def inverse(self, y, context, active):
        """``x' -> x``: returns ``(x, log|det J_forward|)``."""
        a, t = self._params(y, context, active)
        return (y - t) * torch.exp(-a), a.sum(-1)


class FlowDistribution(Distribution):
    """``q(phi | context)`` for a batch of contexts (batch shape ``(B,)``, event ``(D,)``)."""

    arg_constraints: dict = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, flow: "ConditionalFlow", context: torch.Tensor, active: torch.Tensor):
        self.flow, self.context, self.active = flow, context, active.to(context.dtype)
        super().__init__(batch_shape=context.shape[:-1], event_shape=(flow.D,), validate_args=False)

    def _expand(self, like: torch.Tensor):
        """Context and mask, broadcastable against ``like (..., B, D)``."""
        return self.context, self.active

    def inverse(self, value: torch.Tensor):
        """``phi -> z``: base point and ``log|det d phi / d z|``, ``value (..., B, D)``."""
        ctx, act = self._expand(value)
        x, logdet = value, torch.zeros_like(value[..., 0])
        for layer in reversed(self.flow.couplings):
            x, ld = layer.inverse(x, ctx, act)
            logdet = logdet + ld
        mu, log_s = self.flow.affine(ctx, act)
        return (x - mu) * torch.exp(-log_s), logdet + log_s.sum(-1)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``log q(phi)`` over the active coordinates; ``value (..., B, D)``."""
        z, logdet = self.inverse(value)
        base = student_t_log_prob(z, self.flow.df().to(z.dtype)) * self.active
        return base.sum(-1) - logdet

    def rsample(self, sample_shape=torch.Size(), generator: torch.Generator | None = None):
        """Draws ``(*sample_shape, B, D)``; reparameterized when ``generator`` is None."""
        shape = torch.Size(sample_shape) + self.batch_shape + self.event_shape
        df = self.flow.df().to(self.context.dtype).expand(shape)
        if generator is None:
            z = torch.distributions.StudentT(df).rsample()
        else:
            z = student_t(df.detach().to(torch.float64).contiguous(), generator).to(df.dtype)
        return self.transform(z)[0]

    def sample(self, sample_shape=torch.Size(), generator: torch.Generator | None = None):
        """Draws without gradient."""
        with torch.no_grad():
            return self.rsample(sample_shape, generator)

    def transform(self, z: torch.Tensor):
        """Push base draws ``z`` through the flow: ``(phi, log q(phi))``."""
        ctx, act = self._expand(z)
        base = (student_t_log_prob(z, self.flow.df().to(z.dtype)) * act).sum(-1)
        mu, log_s = self.flow.affine(ctx, act)
        x = mu + torch.exp(log_s) * z
        x = torch.where(act > 0, x, z)
        logdet = log_s.sum(-1)
        for layer in self.flow.couplings:
            x, ld = layer(x, ctx, act)
            logdet = logdet + ld
        return x, base - logdet

    def sample_and_log_prob(self, sample_shape=torch.Size(), generator=None):
        """Draws and their ``log q`` in one pass."""
        shape = torch.Size(sample_shape) + self.batch_shape + self.event_shape
        df = self.flow.df().to(self.context.dtype).expand(shape)
        z = student_t(df.detach().to(torch.float64).contiguous(), generator).to(df.dtype) \
            if generator is not None else torch.distributions.StudentT(df).sample()
        return self.transform(z)


class ConditionalAffine(nn.Module):
    """Elementwise ``x = mu(ctx) + exp(s(ctx)) z`` on active coordinates."""

    def __init__(self, D: int, context_dim: int, hidden: int, layers: int, clamp: float):
        super().__init__()
        self.net = _mlp(context_dim, 2 * D, hidden, layers)
        self.clamp = clamp

    def forward(self, context, active):
        """``(mu, log_s)``, zero on inactive coordinates."""
        mu, s = self.net(context).chunk(2, -1)
        return mu * active, self.clamp * torch.tanh(s / self.clamp) * active


class ConditionalFlow(nn.Module):
    """Conditional normalizing flow ``q(phi | context)``.

    Args:
        D: Event dimension.
        context_dim: Width of the conditioning vector.
        couplings: Number of coupling layers.
        hidden: Conditioner width.
        layers: Hidden layers per conditioner.
        clamp: Bound of every log-scale.
        df_init: Initial base degrees of freedom.
        seed: Seed of the random coupling masks (stored as buffers).
    """

    def __init__(self, D: int, context_dim: int, couplings: int = 8, hidden: int = 128,
                 layers: int = 2, clamp: float = 3.0, df_init: float = 10.0, seed: int = 0):
        super().__init__()
        self.D = D
        g = torch.Generator().manual_seed(seed)
        masks = []
        for k in range(couplings):
            if k % 2 == 0:
                perm = torch.randperm(D, generator=g)
                m = torch.zeros(D)
                m[perm[: D // 2]] = 1
            else:
                m = 1 - masks[-1]
            masks.append(m)
        self.couplings = nn.ModuleList(AffineCoupling(m, context_dim, hidden, layers, clamp) for m in masks)
        self.affine = ConditionalAffine(D, context_dim, hidden, layers, clamp)
        self.df_raw = nn.Parameter(torch.full((D,), math.log(math.expm1(df_init - 1))))

    def df(self) -> torch.Tensor:
        """Base degrees of freedom ``1 + softplus(df_raw)`` (> 1: finite mean)."""
        return 1 + nn.functional.softplus(self.df_raw)

    def forward(self, context: torch.Tensor, active: torch.Tensor) -> FlowDistribution:
        """``q(. | context)`` with coordinates ``active (B, D)``."""
        return FlowDistribution(self, context, active)
