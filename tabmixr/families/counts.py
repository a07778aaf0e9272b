"""Count families: poisson, negative_binomial, zero_inflated_poisson.

- ``poisson``: ``y ~ Poisson(mu)``; links log (default), identity, sqrt.
- ``negative_binomial``: brms's / lme4's ``glmer.nb`` parametrization,
  ``Var = mu + mu^2 / shape``; unconstrained ``log_shape``.
- ``zero_inflated_poisson``: ``y = 0`` with probability ``zi``, else
  ``Poisson(mu)`` (brms's ``zi``); unconstrained ``logit_zi``.

Every log-likelihood works with ``log(mu)`` from the link (for the log link,
``eta`` itself), so large and small means stay exact.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from tabmixr.families.base import PreparedResponse
from tabmixr.families.common import (LinkFamily, as_float, check_aux, eta_vector, poisson, standard_gamma,
                                     standard_uniform)
from tabmixr.families.support import check_values, is_integer, numeric_response

Tensor = torch.Tensor


def count_response(y, family: str, response_name: str) -> PreparedResponse:
    """Non-negative integers as a float tensor.

    Raises:
        ResponseError: A negative, fractional or non-finite value.
    """
    values = numeric_response(y, family, response_name)
    check_values(values, lambda v: (v >= 0) & is_integer(v), family, "non-negative integers", response_name)
    return PreparedResponse(y=torch.as_tensor(values, dtype=torch.float64))


def poisson_log_pmf(y: Tensor, mu: Tensor, log_mu: Tensor) -> Tensor:
    """``y log(mu) - mu - log(y!)``."""
    return y * log_mu - mu - torch.lgamma(y + 1.0)


class Poisson(LinkFamily):
    """Poisson counts."""

    name = "poisson"
    links = ("log", "identity", "sqrt")
    positive_mean = True

    def prepare(self, y, response_name: str = "y") -> PreparedResponse:
        """Non-negative integers."""
        return count_response(y, self.name, response_name)

    def aux_init(self, prepared: PreparedResponse) -> dict[str, float]:
        """No family parameters."""
        return {}

    def aux_values(self, aux: dict[str, Tensor]) -> dict[str, Tensor]:
        """No family parameters."""
        return {}

    def log_lik(self, y: Tensor, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``y log(mu) - mu - log(y!)``."""
        eta = eta_vector(eta)
        return poisson_log_pmf(as_float(y, eta), self.mu(eta), self.log_mu(eta))

    def mean(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``mu``."""
        return self.mu(eta)

    def variance(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``mu``."""
        return self.mu(eta)

    def simulate(self, eta, aux, generator=None, trials=None) -> Tensor:
        """Poisson draws."""
        return poisson(self.mu(eta).detach(), generator)


class NegativeBinomial(LinkFamily):
    """Negative binomial counts, ``Var = mu + mu^2 / shape``."""

    name = "negative_binomial"
    links = ("log", "identity", "sqrt")
    aux_names = ("shape",)
    positive_mean = True

    def prepare(self, y, response_name: str = "y") -> PreparedResponse:
        """Non-negative integers."""
        return count_response(y, self.name, response_name)

    def aux_init(self, prepared: PreparedResponse) -> dict[str, float]:
        """Moment estimate ``shape = m^2 / (v - m)`` (100 when not over-dispersed), clipped to [0.01, 1e4]."""
        y = prepared.y.double().numpy()
        m, v = float(np.mean(y)), float(np.var(y))
        shape = m * m / (v - m) if v > 1.01 * m and m > 0 else 100.0
        return {"log_shape": math.log(min(max(shape, 1e-2), 1e4))}

    def aux_values(self, aux: dict[str, Tensor]) -> dict[str, Tensor]:
        """``{"shape": exp(log_shape)}``."""
        check_aux(aux, ("log_shape",), self.name)
        return {"shape": torch.exp(aux["log_shape"])}

    def log_lik(self, y: Tensor, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``lgamma(y + k) - lgamma(k) - log(y!) + k log(k / (k + mu)) + y log(mu / (k + mu))``."""
        check_aux(aux, ("log_shape",), self.name)
        eta = eta_vector(eta)
        y = as_float(y, eta)
        log_k = aux["log_shape"]
        k = torch.exp(log_k)
        log_mu = self.log_mu(eta)
        log_k_mu = torch.logaddexp(log_k.expand_as(log_mu), log_mu)
        return (torch.lgamma(y + k) - torch.lgamma(k) - torch.lgamma(y + 1.0)
                + k * (log_k - log_k_mu) + y * (log_mu - log_k_mu))

    def mean(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``mu``."""
        return self.mu(eta)

    def variance(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``mu + mu^2 / shape``."""
        mu = self.mu(eta)
        return mu + mu * mu * torch.exp(-aux["log_shape"])

    def simulate(self, eta, aux, generator=None, trials=None) -> Tensor:
        """Gamma-Poisson mixture: ``lambda = mu Gamma(k, k)``, ``y ~ Poisson(lambda)``."""
        mu = self.mu(eta).detach()
        k = torch.exp(aux["log_shape"].detach()).expand_as(mu)
        return poisson(mu * standard_gamma(k, generator) / k, generator)


class ZeroInflatedPoisson(LinkFamily):
    """Zero-inflated Poisson: structural zero with probability ``zi``, else Poisson(mu)."""

    name = "zero_inflated_poisson"
    links = ("log", "identity", "sqrt")
    aux_names = ("zi",)
    positive_mean = True

    def prepare(self, y, response_name: str = "y") -> PreparedResponse:
        """Non-negative integers."""
        return count_response(y, self.name, response_name)

    def aux_init(self, prepared: PreparedResponse) -> dict[str, float]:
        """Moment match of the zero share and the mean, ``zi`` clipped to [0.01, 0.95].

        Iterates ``mu = mean / (1 - zi)``, ``zi = (p0 - exp(-mu)) / (1 - exp(-mu))``.
        """
        y = prepared.y.double().numpy()
        m, p0 = float(np.mean(y)), float(np.mean(y == 0))
        zi = 0.1
        for _ in range(50):
            mu = max(m / (1.0 - zi), 1e-8)
            zi = min(max((p0 - math.exp(-mu)) / -math.expm1(-mu), 0.01), 0.95)
        return {"logit_zi": math.log(zi / (1.0 - zi))}

    def aux_values(self, aux: dict[str, Tensor]) -> dict[str, Tensor]:
        """``{"zi": sigmoid(logit_zi)}``."""
        check_aux(aux, ("logit_zi",), self.name)
        return {"zi": torch.sigmoid(aux["logit_zi"])}

    def log_lik(self, y: Tensor, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``log(zi + (1 - zi) exp(-mu))`` at zero, ``log(1 - zi) + log Poisson(y; mu)`` above."""
        check_aux(aux, ("logit_zi",), self.name)
        eta = eta_vector(eta)
        y = as_float(y, eta)
        mu = self.mu(eta)
        raw = aux["logit_zi"].expand_as(mu)
        log_zi, log_not_zi = F.logsigmoid(raw), F.logsigmoid(-raw)
        zero = torch.logaddexp(log_zi, log_not_zi - mu)
        positive = log_not_zi + poisson_log_pmf(y, mu, self.log_mu(eta))
        return torch.where(y == 0, zero, positive)

    def mean(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``(1 - zi) mu``."""
        return torch.sigmoid(-aux["logit_zi"]) * self.mu(eta)

    def variance(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``(1 - zi) mu (1 + zi mu)``."""
        mu = self.mu(eta)
        zi = torch.sigmoid(aux["logit_zi"])
        return (1.0 - zi) * mu * (1.0 + zi * mu)

    def simulate(self, eta, aux, generator=None, trials=None) -> Tensor:
        """Zero with probability ``zi``, else a Poisson draw."""
        mu = self.mu(eta).detach()
        zi = torch.sigmoid(aux["logit_zi"].detach())
        counts = poisson(mu, generator)
        return torch.where(standard_uniform(mu, generator) < zi, torch.zeros_like(counts), counts)
