"""Positive continuous families: gamma, exponential, weibull (mean parametrizations, as brms).

- ``gamma``: ``y ~ Gamma(shape, rate = shape / mu)``, ``Var = mu^2 / shape``;
  links inverse (default, as R's ``Gamma()``), log, identity.
- ``exponential``: ``y ~ Exp(rate = 1 / mu)``; links log (default), identity, inverse.
- ``weibull``: shape ``k`` and scale ``mu / Gamma(1 + 1/k)``, so ``E[y] = mu``;
  links log (default), identity.

Unconstrained parameters: ``log_shape`` (gamma, weibull).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from tabmixr.families.base import PreparedResponse
from tabmixr.families.common import LinkFamily, as_float, check_aux, eta_vector, standard_exponential, standard_gamma
from tabmixr.families.support import check_values, numeric_response

Tensor = torch.Tensor


def positive_response(y, family: str, response_name: str) -> PreparedResponse:
    """Strictly positive numbers as a float tensor.

    Raises:
        ResponseError: A value <= 0 or non-finite.
    """
    values = numeric_response(y, family, response_name)
    check_values(values, lambda v: v > 0, family, "positive values", response_name)
    return PreparedResponse(y=torch.as_tensor(values, dtype=torch.float64))


class GammaFamily(LinkFamily):
    """Gamma outcome with mean ``mu`` and shape ``shape``."""

    name = "gamma"
    links = ("inverse", "log", "identity")
    aux_names = ("shape",)
    positive_mean = True

    def prepare(self, y, response_name: str = "y") -> PreparedResponse:
        """Strictly positive numbers."""
        return positive_response(y, self.name, response_name)

    def aux_init(self, prepared: PreparedResponse) -> dict[str, float]:
        """Moment estimate ``shape = mean^2 / var``, clipped to [0.01, 1e4]."""
        y = prepared.y.double().numpy()
        var = float(np.var(y))
        shape = float(np.mean(y)) ** 2 / var if var > 0 else 100.0
        return {"log_shape": math.log(min(max(shape, 1e-2), 1e4))}

    def aux_values(self, aux: dict[str, Tensor]) -> dict[str, Tensor]:
        """``{"shape": exp(log_shape)}``."""
        check_aux(aux, ("log_shape",), self.name)
        return {"shape": torch.exp(aux["log_shape"])}

    def log_lik(self, y: Tensor, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``a log(a / mu) + (a - 1) log y - a y / mu - lgamma(a)`` with ``a`` the shape."""
        check_aux(aux, ("log_shape",), self.name)
        eta = eta_vector(eta)
        y = as_float(y, eta)
        log_a = aux["log_shape"]
        a = torch.exp(log_a)
        log_mu = self.log_mu(eta)
        return a * (log_a - log_mu) + (a - 1.0) * torch.log(y) - a * y * torch.exp(-log_mu) - torch.lgamma(a)

    def mean(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``mu``."""
        return self.mu(eta)

    def variance(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``mu^2 / shape``."""
        mu = self.mu(eta)
        return mu * mu * torch.exp(-aux["log_shape"])

    def simulate(self, eta, aux, generator=None, trials=None) -> Tensor:
        """``mu * Gamma(a, 1) / a``."""
        mu = self.mu(eta).detach()
        a = torch.exp(aux["log_shape"].detach()).expand_as(mu)
        return mu * standard_gamma(a, generator) / a


class Exponential(LinkFamily):
    """Exponential outcome with mean ``mu``."""

    name = "exponential"
    links = ("log", "identity", "inverse")
    positive_mean = True

    def prepare(self, y, response_name: str = "y") -> PreparedResponse:
        """Strictly positive numbers."""
        return positive_response(y, self.name, response_name)

    def aux_init(self, prepared: PreparedResponse) -> dict[str, float]:
        """No family parameters."""
        return {}

    def aux_values(self, aux: dict[str, Tensor]) -> dict[str, Tensor]:
        """No family parameters."""
        return {}

    def log_lik(self, y: Tensor, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``-log(mu) - y / mu``."""
        eta = eta_vector(eta)
        log_mu = self.log_mu(eta)
        return -log_mu - as_float(y, eta) * torch.exp(-log_mu)

    def mean(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``mu``."""
        return self.mu(eta)

    def variance(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``mu^2``."""
        return self.mu(eta) ** 2

    def simulate(self, eta, aux, generator=None, trials=None) -> Tensor:
        """``mu * Exp(1)``."""
        mu = self.mu(eta).detach()
        return mu * standard_exponential(mu, generator)


class Weibull(LinkFamily):
    """Weibull outcome with mean ``mu`` and shape ``k`` (brms parametrization)."""

    name = "weibull"
    links = ("log", "identity")
    aux_names = ("shape",)
    positive_mean = True

    def prepare(self, y, response_name: str = "y") -> PreparedResponse:
        """Strictly positive numbers."""
        return positive_response(y, self.name, response_name)

    def aux_init(self, prepared: PreparedResponse) -> dict[str, float]:
        """``k = pi / (sqrt(6) sd(log y))`` (log y is Gumbel with that sd), clipped to [0.1, 100]."""
        sd = float(np.std(np.log(prepared.y.double().numpy())))
        k = math.pi / (math.sqrt(6.0) * sd) if sd > 0 else 1.0
        return {"log_shape": math.log(min(max(k, 0.1), 100.0))}

    def aux_values(self, aux: dict[str, Tensor]) -> dict[str, Tensor]:
        """``{"shape": exp(log_shape)}``."""
        check_aux(aux, ("log_shape",), self.name)
        return {"shape": torch.exp(aux["log_shape"])}

    def _log_scale(self, eta: Tensor, log_k: Tensor) -> Tensor:
        """``log(mu / Gamma(1 + 1/k))``."""
        return self.log_mu(eta) - torch.lgamma(1.0 + torch.exp(-log_k))

    def log_lik(self, y: Tensor, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``log k - log s + (k - 1)(log y - log s) - (y / s)^k`` with scale ``s``."""
        check_aux(aux, ("log_shape",), self.name)
        eta = eta_vector(eta)
        log_k = aux["log_shape"]
        k = torch.exp(log_k)
        log_s = self._log_scale(eta, log_k)
        z = torch.log(as_float(y, eta)) - log_s
        return log_k - log_s + (k - 1.0) * z - torch.exp(k * z)

    def mean(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``mu``."""
        return self.mu(eta)

    def variance(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``mu^2 (Gamma(1 + 2/k) / Gamma(1 + 1/k)^2 - 1)``."""
        inv_k = torch.exp(-aux["log_shape"])
        mu = self.mu(eta)
        return mu * mu * torch.expm1(torch.lgamma(1.0 + 2.0 * inv_k) - 2.0 * torch.lgamma(1.0 + inv_k))

    def simulate(self, eta, aux, generator=None, trials=None) -> Tensor:
        """``scale * Exp(1)^(1/k)``."""
        log_k = aux["log_shape"].detach()
        eta = eta_vector(eta).detach()
        scale = torch.exp(self._log_scale(eta, log_k))
        return scale * standard_exponential(scale, generator) ** torch.exp(-log_k)
