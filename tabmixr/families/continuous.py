"""Real-valued location-scale families: gaussian, student_t, lognormal.

Parametrizations follow brms:

- ``gaussian``: ``y ~ N(mu, sigma)``; links identity (default), log, inverse.
- ``student_t``: ``y ~ t_nu(mu, sigma)`` with ``nu > 1``; ``Var = sigma^2 nu / (nu - 2)``
  for ``nu > 2`` (infinite otherwise).  Links identity (default), log.
- ``lognormal``: ``log y ~ N(mu, sigma)``, ``mu`` is the mean of ``log y``
  (identity link), so ``E[y] = exp(mu + sigma^2 / 2)``.

Unconstrained parameters: ``log_sigma`` (all three) and ``log_nu_minus_one``
(student_t, ``nu = 1 + exp(.)``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from tabmixr.families.base import PreparedResponse
from tabmixr.families.common import (LinkFamily, as_float, check_aux, standard_gamma, standard_normal,
                                     eta_vector)
from tabmixr.families.support import check_values, numeric_response

Tensor = torch.Tensor
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _log_scale_start(values: np.ndarray) -> float:
    """``log`` of the standard deviation of ``values`` (0 when they are constant)."""
    sd = float(np.std(values))
    if not sd > 0:
        return 0.0
    return math.log(sd)


def _tensor(values: np.ndarray) -> Tensor:
    return torch.as_tensor(values, dtype=torch.float64)


def normal_log_density(y: Tensor, mu: Tensor, log_sigma: Tensor) -> Tensor:
    """Exact ``log N(y; mu, exp(log_sigma))``."""
    z = (y - mu) * torch.exp(-log_sigma)
    return -HALF_LOG_2PI - log_sigma - 0.5 * z * z


class Gaussian(LinkFamily):
    """Normal outcome, ``y ~ N(mu, sigma)``."""

    name = "gaussian"
    links = ("identity", "log", "inverse")
    aux_names = ("sigma",)

    def prepare(self, y, response_name: str = "y") -> PreparedResponse:
        """Any finite real numbers (see ``Family.prepare``)."""
        return PreparedResponse(y=_tensor(numeric_response(y, self.name, response_name)))

    def aux_init(self, prepared: PreparedResponse) -> dict[str, float]:
        """``log_sigma`` = log of the response's standard deviation."""
        return {"log_sigma": _log_scale_start(prepared.y.double().numpy())}

    def aux_values(self, aux: dict[str, Tensor]) -> dict[str, Tensor]:
        """``{"sigma": exp(log_sigma)}``."""
        check_aux(aux, ("log_sigma",), self.name)
        return {"sigma": torch.exp(aux["log_sigma"])}

    def log_lik(self, y: Tensor, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``-log(2 pi)/2 - log sigma - (y - mu)^2 / (2 sigma^2)``."""
        check_aux(aux, ("log_sigma",), self.name)
        eta = eta_vector(eta)
        return normal_log_density(as_float(y, eta), self.mu(eta), aux["log_sigma"])

    def expected_log_lik(self, y: Tensor, m: Tensor, v: Tensor,
                         aux: dict[str, Tensor]) -> Tensor | None:
        """Identity link: ``log N(y; m, sigma) - v / (2 sigma^2)``; other links: ``None``."""
        if self.link != "identity":
            return None
        return self.log_lik(y, m[:, None], aux) - 0.5 * v * torch.exp(-2.0 * aux["log_sigma"])

    def mean(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``mu``."""
        return self.mu(eta)

    def variance(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``sigma^2`` on every row."""
        mu = self.mu(eta)
        return torch.exp(2.0 * aux["log_sigma"]).expand_as(mu).clone()

    def simulate(self, eta, aux, generator=None, trials=None) -> Tensor:
        """``mu + sigma * z``."""
        mu = self.mu(eta).detach()
        return mu + torch.exp(aux["log_sigma"].detach()) * standard_normal(mu, generator)


class StudentT(LinkFamily):
    """Student-t outcome, ``y ~ t_nu(mu, sigma)`` with ``nu > 1`` (brms ``student``)."""

    name = "student_t"
    links = ("identity", "log")
    aux_names = ("sigma", "nu")

    def prepare(self, y, response_name: str = "y") -> PreparedResponse:
        """Any finite real numbers."""
        return PreparedResponse(y=_tensor(numeric_response(y, self.name, response_name)))

    def aux_init(self, prepared: PreparedResponse) -> dict[str, float]:
        """``sigma`` from the median absolute deviation, ``nu = 5``."""
        y = prepared.y.double().numpy()
        mad = 1.4826 * float(np.median(np.abs(y - np.median(y))))
        log_sigma = math.log(mad) if mad > 0 else _log_scale_start(y)
        return {"log_sigma": log_sigma, "log_nu_minus_one": math.log(4.0)}

    def aux_values(self, aux: dict[str, Tensor]) -> dict[str, Tensor]:
        """``{"sigma": exp(log_sigma), "nu": 1 + exp(log_nu_minus_one)}``."""
        check_aux(aux, ("log_sigma", "log_nu_minus_one"), self.name)
        return {"sigma": torch.exp(aux["log_sigma"]), "nu": 1.0 + torch.exp(aux["log_nu_minus_one"])}

    def log_lik(self, y: Tensor, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``lgamma((nu+1)/2) - lgamma(nu/2) - log(nu pi)/2 - log sigma - (nu+1)/2 log(1 + z^2/nu)``."""
        values = self.aux_values(aux)
        nu = values["nu"]
        eta = eta_vector(eta)
        z = (as_float(y, eta) - self.mu(eta)) * torch.exp(-aux["log_sigma"])
        const = torch.lgamma(0.5 * (nu + 1.0)) - torch.lgamma(0.5 * nu) - 0.5 * torch.log(nu * math.pi)
        return const - aux["log_sigma"] - 0.5 * (nu + 1.0) * torch.log1p(z * z / nu)

    def mean(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``mu`` (finite because ``nu > 1``)."""
        return self.mu(eta)

    def variance(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``sigma^2 nu / (nu - 2)`` for ``nu > 2``, ``inf`` otherwise."""
        values = self.aux_values(aux)
        nu, sigma = values["nu"], values["sigma"]
        safe = torch.where(nu > 2.0, nu, torch.full_like(nu, 3.0))
        var = torch.where(nu > 2.0, sigma ** 2 * safe / (safe - 2.0), torch.full_like(nu, math.inf))
        return var.expand_as(self.mu(eta)).clone()

    def simulate(self, eta, aux, generator=None, trials=None) -> Tensor:
        """``mu + sigma * z / sqrt(chi2_nu / nu)`` with ``chi2_nu = 2 Gamma(nu/2)``."""
        values = {k: v.detach() for k, v in self.aux_values(aux).items()}
        mu = self.mu(eta).detach()
        nu = values["nu"].expand_as(mu)
        chi2 = 2.0 * standard_gamma(0.5 * nu, generator)
        return mu + values["sigma"] * standard_normal(mu, generator) / torch.sqrt(chi2 / nu)


class LogNormal(LinkFamily):
    """Log-normal outcome: ``log y ~ N(mu, sigma)``; ``mu`` is the mean of ``log y``."""

    name = "lognormal"
    links = ("identity",)
    aux_names = ("sigma",)

    def prepare(self, y, response_name: str = "y") -> PreparedResponse:
        """Strictly positive numbers."""
        values = numeric_response(y, self.name, response_name)
        check_values(values, lambda v: v > 0, self.name, "positive values", response_name)
        return PreparedResponse(y=_tensor(values))

    def aux_init(self, prepared: PreparedResponse) -> dict[str, float]:
        """``log_sigma`` = log of the standard deviation of ``log y``."""
        return {"log_sigma": _log_scale_start(np.log(prepared.y.double().numpy()))}

    def aux_values(self, aux: dict[str, Tensor]) -> dict[str, Tensor]:
        """``{"sigma": exp(log_sigma)}``."""
        check_aux(aux, ("log_sigma",), self.name)
        return {"sigma": torch.exp(aux["log_sigma"])}

    def log_lik(self, y: Tensor, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``log N(log y; mu, sigma) - log y``."""
        check_aux(aux, ("log_sigma",), self.name)
        eta = eta_vector(eta)
        log_y = torch.log(as_float(y, eta))
        return normal_log_density(log_y, self.mu(eta), aux["log_sigma"]) - log_y

    def expected_log_lik(self, y: Tensor, m: Tensor, v: Tensor,
                         aux: dict[str, Tensor]) -> Tensor:
        """``log N(log y; m, sigma) - log y - v / (2 sigma^2)`` (the link is the identity)."""
        return self.log_lik(y, m[:, None], aux) - 0.5 * v * torch.exp(-2.0 * aux["log_sigma"])

    def mean(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``exp(mu + sigma^2 / 2)``."""
        return torch.exp(self.mu(eta) + 0.5 * torch.exp(2.0 * aux["log_sigma"]))

    def variance(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``(exp(sigma^2) - 1) exp(2 mu + sigma^2)``."""
        s2 = torch.exp(2.0 * aux["log_sigma"])
        return torch.expm1(s2) * torch.exp(2.0 * self.mu(eta) + s2)

    def simulate(self, eta, aux, generator=None, trials=None) -> Tensor:
        """``exp(mu + sigma * z)``."""
        mu = self.mu(eta).detach()
        return torch.exp(mu + torch.exp(aux["log_sigma"].detach()) * standard_normal(mu, generator))
