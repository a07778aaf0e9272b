"""Seeded, vectorized random variates that ``torch.distributions`` cannot seed.

``torch.distributions`` draws from the global generator only.  The simulator
must be reproducible from an explicit ``torch.Generator`` (and resumable from
its saved state), so gamma, beta, Student-t and negative-binomial variates are
built here from ``torch.rand``/``torch.randn``/``torch.poisson``, which accept a
generator.

Gamma: Marsaglia & Tsang (2000), "A simple method for generating gamma
variables": for shape ``a >= 1`` with ``d = a - 1/3``, ``c = 1/sqrt(9 d)``,
propose ``v = (1 + c z)^3`` with ``z ~ N(0, 1)`` and accept when
``log u < z^2/2 + d - d v + d log v``; then ``d v ~ Gamma(a, 1)``.  For
``a < 1``: ``Gamma(a) = Gamma(a + 1) * u^(1/a)``.  The rejection loop redraws
only the rejected entries (acceptance > 95%, so a handful of passes).
"""

from __future__ import annotations

import torch


def standard_gamma(shape: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Gamma(shape, rate 1) variates, one per entry of ``shape``.

    Args:
        shape: Positive shape parameters (any tensor shape, floating dtype).
        generator: Source of randomness.

    Returns:
        Tensor like ``shape`` of Gamma variates.
    """
    a = shape.clone()
    small = a < 1
    a = torch.where(small, a + 1, a)
    d = a - 1.0 / 3.0
    c = 1.0 / torch.sqrt(9.0 * d)
    out = torch.empty_like(a)
    todo = torch.ones_like(a, dtype=torch.bool)
    while bool(todo.any()):
        idx = todo.nonzero(as_tuple=True)
        dd, cc = d[idx], c[idx]
        z = torch.randn(dd.shape, generator=generator, dtype=a.dtype, device=a.device)
        u = torch.rand(dd.shape, generator=generator, dtype=a.dtype, device=a.device)
        v = (1 + cc * z) ** 3
        ok = (v > 0) & (torch.log(u) < 0.5 * z ** 2 + dd - dd * v
                        + dd * torch.log(torch.clamp(v, min=1e-300)))
        vals = dd * v
        sel = tuple(i[ok] for i in idx)
        out[sel] = vals[ok]
        todo[sel] = False
    u = torch.rand(a.shape, generator=generator, dtype=a.dtype, device=a.device)
    boost = torch.where(small, u ** (1.0 / torch.where(small, shape, torch.ones_like(shape))),
                        torch.ones_like(u))
    return out * boost


def beta_variates(a: torch.Tensor, b: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Beta(a, b) variates as ``G_a / (G_a + G_b)`` of two gammas."""
    ga = standard_gamma(a, generator)
    gb = standard_gamma(b, generator)
    return ga / (ga + gb)


def student_t(df: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Standard Student-t variates with ``df`` degrees of freedom: ``z / sqrt(chi2_df / df)``."""
    z = torch.randn(df.shape, generator=generator, dtype=df.dtype, device=df.device)
    chi2 = 2.0 * standard_gamma(df / 2.0, generator)
    return z / torch.sqrt(chi2 / df)


def negative_binomial(r: torch.Tensor, p: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Negative-binomial counts (failures before ``r`` successes, success prob ``p``).

    Drawn as a Poisson-gamma mixture: ``lambda ~ Gamma(r, rate p / (1 - p))``,
    ``k ~ Poisson(lambda)``; mean ``r (1 - p) / p``.
    """
    lam = standard_gamma(r, generator) * (1 - p) / p
    return torch.poisson(lam, generator=generator)


def half_normal(scale: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """HalfNormal(scale) variates: ``|z| * scale``."""
    z = torch.randn(scale.shape, generator=generator, dtype=scale.dtype, device=scale.device)
    return z.abs() * scale


def uniform(low: float, high: float, shape, generator: torch.Generator,
            dtype=torch.float64, device="cpu") -> torch.Tensor:
    """U(low, high) variates of the given shape."""
    return low + (high - low) * torch.rand(shape, generator=generator, dtype=dtype, device=device)


def lkj_cholesky(dim: int, eta: torch.Tensor, generator: torch.Generator,
                 active: torch.Tensor | None = None) -> torch.Tensor:
    """Cholesky factors of LKJ(eta) correlation matrices by the C-vine method.

    Lewandowski, Kurowicka & Joe (2009): the canonical partial correlation
    of column ``k`` (0-based) is ``2 Beta(a_k, a_k) - 1`` with
    ``a_k = eta + (d - k - 2) / 2`` for a ``d``-dimensional matrix; the
    lower Cholesky factor is built from them row by row (see
    ``parameters.cpc_to_cholesky``).  With ``active`` (the first ``d`` of
    ``dim`` slots per row) the leading ``d x d`` block is LKJ(eta, d) and the
    rest is the identity.

    Args:
        dim: Matrix dimension.
        eta: Concentration, shape ``(B,)``.
        generator: Source of randomness.
        active: Optional ``(B,)`` integer dimension ``d <= dim`` per matrix.

    Returns:
        Lower-triangular factors, shape ``(B, dim, dim)``.
    """
    from tabmixr.engines.amortized.parameters import cpc_to_cholesky

    B = eta.shape[0]
    if dim == 1:
        return torch.ones(B, 1, 1, dtype=eta.dtype, device=eta.device)
    d = torch.full((B,), dim, device=eta.device) if active is None else active
    rows, cols = torch.tril_indices(dim, dim, offset=-1, device=eta.device)
    live = rows[None, :] < d[:, None]
    a = eta[:, None] + (d[:, None].to(eta) - cols.to(eta) - 2) / 2.0
    a = torch.where(live, a, torch.ones_like(a))
    cpc = 2.0 * beta_variates(a, a, generator) - 1.0
    cpc = torch.where(live, cpc.clamp(-1 + 1e-12, 1 - 1e-12), torch.zeros_like(cpc))
    return cpc_to_cholesky(cpc, dim)
