"""Beta outcome for proportions in (0, 1), mean-precision parametrization (Ferrari & Cribari-Neto 2004).

``y ~ Beta(mu phi, (1 - mu) phi)``, ``E[y] = mu``, ``Var = mu (1 - mu) / (1 + phi)``;
links logit (default), probit, cloglog; unconstrained ``log_phi``.  ``1 - mu``
comes from the link directly, so ``(1 - mu) phi`` does not vanish at large
``eta`` before it must.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from tabmixr.families.base import PreparedResponse
from tabmixr.families.common import LinkFamily, as_float, check_aux, eta_vector, standard_gamma
from tabmixr.families.support import check_values, numeric_response

Tensor = torch.Tensor


class BetaFamily(LinkFamily):
    """Beta outcome with mean ``mu`` and precision ``phi``."""

    name = "beta"
    links = ("logit", "probit", "cloglog")
    aux_names = ("phi",)

    def prepare(self, y, response_name: str = "y") -> PreparedResponse:
        """Numbers strictly between 0 and 1.

        Raises:
            ResponseError: A value <= 0 or >= 1 (exact 0/1 need a zero-one-inflated model).
        """
        values = numeric_response(y, self.name, response_name)
        check_values(values, lambda v: (v > 0) & (v < 1), self.name,
                     "values strictly between 0 and 1", response_name)
        return PreparedResponse(y=torch.as_tensor(values, dtype=torch.float64))

    def aux_init(self, prepared: PreparedResponse) -> dict[str, float]:
        """Moment estimate ``phi = m (1 - m) / v - 1``, clipped to [0.1, 1e4]."""
        y = prepared.y.double().numpy()
        m, v = float(np.mean(y)), float(np.var(y))
        phi = m * (1.0 - m) / v - 1.0 if v > 0 else 100.0
        return {"log_phi": math.log(min(max(phi, 0.1), 1e4))}

    def aux_values(self, aux: dict[str, Tensor]) -> dict[str, Tensor]:
        """``{"phi": exp(log_phi)}``."""
        check_aux(aux, ("log_phi",), self.name)
        return {"phi": torch.exp(aux["log_phi"])}

    def _shapes(self, eta: Tensor, log_phi: Tensor) -> tuple[Tensor, Tensor]:
        """``(mu phi, (1 - mu) phi)``, each kept >= the smallest positive float."""
        tiny = torch.finfo(eta.dtype).tiny
        phi = torch.exp(log_phi)
        link = self.link_functions
        return (torch.clamp(link.inverse(eta) * phi, min=tiny), torch.clamp(link.complement(eta) * phi, min=tiny))

    def log_lik(self, y: Tensor, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``lgamma(phi) - lgamma(a) - lgamma(b) + (a - 1) log y + (b - 1) log(1 - y)``."""
        check_aux(aux, ("log_phi",), self.name)
        eta = eta_vector(eta)
        y = as_float(y, eta)
        a, b = self._shapes(eta, aux["log_phi"])
        return (torch.lgamma(torch.exp(aux["log_phi"])) - torch.lgamma(a) - torch.lgamma(b)
                + (a - 1.0) * torch.log(y) + (b - 1.0) * torch.log1p(-y))

    def mean(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``mu``."""
        return self.mu(eta)

    def variance(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``mu (1 - mu) / (1 + phi)``."""
        eta = eta_vector(eta)
        link = self.link_functions
        return link.inverse(eta) * link.complement(eta) / (1.0 + torch.exp(aux["log_phi"]))

    def simulate(self, eta, aux, generator=None, trials=None) -> Tensor:
        """``X / (X + Y)`` with ``X ~ Gamma(a)``, ``Y ~ Gamma(b)``."""
        a, b = self._shapes(eta_vector(eta).detach(), aux["log_phi"].detach())
        x = standard_gamma(a, generator)
        y = standard_gamma(b, generator)
        total = x + y
        return torch.where(total > 0, x / torch.where(total > 0, total, torch.ones_like(total)), (a > b).to(a.dtype))
