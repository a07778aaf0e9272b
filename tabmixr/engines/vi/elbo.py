"""The training objective: negative ELBO per row.

    -ELBO = - sum_k sum_i w_i E_q[log p(y_ik | eta_ik)] + kl_weight * KL(q || prior)

A backbone that models the features themselves (``gsem``) adds
``- sum_i log p(x_i)`` to the data term and its structural penalty
(acyclicity and L1, already per row) to the result.

For a single-predictor task without group embeddings, ``eta_i`` is Gaussian
under ``q`` (``Z b`` enters linearly and levels are independent), so the
expectation is a one-dimensional integral done by Gauss-Hermite quadrature:
deterministic, and exact for the Gaussian family.  Otherwise it is a Monte
Carlo average over reparameterized draws.  On a minibatch the data term is
scaled by ``n / batch`` so the KL keeps its weight.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from tabmixr.engines.vi.model import Batch, VIModel


@functools.lru_cache(maxsize=32)
def hermite_rule(n_nodes: int, dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes ``z`` and weights ``w`` with ``E[f(Z)] ~ sum w f(z)`` for ``Z ~ N(0, 1)``
    (cached: every minibatch step asks for the same rule)."""
    x, w = np.polynomial.hermite.hermgauss(n_nodes)
    z = torch.as_tensor(x * math.sqrt(2.0), dtype=dtype, device=device)
    w = torch.as_tensor(w / math.sqrt(math.pi), dtype=dtype, device=device)
    return z, w


def uses_quadrature(model: VIModel, task: int) -> bool:
    """Whether task ``task``'s expected log-likelihood is done by quadrature."""
    return int(model.config["tasks"][task]["n_eta"]) == 1 and len(model.embeddings) == 0


def expectation_given(family, y, m: torch.Tensor, v: torch.Tensor, aux, n_nodes: int) -> torch.Tensor:
    """``E[log p(y_i | eta_i)]`` per row for ``eta_i ~ N(m_i, v_i)``: the family's closed
    form where it has one, else Gauss-Hermite quadrature with ``n_nodes`` nodes."""
    closed = family.expected_log_lik(y, m, v, aux)
    if closed is not None:
        return closed
    z, w = hermite_rule(n_nodes, m.dtype, m.device)
    eta = m[:, None] + torch.sqrt(v)[:, None] * z[None, :]
    ll = family.log_lik(y.repeat_interleave(len(z), dim=0), eta.reshape(-1, 1), aux)
    return (ll.reshape(-1, len(z)) * w).sum(-1)


def expected_loglik(model: VIModel, batch: Batch, task: int, H, n_nodes: int, n_samples: int,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """``E_q[log p(y_i | eta_i)]`` per row, ``(n,)``.

    Args:
        model: The model.
        batch: Rows, with responses.
        task: Task index.
        H: Backbone features of the batch (or ``None``).
        n_nodes: Gauss-Hermite nodes.
        n_samples: Monte Carlo draws where quadrature does not apply.
        generator: Random stream for the draws.
    """
    family, aux, y = model.families[task], model.aux[task], batch.ys[task]
    eta0 = model.fixed_eta(batch, H, task)
    posts = model.posteriors[task]
    joint = model.joint_factor(task)
    if uses_quadrature(model, task):
        m, v = eta0[:, 0], torch.zeros_like(eta0[:, 0])
        for t, post in enumerate(posts):
            if joint is None:
                dm, dv = post.moments(batch.term_X[t], batch.codes[t])
                v = v + dv
            else:
                dm = post.mean(batch.term_X[t], batch.codes[t])
            m = m + dm
        if joint is not None and posts:
            v = joint.variance(batch.term_X, batch.codes)
        if not posts:
            return family.log_lik(y, m[:, None], aux)
        return expectation_given(family, y, m, v, aux, n_nodes)
    eta = eta0.expand(n_samples, *eta0.shape)
    devs = joint.sample(n_samples) if joint is not None else None
    for t, post in enumerate(posts):
        b = post.sample(n_samples, generator) if devs is None else post.mu + devs[t]
        eta = eta + post.contribution(batch.term_X[t], batch.codes[t], b)
    n = eta0.shape[0]
    y_rep = y.repeat((n_samples,) + (1,) * (y.dim() - 1))
    ll = family.log_lik(y_rep, eta.reshape(n_samples * n, -1), aux)
    return ll.reshape(n_samples, n).mean(0)


def negative_elbo(model: VIModel, batch: Batch, n_total: int, kl_weight: float = 1.0,
                  n_nodes: int = 20, n_samples: int = 4,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """``-ELBO / n_total`` on a batch (the data term scaled to the full data).

    Args:
        model: The model.
        batch: Rows with responses.
        n_total: Rows of the full training data.
        kl_weight: Weight of the KL term.
        n_nodes: Gauss-Hermite nodes.
        n_samples: Monte Carlo draws.
        generator: Random stream.

    Returns:
        A scalar tensor.
    """
    H = model.features(batch)
    data = torch.zeros((), dtype=batch.X.dtype, device=batch.X.device)
    for task in range(len(model.heads)):
        ll = expected_loglik(model, batch, task, H, n_nodes, n_samples, generator)
        if batch.weights is not None:
            ll = ll * batch.weights
        data = data + ll.sum()
    feature_ll, structural = model.structure_loss(batch)
    if feature_ll is not None:
        data = data + feature_ll.sum()
    scale = n_total / batch.n
    penalty = model.kl() + model.embedding_penalty()
    backbone_kl = model.backbone.kl()
    if backbone_kl is not None:
        penalty = penalty + backbone_kl
    objective = (-scale * data + kl_weight * penalty) / n_total
    return objective if structural is None else objective + structural
