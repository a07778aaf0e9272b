"""Bernoulli / binomial outcomes: ``successes ~ Binomial(trials, mu)``.

The response is a 0/1 (or boolean) vector, one trial per row, or R's
``cbind(successes, failures)`` (two non-negative integer columns).  Either way
``prepare`` stores ``y`` as ``(n, 2)``: successes and trials.  Links logit
(default), probit and cloglog; the log-likelihood uses ``log(mu)`` and
``log(1 - mu)`` straight from the link, so it is exact in the tails.
"""

from __future__ import annotations

import numpy as np
import torch

from tabmixr.families.base import PreparedResponse
from tabmixr.families.common import LinkFamily, as_float, eta_vector
from tabmixr.families.support import check_values, fail_at, is_integer, numeric_response

Tensor = torch.Tensor


def log_choose(trials: Tensor, successes: Tensor) -> Tensor:
    """``log(trials choose successes)`` through ``lgamma``."""
    return torch.lgamma(trials + 1.0) - torch.lgamma(successes + 1.0) - torch.lgamma(trials - successes + 1.0)


class Binomial(LinkFamily):
    """Binomial outcome (Bernoulli when every row has one trial)."""

    name = "binomial"
    links = ("logit", "probit", "cloglog")

    def prepare(self, y, response_name: str = "y") -> PreparedResponse:
        """0/1 values, or ``cbind(successes, failures)`` of non-negative integers.

        Returns:
            ``y`` of shape ``(n, 2)``: successes, trials; ``info["trials"]``
            holds the trials as a NumPy array.

        Raises:
            ResponseError: Values other than 0/1 in a vector, negative or
                fractional counts, or more than two columns.
        """
        raw = np.asarray(y)
        if raw.ndim == 2 and raw.shape[1] == 2:
            counts = numeric_response(raw, self.name, response_name, columns=2)
            fail_at(counts, ~(is_integer(counts) & (counts >= 0)).all(axis=1), self.name,
                    "non-negative integer counts in cbind(successes, failures)", response_name)
            successes, trials = counts[:, 0], counts.sum(axis=1)
        else:
            values = numeric_response(raw, self.name, response_name)
            check_values(values, lambda v: (v == 0) | (v == 1), self.name,
                         "0/1 values (or cbind(successes, failures))", response_name)
            successes, trials = values, np.ones_like(values)
        y_tensor = torch.as_tensor(np.column_stack([successes, trials]), dtype=torch.float64)
        return PreparedResponse(y=y_tensor, info={"trials": trials})

    def aux_init(self, prepared: PreparedResponse) -> dict[str, float]:
        """No family parameters."""
        return {}

    def aux_values(self, aux: dict[str, Tensor]) -> dict[str, Tensor]:
        """No family parameters."""
        return {}

    def log_lik(self, y: Tensor, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``log C(t, s) + s log(mu) + (t - s) log(1 - mu)``.

        Args:
            y: ``(n, 2)`` successes and trials (a ``(n,)`` 0/1 vector is read as one trial each).
            eta: ``(n, 1)`` linear predictors.
            aux: Unused.
        """
        eta = eta_vector(eta)
        y = as_float(y, eta)
        successes, trials = (y[:, 0], y[:, 1]) if y.dim() == 2 else (y, torch.ones_like(y))
        link = self.link_functions
        failures = trials - successes
        return (log_choose(trials, successes) + successes * link.log_inverse(eta)
                + failures * link.log_complement(eta))

    def mean(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """Success probability ``mu``."""
        return self.mu(eta)

    def variance(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """Per-trial variance ``mu (1 - mu)``."""
        eta = eta_vector(eta)
        return self.link_functions.inverse(eta) * self.link_functions.complement(eta)

    def simulate(self, eta, aux, generator=None, trials=None) -> Tensor:
        """Successes out of ``trials`` (one each when ``None``)."""
        mu = self.mu(eta).detach()
        count = torch.ones_like(mu) if trials is None else as_float(torch.as_tensor(trials), mu).expand_as(mu)
        return torch.binomial(count.contiguous(), mu.clamp(0.0, 1.0).contiguous(), generator=generator)
