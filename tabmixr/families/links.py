"""Link functions: ``eta = g(mu)`` and the stable pieces a likelihood needs.

Every link maps a linear predictor ``eta`` to a mean ``mu = g^{-1}(eta)``.
Likelihoods rarely want ``mu`` itself: a Poisson log-likelihood wants
``log(mu)``, a Bernoulli one wants ``log(mu)`` and ``log(1 - mu)``.  Computing
those through ``mu`` loses everything in the tails (``log(sigmoid(40))`` is
``log(1.0) = 0`` in float32, ``1 - sigmoid(40)`` is ``0``), so each link
provides them directly:

``inverse``        mu
``log_inverse``    log(mu)
``complement``     1 - mu        (links onto (0, 1) only)
``log_complement`` log(1 - mu)   (links onto (0, 1) only)

Links whose range is wider than the family's mean space (``identity`` for a
Poisson mean, ``inverse`` for a Gamma mean) clamp ``mu`` at the smallest
positive float before taking its log: outside its range the log-likelihood is
then very low but finite, which keeps an optimizer able to step back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy import special

Tensor = torch.Tensor

#: Above this eta, cloglog's log(1 - mu) = -exp(eta) is cut off so it stays finite in float32.
CLOGLOG_MAX = 80.0


def _tiny(x: Tensor) -> float:
    return torch.finfo(x.dtype).tiny


def _positive_log(mu: Tensor) -> Tensor:
    return torch.log(torch.clamp(mu, min=_tiny(mu)))


def log1mexp(x: Tensor) -> Tensor:
    """``log(1 - exp(-x))`` for ``x > 0``, accurate for small and large ``x``.

    Mächler (2012), "Accurately computing log(1 - exp(-|a|))": use
    ``log(-expm1(-x))`` below ``log 2`` and ``log1p(-exp(-x))`` above.
    """
    x = torch.clamp(x, min=_tiny(x))
    small = x < math.log(2.0)
    a = torch.log(-torch.expm1(-torch.where(small, x, torch.ones_like(x))))
    b = torch.log1p(-torch.exp(-torch.where(small, torch.ones_like(x), x)))
    return torch.where(small, a, b)


@dataclass(frozen=True)
class Link:
    """One link function.

    Attributes:
        name: R's name of the link (``"logit"``, ``"log"``, ...).
        inverse: ``eta -> mu``.
        log_inverse: ``eta -> log(mu)`` (stable).
        link: ``mu -> eta`` on NumPy arrays (used for data-based starts).
        complement: ``eta -> 1 - mu`` for links onto (0, 1), else ``None``.
        log_complement: ``eta -> log(1 - mu)`` for links onto (0, 1), else ``None``.
    """

    name: str
    inverse: Callable[[Tensor], Tensor]
    log_inverse: Callable[[Tensor], Tensor]
    link: Callable[[np.ndarray], np.ndarray]
    complement: Callable[[Tensor], Tensor] | None = None
    log_complement: Callable[[Tensor], Tensor] | None = None

    @property
    def unit_interval(self) -> bool:
        """Whether the link maps onto (0, 1) (a probability)."""
        return self.complement is not None


def _cloglog_log_inverse(eta: Tensor) -> Tensor:
    # mu = 1 - exp(-exp(eta)); log(mu) = log1mexp(exp(eta))
    return log1mexp(torch.exp(eta))


def _inverse_inverse(eta: Tensor) -> Tensor:
    return 1.0 / torch.where(eta == 0, torch.full_like(eta, _tiny(eta)), eta)


LINKS: dict[str, Link] = {
    "identity": Link("identity", lambda eta: eta, _positive_log, lambda mu: np.asarray(mu, dtype=float)),
    "log": Link("log", torch.exp, lambda eta: eta, np.log),
    "inverse": Link("inverse", _inverse_inverse, lambda eta: -_positive_log(eta), lambda mu: 1.0 / np.asarray(mu)),
    "sqrt": Link("sqrt", torch.square, lambda eta: 2.0 * _positive_log(torch.abs(eta)), np.sqrt),
    "logit": Link("logit", torch.sigmoid, F.logsigmoid, special.logit,
                  complement=lambda eta: torch.sigmoid(-eta), log_complement=lambda eta: F.logsigmoid(-eta)),
    # torch's ndtr underflows to 0 below about -26; exp(log_ndtr) keeps the tail
    "probit": Link("probit", lambda eta: torch.exp(torch.special.log_ndtr(eta)), torch.special.log_ndtr,
                   special.ndtri, complement=lambda eta: torch.exp(torch.special.log_ndtr(-eta)),
                   log_complement=lambda eta: torch.special.log_ndtr(-eta)),
    "cloglog": Link("cloglog", lambda eta: -torch.expm1(-torch.exp(eta)), _cloglog_log_inverse,
                    lambda mu: np.log(-np.log1p(-np.asarray(mu))),
                    complement=lambda eta: torch.exp(-torch.exp(eta)),
                    log_complement=lambda eta: -torch.exp(torch.clamp(eta, max=CLOGLOG_MAX))),
}
