"""The covariance-structure interface and its registry.

A covariance structure is the prior of one random-effect term,
``b_g ~ N(0, Sigma)`` for the ``q`` effects of each level ``g`` (IID
structures) or a prior that also couples the levels (AR1, kinship, GP, SPDE,
to come).  It owns its unconstrained parameters (a ``torch.nn.Module``) and
answers the pieces the neural engine's KL term needs.  For a Gaussian
variational posterior ``q(b_g) = N(mu_g, S_g)``, ``S_g = L_g L_g^T``, the KL
divergence to the prior splits into

    KL = 0.5 * (trace + quad - dim + logdet_prior - logdet_post)

with ``trace = sum_g tr(Sigma^-1 S_g)``, ``quad = sum_g mu_g^T Sigma^-1 mu_g``,
``logdet_prior = log det`` of the prior covariance over all levels and
``logdet_post = sum_g log det S_g``.  A structured prior overrides
``logdet``, ``quad`` and ``trace`` (e.g. through a sparse precision) and
keeps ``kl``.
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

    def __init__(self, q: int, n_levels: int):
        super().__init__()
        self.q = int(q)
        self.n_levels = int(n_levels)

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
        A = torch.linalg.solve_triangular(self.chol(), mu.T, upper=False)
        return (A * A).sum()

    def trace(self, L_post: torch.Tensor) -> torch.Tensor:
        """``sum_g tr(Sigma^-1 L_g L_g^T)`` for ``L_post`` of shape ``(n_levels, q, r)``.

        ``L_g`` is any factor of the level's posterior covariance block: square
        and triangular for a per-term posterior, ``(q, D)`` rows of a joint
        factor over all terms (``tabmixr.engines.vi.posterior.JointFactor``).
        """
        L = self.chol().expand(L_post.shape[0], self.q, self.q)
        A = torch.linalg.solve_triangular(L, L_post, upper=False)
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

    # -- reporting ---------------------------------------------------------------
    def theta(self) -> np.ndarray:
        """The lower triangle of ``chol()``, column by column (lme4's theta order)."""
        L = self.chol().detach().cpu().numpy()
        rows, cols = np.tril_indices(self.q)
        order = np.lexsort((rows, cols))
        return L[rows[order], cols[order]]


def register_covariance(cls: type[CovarianceStructure]) -> type[CovarianceStructure]:
    """Class decorator adding a structure to the registry under ``cls.name``."""
    _STRUCTURES[cls.name] = cls
    return cls


def covariance_names() -> tuple[str, ...]:
    """Names of the registered structures."""
    return tuple(sorted(_STRUCTURES))


def get_covariance(name: str, q: int, n_levels: int, term: str = "") -> CovarianceStructure:
    """A new structure of the given name.

    Args:
        name: Registry name (a term's ``covariance``).
        q: Effects per level.
        n_levels: Levels of the grouping factor.
        term: Term text, for the error message.

    Raises:
        EngineError: ``name`` is not registered.
    """
    try:
        cls = _STRUCTURES[name]
    except KeyError:
        raise EngineError(f"covariance structure {name!r} of term {term!r} is not available in the "
                          f"neural engine yet; available: {', '.join(covariance_names())}") from None
    return cls(q, n_levels)
