"""Simulator of hierarchical data sets with sampled priors (metabeta, extended).

Per data set (all draws vectorized over a batch, from one ``torch.Generator``):

* sizes: ``p`` fixed effects (intercept = column 0, ``1 <= p <= P_MAX``),
  ``q`` random effects (``1 <= q <= min(Q_MAX, p)``) on columns of ``X``
  anywhere (intercept random with probability ``p_random_intercept``),
  ``G`` groups and per-group sizes ``n_g`` (ranges in ``SimulatorConfig``,
  wide enough for MathAchieve - 160 groups, 7185 rows - and Exam - 65
  schools, up to 198 per school).
* priors and parameters (Kipnis, Binz & Schulz 2025, metabeta)::

      nu_j ~ U(-20, 20),  tau_0 ~ U(0.1, 30),  tau_j ~ U(0.1, 20) (j >= 1)
      beta_j ~ N(nu_j, tau_j^2)
      tau_s,k ~ U(0.1, 10),   s_k ~ HalfNormal(tau_s,k)
      tau_e ~ U(0.001, 10),   sigma ~ HalfNormal(tau_e)
      R ~ LKJ(eta)                        (beyond the paper: correlated effects)
      b_g ~ N(0, diag(s) R diag(s))
      y = X beta + sum_k X[:, c_k] b_g,k + sigma eps,   eps ~ N(0, 1)

* predictors: each non-intercept column picks a family with probabilities
  .10/.40/.05/.25/.10/.10 (Normal, Student-t, Uniform, Bernoulli, negative
  binomial, scaled Beta) with random family parameters; the columns are
  joined by a Gaussian rank copula with an LKJ(10) correlation: each
  column's iid draws are re-ordered to follow the ranks of correlated
  Gaussians, so every marginal is exactly its family.  The design never
  depends on ``beta``; no sample SD is rescaled.

Batches are padded to the largest ``G`` and ``n_g`` with explicit masks
(``row_mask``, ``group_mask``, ``fixed_mask``, ``re_mask``); padded entries
of ``X`` and ``y`` hold 0 but nothing downstream reads them unmasked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import torch

from tabmixr.engines.amortized import sampling as rs
from tabmixr.engines.amortized.parameters import P_MAX, Q_MAX, GlobalParams

#: Predictor families and their probabilities (metabeta).
FAMILIES = ("normal", "student_t", "uniform", "bernoulli", "negbinom", "beta")
FAMILY_PROBS = (0.10, 0.40, 0.05, 0.25, 0.10, 0.10)


@dataclass
class SimulatorConfig:
    """Ranges of the simulated data sets (inclusive integer ranges).

    Attributes:
        p_range: Fixed effects, intercept included.
        q_range: Random effects.
        groups_range: Number of groups ``G``.
        size_range: Group sizes ``n_g``.
        p_random_intercept: Probability that the intercept is a random effect.
        eta: LKJ concentration of the random-effect correlation prior.
        predictor_eta: LKJ concentration of the predictor copula.
    """

    p_range: tuple[int, int] = (1, P_MAX)
    q_range: tuple[int, int] = (1, Q_MAX)
    groups_range: tuple[int, int] = (2, 200)
    size_range: tuple[int, int] = (1, 200)
    p_random_intercept: float = 0.9
    eta: float = 1.0
    predictor_eta: float = 10.0


@dataclass
class Prior:
    """Prior hyperparameters on the data's own scale (leading batch shape ``...``).

    Attributes:
        nu: Prior means of ``beta``, ``(..., P_MAX)``.
        tau: Prior SDs of ``beta``, ``(..., P_MAX)``.
        tau_s: HalfNormal scales of the random-effect SDs, ``(..., Q_MAX)``.
        tau_e: HalfNormal scale of the residual SD, ``(...)``.
        eta: LKJ concentration of the random-effect correlations, ``(...)``.
    """

    nu: torch.Tensor
    tau: torch.Tensor
    tau_s: torch.Tensor
    tau_e: torch.Tensor
    eta: torch.Tensor

    def index(self, i) -> "Prior":
        """The prior of data set(s) ``i``."""
        return Prior(*(getattr(self, f.name)[i] for f in fields(self)))


@dataclass
class Batch:
    """A padded batch of simulated (or real) data sets.

    Attributes:
        X: ``(B, G, N, P_MAX)`` fixed-effects rows, column 0 the intercept.
        y: ``(B, G, N)`` responses.
        row_mask: ``(B, G, N)`` real rows.
        group_mask: ``(B, G)`` real groups.
        fixed_mask: ``(B, P_MAX)`` active fixed effects (first ``p``).
        re_mask: ``(B, Q_MAX)`` active random-effect slots (first ``q``).
        re_cols: ``(B, Q_MAX)`` column of ``X`` of each slot (0 when inactive).
        prior: Prior hyperparameters, data scale.
        params: True parameters (simulated data only).
        b: True random effects ``(B, G, Q_MAX)`` (simulated data only).
        families: ``(B, P_MAX)`` index into ``FAMILIES`` (-1: intercept/inactive).
    """

    X: torch.Tensor
    y: torch.Tensor
    row_mask: torch.Tensor
    group_mask: torch.Tensor
    fixed_mask: torch.Tensor
    re_mask: torch.Tensor
    re_cols: torch.Tensor
    prior: Prior
    params: GlobalParams | None = None
    b: torch.Tensor | None = None
    families: torch.Tensor | None = field(default=None, repr=False)

    @property
    def Z(self) -> torch.Tensor:
        """Random-effect rows ``(B, G, N, Q_MAX)``, zero in inactive slots."""
        idx = self.re_cols[:, None, None, :].expand(*self.X.shape[:3], Q_MAX)
        Z = torch.gather(self.X, -1, idx)
        return Z * self.re_mask[:, None, None, :].to(Z.dtype)

    def to(self, device) -> "Batch":
        """A copy on ``device``."""
        def mv(v):
            if isinstance(v, torch.Tensor):
                return v.to(device)
            if isinstance(v, (Prior, GlobalParams)):
                return type(v)(*(mv(getattr(v, f.name)) for f in fields(v)))
            return v
        return Batch(*(mv(getattr(self, f.name)) for f in fields(self)))


def _randint(low: int, high: int, B: int, g: torch.Generator) -> torch.Tensor:
    """Integers uniform on ``[low, high]``, shape ``(B,)``."""
    u = torch.rand(B, generator=g, device=g.device, dtype=torch.float64)
    return torch.floor(low + (high - low + 1) * u).long()


def sample_structure(config: SimulatorConfig, B: int, g: torch.Generator):
    """Draw ``p``, ``q``, random-effect columns and group sizes.

    Returns:
        ``(fixed_mask, re_mask, re_cols, sizes)`` with ``sizes`` ``(B, G_max)``
        (0 for padded groups).
    """
    p = _randint(*config.p_range, B, g)
    q = torch.minimum(_randint(*config.q_range, B, g), p)
    intercept = (torch.rand(B, generator=g, device=g.device, dtype=torch.float64) < config.p_random_intercept)
    intercept = intercept | (q > p - 1)
    n_slopes = q - intercept.long()
    ranks = torch.argsort(torch.rand(B, P_MAX - 1, generator=g, device=g.device, dtype=torch.float64)
                          + (torch.arange(1, P_MAX, device=g.device)[None, :] >= p[:, None]) * 2.0, dim=1)
    chosen = torch.arange(P_MAX - 1, device=g.device)[None, :] < n_slopes[:, None]
    slope_cols = torch.where(chosen, ranks + 1, torch.full_like(ranks, P_MAX + 1))
    slope_cols = torch.sort(slope_cols, dim=1).values[:, :Q_MAX]
    re_cols = torch.where(intercept[:, None], torch.cat([torch.zeros(B, 1, dtype=torch.long, device=g.device),
                                                         slope_cols[:, :Q_MAX - 1]], 1), slope_cols)
    re_mask = torch.arange(Q_MAX, device=g.device)[None, :] < q[:, None]
    re_cols = torch.where(re_mask, re_cols, torch.zeros_like(re_cols))
    fixed_mask = torch.arange(P_MAX, device=g.device)[None, :] < p[:, None]
    G = _randint(*config.groups_range, B, g)
    mean_size = torch.exp(math.log(config.size_range[0])
                          + torch.rand(B, generator=g, device=g.device, dtype=torch.float64)
                          * math.log(config.size_range[1] / config.size_range[0]))
    G_max = int(G.max())
    lam = (mean_size - config.size_range[0]).clamp(min=0)[:, None].expand(B, G_max).contiguous()
    sizes = (config.size_range[0] + torch.poisson(lam, generator=g)).clamp(max=config.size_range[1])
    live = torch.arange(G_max, device=g.device)[None, :] < G[:, None]
    sizes = torch.where(live, sizes, torch.zeros_like(sizes))
    return fixed_mask, re_mask, re_cols, sizes.long()


def sample_prior(config: SimulatorConfig, B: int, g: torch.Generator) -> Prior:
    """Prior hyperparameters per data set (module docstring)."""
    nu = rs.uniform(-20, 20, (B, P_MAX), g, device=g.device)
    tau = torch.cat([rs.uniform(0.1, 30, (B, 1), g, device=g.device),
                     rs.uniform(0.1, 20, (B, P_MAX - 1), g, device=g.device)], 1)
    tau_s = rs.uniform(0.1, 10, (B, Q_MAX), g, device=g.device)
    tau_e = rs.uniform(0.001, 10, (B,), g, device=g.device)
    eta = torch.full((B,), float(config.eta), dtype=torch.float64, device=g.device)
    return Prior(nu=nu, tau=tau, tau_s=tau_s, tau_e=tau_e, eta=eta)


def sample_params(prior: Prior, fixed_mask, re_mask, g: torch.Generator) -> GlobalParams:
    """Parameters from their priors; inactive entries neutral (beta 0, sd 1)."""
    B = fixed_mask.shape[0]
    beta = prior.nu + prior.tau * torch.randn(B, P_MAX, generator=g, device=g.device, dtype=torch.float64)
    sd = rs.half_normal(prior.tau_s, g)
    L_corr = rs.lkj_cholesky(Q_MAX, prior.eta, g, active=re_mask.sum(1))
    sigma = rs.half_normal(prior.tau_e, g)
    return GlobalParams(beta=torch.where(fixed_mask, beta, torch.zeros_like(beta)),
                        sd=torch.where(re_mask, sd, torch.ones_like(sd)), L_corr=L_corr, sigma=sigma)


def _draw_family(f: int, pr: dict, shape, g: torch.Generator) -> torch.Tensor:
    """Draws of family ``FAMILIES[f]`` with per-entry parameters ``pr``."""
    dt = torch.float64
    if f == 0:
        return pr["loc"] + pr["scale"] * torch.randn(shape, generator=g, device=g.device, dtype=dt)
    if f == 1:
        return pr["loc"] + pr["scale"] * rs.student_t(pr["df"], g)
    if f == 2:
        return pr["a_u"] + pr["w_u"] * torch.rand(shape, generator=g, device=g.device, dtype=dt)
    if f == 3:
        return (torch.rand(shape, generator=g, device=g.device, dtype=dt) < pr["p_b"]).to(dt)
    if f == 4:
        return rs.negative_binomial(pr["r_nb"], pr["p_nb"], g)
    return pr["s_be"] * rs.beta_variates(pr["a_be"], pr["b_be"], g)


def sample_families(B: int, J: int, g: torch.Generator):
    """Family index ``(B, J)`` of every predictor column and its random parameters ``(B, J)``."""
    probs = torch.tensor(FAMILY_PROBS, dtype=torch.float64, device=g.device)
    fam = torch.multinomial(probs, B * J, replacement=True, generator=g).view(B, J)
    u = lambda lo, hi: rs.uniform(lo, hi, (B, J), g, device=g.device)  # noqa: E731
    par = {"loc": u(-5, 5), "scale": u(0.1, 5), "df": u(3, 30), "a_u": u(-10, 10),
           "w_u": u(0.1, 10), "p_b": u(0.05, 0.95), "r_nb": u(1, 10), "p_nb": u(0.2, 0.8),
           "a_be": u(0.5, 5), "b_be": u(0.5, 5), "s_be": u(1, 10)}
    return fam, par


def sample_predictors(config: SimulatorConfig, fixed_mask, row_mask, g: torch.Generator):
    """Predictor columns with exact marginals joined by an LKJ rank copula.

    Returns:
        ``(X, families)``: ``X`` ``(B, G, N, P_MAX)`` with column 0 = 1 and
        inactive columns 0; ``families`` ``(B, P_MAX)``.
    """
    B, G, N = row_mask.shape
    M, J = G * N, P_MAX - 1
    dt = torch.float64
    fam, par = sample_families(B, J, g)
    par = {name: v[..., None] for name, v in par.items()}
    values = torch.zeros(B, J, M, dtype=dt, device=g.device)
    for f in range(len(FAMILIES)):
        sel = (fam == f) & fixed_mask[:, 1:]          # inactive columns are zeroed below: never drawn
        if bool(sel.any()):
            k = int(sel.sum())
            pr = {name: v[sel].expand(k, M).contiguous() for name, v in par.items()}
            values[sel] = _draw_family(f, pr, (k, M), g)
    valid = row_mask.reshape(B, 1, M)
    inf = torch.full_like(values, float("inf"))
    p = fixed_mask.sum(1)
    L = rs.lkj_cholesky(J, torch.full((B,), config.predictor_eta, dtype=dt, device=g.device), g,
                        active=(p - 1).clamp(min=1))
    latent = torch.einsum("bjk,bkm->bjm", L, torch.randn(B, J, M, generator=g, device=g.device, dtype=dt))
    latent = torch.where(valid, latent, inf)
    sorted_values = torch.sort(torch.where(valid, values, inf), dim=2).values
    order = torch.argsort(latent, dim=2)
    X_cols = torch.empty_like(values).scatter_(2, order, sorted_values)
    X_cols = torch.where(valid & fixed_mask[:, 1:, None], X_cols, torch.zeros_like(X_cols))
    X = torch.cat([row_mask.reshape(B, 1, M).to(dt), X_cols], 1).permute(0, 2, 1).reshape(B, G, N, P_MAX)
    families = torch.cat([torch.full((B, 1), -1, device=g.device),
                          torch.where(fixed_mask[:, 1:], fam, -1)], 1)
    return X, families


class Simulator:
    """Seeded generator of padded batches (module docstring).

    Args:
        config: Size ranges and LKJ concentrations.
        seed: Seed of the private ``torch.Generator``.
        device: Where to simulate (``"cuda"`` keeps a GPU fed; each device
            has its own random stream, reproducible on that device).
    """

    def __init__(self, config: SimulatorConfig | None = None, seed: int = 0, device="cpu"):
        self.config = config or SimulatorConfig()
        self.generator = torch.Generator(device=device).manual_seed(int(seed))

    def get_state(self) -> torch.Tensor:
        """Generator state (for checkpoints)."""
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        """Restore a state from ``get_state``."""
        self.generator.set_state(state)

    def sample(self, B: int, prior: Prior | None = None, structure=None) -> Batch:
        """Simulate ``B`` data sets.

        Args:
            B: Batch size.
            prior: Fixed hyperparameters (batch shape ``(B,)``); drawn when ``None``.
            structure: ``(fixed_mask, re_mask, re_cols, sizes)`` from
                ``sample_structure`` (drawn when ``None``).

        Returns:
            A ``Batch`` with true ``params`` and ``b``, float64 on the simulator's device.
        """
        g, cfg = self.generator, self.config
        fixed_mask, re_mask, re_cols, sizes = structure if structure is not None \
            else sample_structure(cfg, B, g)
        N = int(sizes.max())
        row_mask = torch.arange(N, device=g.device)[None, None, :] < sizes[:, :, None]
        group_mask = sizes > 0
        prior = prior if prior is not None else sample_prior(cfg, B, g)
        params = sample_params(prior, fixed_mask, re_mask, g)
        X, families = sample_predictors(cfg, fixed_mask, row_mask, g)
        G = sizes.shape[1]
        u = torch.randn(B, G, Q_MAX, generator=g, device=g.device, dtype=torch.float64)
        b = u @ params.L_cov.transpose(1, 2)
        b = torch.where(group_mask[:, :, None] & re_mask[:, None, :], b, torch.zeros_like(b))
        batch = Batch(X=X, y=torch.zeros_like(X[..., 0]), row_mask=row_mask, group_mask=group_mask,
                      fixed_mask=fixed_mask, re_mask=re_mask, re_cols=re_cols, prior=prior,
                      params=params, b=b, families=families)
        eps = torch.randn(X.shape[:3], generator=g, device=g.device, dtype=torch.float64)
        mean = X @ params.beta[:, None, :, None] + (batch.Z @ b[:, :, :, None])
        y = mean[..., 0] + params.sigma[:, None, None] * eps
        batch.y = torch.where(row_mask, y, torch.zeros_like(y))
        return batch

    def sample_bucketed(self, B: int, pool: int) -> list[Batch]:
        """Simulate ``pool`` batches of ``B`` data sets, grouped by size to cut padding.

        The structures (terms, group counts and sizes) of ``pool * B`` data
        sets are drawn at once, sorted by their padded cost ``G * max n_g`` and
        cut into ``pool`` batches, returned in random order.  Every data set
        is still drawn from the configured distribution; only which data sets
        share a batch changes, so a batch pads to its own largest group
        instead of the whole distribution's.

        Args:
            B: Data sets per batch.
            pool: Batches per pool.

        Returns:
            ``pool`` ``Batch`` objects.
        """
        g = self.generator
        fixed_mask, re_mask, re_cols, sizes = sample_structure(self.config, B * pool, g)
        cost = (sizes > 0).sum(1) * sizes.max(1).values
        order = torch.argsort(cost.to(torch.float64) + 0.5 * torch.rand(B * pool, generator=g, device=g.device,
                                                                         dtype=torch.float64))
        chunks = order.reshape(pool, B)
        chunks = chunks[torch.randperm(pool, generator=g, device=g.device)]
        out = []
        for idx in chunks:
            s = sizes[idx]
            s = s[:, :int((s > 0).sum(1).max())]
            out.append(self.sample(B, structure=(fixed_mask[idx], re_mask[idx], re_cols[idx], s)))
        return out
