"""The covariance-structure interface and its registry.

A covariance structure is the prior of one random-effect term,
``b_g ~ N(0, Sigma)`` for the ``q`` effects of each level ``g`` (IID
structures) or a prior that also couples the levels, ``Cov(vec b) = R kron
Sigma`` (``ar1``, ``arma``, ``gp``).  It owns its unconstrained parameters (a ``torch.nn.Module``) and
answers the pieces the neural engine's KL term needs.  For a Gaussian
variational posterior ``q(b_g) = N(mu_g, S_g)``, ``S_g = L_g L_g^T``, the KL
divergence to the prior splits into

    KL = 0.5 * (trace + quad - dim + logdet_prior - logdet_post)

with ``trace = sum_g tr(Sigma^-1 S_g)``, ``quad = sum_g mu_g^T Sigma^-1 mu_g``,
``logdet_prior = log det`` of the prior covariance over all levels and
``logdet_post = sum_g log det S_g``.  A structured prior overrides
``logdet``, ``quad`` and ``trace`` (e.g. through a sparse precision) and
keeps ``kl``; ``trace`` assumes levels independent under the posterior, and
``trace_joint`` takes a joint factor's rows (cross-level posterior
covariance).  A coupled structure also declares the per-level data it needs
(``level_data``: ``"time"`` or ``"coords"``, read by
``tabmixr.design.level_data`` and handed over by ``set_level_data``), gives
its dense precision (``precision_matrix``, for the structured posterior of
``tabmixr.engines.vi.structured``), the conditional mean of new levels
(``conditional_mean``, for ``predict``), its own parameters
(``structure_parameters``, ``start_from_effects``) and their fitted values
(``extra_parameters``, for results).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch
from torch import nn

from tabmixr.errors import EngineError

_STRUCTURES: dict[str, type["CovarianceStructure"]] = {}


class CovarianceStructure(nn.Module, ABC):
    """Prior ``N(0, Sigma)`` of one term's effects, with learnable parameters.

    Attributes:
        name: Registry name (``"us"``, ``"diag"``, ``"scalar"``, ...).
        q: Effects per level.
        n_levels: Number of levels of the grouping factor.
    """

    name: str = ""
    #: Wrapper arguments (``RandomTerm.covariance_args``) the constructor takes,
    #: e.g. ``("kernel",)``; others (``coords``) are the design's business.
    arguments: tuple[str, ...] = ()
    #: Per-level data the structure needs (``set_level_data``): ``None``,
    #: ``"time"`` (``(n_levels,)`` times) or ``"coords"`` (``(n_levels, d)``).
    level_data: str | None = None

    def __init__(self, q: int, n_levels: int):
        super().__init__()
        self.q = int(q)
        self.n_levels = int(n_levels)

    @classmethod
    def build(cls, q: int, n_levels: int, args: dict) -> "CovarianceStructure":
        """A new structure from a term's wrapper arguments (those in ``arguments``)."""
        return cls(q, n_levels, **{k: v for k, v in args.items() if k in cls.arguments})

    # -- the matrix --------------------------------------------------------
    @abstractmethod
    def chol(self) -> torch.Tensor:
        """Lower-triangular ``L`` with ``L L^T = Sigma`` (the per-level block), ``(q, q)``."""

    @abstractmethod
    def set_scale(self, sd: np.ndarray) -> None:
        """Reset the parameters so that ``Sigma = diag(sd^2)`` (a starting value)."""

    def cov(self) -> torch.Tensor:
        """The per-level covariance ``Sigma``, ``(q, q)``."""
        L = self.chol()
        return L @ L.T

    # -- KL pieces -------------------------------------------------------------
    def logdet(self) -> torch.Tensor:
        """``log det`` of the prior covariance of all ``n_levels * q`` effects."""
        return 2.0 * self.n_levels * torch.log(torch.diagonal(self.chol())).sum()

    def quad(self, mu: torch.Tensor) -> torch.Tensor:
        """``sum_g mu_g^T Sigma^-1 mu_g`` for ``mu`` of shape ``(n_levels, q)``."""
        A = solve_lower(self.chol(), mu.T)
        return (A * A).sum()

    def trace(self, L_post: torch.Tensor) -> torch.Tensor:
        """``sum_g tr(Sigma^-1 L_g L_g^T)`` for ``L_post`` of shape ``(n_levels, q, r)``.

        ``L_g`` is any factor of the level's posterior covariance block: square
        and triangular for a per-term posterior, ``(q, D)`` rows of a joint
        factor over all terms (``tabmixr.engines.vi.posterior.JointFactor``).
        """
        # One solve with every level's columns side by side, (q, n_levels * r):
        # a batch of n_levels tiny solves costs far more than the arithmetic.
        stacked = L_post.transpose(0, 1).reshape(self.q, -1)
        A = solve_lower(self.chol(), stacked)
        return (A * A).sum()

    def kl(self, mu: torch.Tensor, L_post: torch.Tensor) -> torch.Tensor:
        """``KL(q || prior)`` for ``q(b_g) = N(mu_g, L_g L_g^T)``, summed over levels.

        Args:
            mu: Posterior means, ``(n_levels, q)``.
            L_post: Lower-triangular posterior factors with positive
                diagonal, ``(n_levels, q, q)``.

        Returns:
            A scalar tensor.
        """
        logdet_post = 2.0 * torch.log(torch.diagonal(L_post, dim1=-2, dim2=-1)).sum()
        dim = mu.numel()
        return 0.5 * (self.trace(L_post) + self.quad(mu) - dim + self.logdet() - logdet_post)

    def correlation_precision(self) -> torch.Tensor:
        """``R^-1``, the inverse of the levels' correlation, ``(n_levels, n_levels)``
        in level order (the identity for IID structures)."""
        return torch.eye(self.n_levels, dtype=self.chol().dtype, device=self.chol().device)

    def precision_matrix(self) -> torch.Tensor:
        """The prior precision ``R^-1 kron Sigma^-1`` of all effects, ``(n q, n q)``,
        level-major (effect ``j`` of level ``g`` at ``g * q + j``)."""
        sigma_inv = torch.cholesky_inverse(self.chol())
        return torch.kron(self.correlation_precision().contiguous(), sigma_inv.contiguous())

    def precision_pieces(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(precision_matrix(), logdet())`` together (one factorization where they share one)."""
        return self.precision_matrix(), self.logdet()

    def trace_joint(self, rows: torch.Tensor) -> torch.Tensor:
        """``tr(P S)`` for a posterior covariance ``S = R R^T`` over all the term's effects.

        ``rows`` is ``(n_levels, q, D)``: row block ``g`` of a joint factor
        ``R`` (``tabmixr.engines.vi.posterior.JointFactor``), whose columns
        are shared by all levels, so ``S`` has cross-level blocks.  With
        independent levels (IID priors) only the diagonal blocks meet the
        precision ``P`` and this is ``trace``; a prior coupling the levels
        overrides it (``tr(P R R^T) = sum_k r_k^T P r_k`` over the columns
        ``r_k`` of ``R``: ``quad`` of each column).
        """
        return self.trace(rows)

    # -- level data and new levels ---------------------------------------------
    def set_level_data(self, data: np.ndarray | None) -> None:
        """Hand the structure its per-level data (times or coordinates, in level order).

        IID structures need none and accept ``None``.

        Raises:
            EngineError: Data given to a structure that takes none.
        """
        if data is not None:
            raise EngineError(f"{self.name}: takes no per-level data")

    def conditional_mean(self, mu: torch.Tensor, new_data: np.ndarray) -> torch.Tensor:
        """``E[b_new | b = mu]`` under the prior for levels not seen when fitting.

        Args:
            mu: Effects of the fitted levels, ``(n_levels, q)``.
            new_data: Per-level data of the new levels (``None`` rows for IID).

        Returns:
            ``(m, q)``; zeros for IID structures (levels are independent).
        """
        m = 0 if new_data is None else len(new_data)
        return torch.zeros((m, self.q), dtype=mu.dtype, device=mu.device)

    def structure_parameters(self) -> list[nn.Parameter]:
        """The structure's own parameters beyond ``Sigma`` (``rho``, ...); none for IID."""
        return []

    def start_from_effects(self, b: np.ndarray) -> None:
        """Start the structure's own parameters from crude per-level effects ``(n_levels,)``
        (e.g. mean residuals); IID structures have none and ignore them."""

    # -- reporting ---------------------------------------------------------------
    def extra_parameters(self) -> dict[str, float]:
        """Parameters beyond ``Sigma`` (``{"rho": ...}`` for ``ar1``), for results."""
        return {}

    def describe(self) -> str:
        """``extra_parameters`` as text, for messages (``"rho = 0.8"``)."""
        return ", ".join(f"{k} = {v:.4g}" for k, v in self.extra_parameters().items())

    def theta(self) -> np.ndarray:
        """The lower triangle of ``chol()``, column by column (lme4's theta order)."""
        L = self.chol().detach().cpu().numpy()
        rows, cols = np.tril_indices(self.q)
        order = np.lexsort((rows, cols))
        return L[rows[order], cols[order]]


def solve_lower(L: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """``L^-1 B`` for a lower-triangular ``(q, q)`` ``L``; a division when ``q = 1``
    (a scalar term's KL runs at every training step, and the LAPACK call and its
    backward cost more than the arithmetic)."""
    if L.shape[-1] == 1:
        return B / L[..., :1, :1]
    return torch.linalg.solve_triangular(L, B, upper=False)


def register_covariance(cls: type[CovarianceStructure]) -> type[CovarianceStructure]:
    """Class decorator adding a structure to the registry under ``cls.name``."""
    _STRUCTURES[cls.name] = cls
    return cls


def covariance_names() -> tuple[str, ...]:
    """Names of the registered structures."""
    return tuple(sorted(_STRUCTURES))


def get_covariance(name: str, q: int, n_levels: int, term: str = "",
                   args: dict | None = None) -> CovarianceStructure:
    """A new structure of the given name.

    Args:
        name: Registry name (a term's ``covariance``).
        q: Effects per level.
        n_levels: Levels of the grouping factor.
        term: Term text, for the error message.
        args: The term's wrapper arguments; those in the class's
            ``arguments`` go to its constructor (e.g. ``kernel``, ``p``, ``q``).

    Raises:
        EngineError: ``name`` is not registered.
    """
    try:
        cls = _STRUCTURES[name]
    except KeyError:
        raise EngineError(f"covariance structure {name!r} of term {term!r} is not available in the "
                          f"neural engine yet; available: {', '.join(covariance_names())}") from None
    return cls.build(q, n_levels, dict(args or {}))
