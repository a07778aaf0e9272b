"""The outcome-family interface every head of the neural engine uses.

A family turns linear predictors into a likelihood.  It is stateless: the
family's own parameters (a Gaussian's sigma, a negative binomial's size, an
ordinal model's cut points) live in a dict of *unconstrained* torch tensors
that the engine owns and optimizes; the family maps them to constrained
values (``aux_values``) and uses them in ``log_lik``.

Shapes: ``eta`` is ``(n, n_eta)`` (``n_eta`` is 1 for every family except
``categorical``, where it is ``K - 1``), ``y`` is whatever ``prepare``
returned (a ``(n,)`` float tensor for most families; ``(n, 2)`` successes and
trials for ``binomial``; ``(n,)`` long codes for ``ordinal``/``categorical``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class PreparedResponse:
    """A response checked against the family's support and put in tensor form.

    Attributes:
        y: The tensor ``log_lik`` consumes (see the module docstring).
        n_eta: Linear predictors per row the head must produce.
        levels: Category labels for ``ordinal``/``categorical`` (in code order).
        info: Anything else the family needs later (e.g. binomial trials).
    """

    y: torch.Tensor
    n_eta: int = 1
    levels: tuple[str, ...] = ()
    info: dict = field(default_factory=dict)


class Family(ABC):
    """One outcome family with one link.

    Attributes:
        name: Canonical name (``"poisson"``, ``"negative_binomial"``, ...).
        link: Link name (``"identity"``, ``"log"``, ``"logit"``, ...).
    """

    name: str = ""
    link: str = ""

    @abstractmethod
    def prepare(self, y: np.ndarray, response_name: str = "y") -> PreparedResponse:
        """Check ``y`` against the support and encode it.

        Args:
            y: The response as the design built it.
            response_name: Name used in error messages.

        Returns:
            The prepared response.

        Raises:
            ResponseError: A value lies outside the support; the message
                names the response, the family and an offending value.
        """

    @abstractmethod
    def aux_init(self, prepared: PreparedResponse) -> dict[str, float]:
        """Starting values of the unconstrained family parameters (may be empty)."""

    @abstractmethod
    def aux_values(self, aux: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Constrained family parameters (``{"sigma": ...}``) from unconstrained ones."""

    @abstractmethod
    def log_lik(self, y: torch.Tensor, eta: torch.Tensor, aux: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-row log-likelihood, shape ``(n,)``, differentiable in ``eta`` and ``aux``.

        Args:
            y: Prepared response rows (``PreparedResponse.y`` or a slice).
            eta: Linear predictors, ``(n, n_eta)``.
            aux: Unconstrained family parameters.
        """

    def expected_log_lik(self, y: torch.Tensor, m: torch.Tensor, v: torch.Tensor,
                         aux: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """``E[log p(y | eta)]`` for ``eta ~ N(m, v)`` in closed form, or ``None``.

        The neural engine integrates by Gauss-Hermite quadrature where this
        returns ``None`` (the default); a family whose expectation has a
        closed form returns it (exact, and one evaluation instead of one per node).

        Args:
            y: Prepared response rows.
            m: Means of the single linear predictor, ``(n,)``.
            v: Its variances, ``(n,)``.
            aux: Unconstrained family parameters.
        """
        return None

    @abstractmethod
    def mean(self, eta: torch.Tensor, aux: dict[str, torch.Tensor]) -> torch.Tensor:
        """E[y | eta]: ``(n,)`` (``(n, K)`` class probabilities for categorical/ordinal;
        for binomial, the success probability)."""

    @abstractmethod
    def variance(self, eta: torch.Tensor, aux: dict[str, torch.Tensor]) -> torch.Tensor:
        """Var[y | eta], same shape as ``mean`` (per trial for binomial)."""

    @abstractmethod
    def simulate(self, eta: torch.Tensor, aux: dict[str, torch.Tensor],
                 generator: torch.Generator | None = None, trials: torch.Tensor | None = None) -> torch.Tensor:
        """One draw of y per row (class codes for categorical/ordinal; successes
        out of ``trials`` for binomial, 1 trial when ``None``)."""

    def describe_aux(self, aux: dict[str, torch.Tensor]) -> dict[str, float]:
        """Constrained family parameters as plain floats (lists for vectors), for results."""
        out = {}
        for key, value in self.aux_values(aux).items():
            value = value.detach().cpu()
            out[key] = value.item() if value.numel() == 1 else value.tolist()
        return out
