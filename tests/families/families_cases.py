"""Reference cases for the family tests: every (family, link) with scipy as the truth.

Each case gives a range for ``eta``, unconstrained ``aux`` values, and a
reference written independently of tabmixr: inverse links in NumPy/SciPy and
the outcome distribution as a (vectorized) ``scipy.stats`` object, or, where
scipy has none, probabilities built from scipy pieces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import special, stats

INVERSE_LINKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda eta: eta,
    "log": np.exp,
    "inverse": lambda eta: 1.0 / eta,
    "sqrt": np.square,
    "logit": special.expit,
    "probit": special.ndtr,
    "cloglog": lambda eta: -np.expm1(-np.exp(eta)),
}


def softplus_inverse(x):
    return np.log(np.expm1(np.asarray(x, dtype=float)))


@dataclass
class Case:
    """One (family, link) with its reference.

    Attributes:
        family: Family name for ``get_family``.
        link: Link name.
        eta_range: Interval ``eta`` is drawn from (uniformly).
        aux: Unconstrained family parameters (floats or lists).
        truth: Constrained parameters the reference uses (``sigma``, ``shape``, ...).
        n_eta: Linear predictors per row.
    """

    family: str
    link: str
    eta_range: tuple[float, float]
    aux: dict = field(default_factory=dict)
    truth: dict = field(default_factory=dict)
    n_eta: int = 1

    @property
    def id(self) -> str:
        return f"{self.family}-{self.link}"

    @property
    def kind(self) -> str:
        if self.family in ("ordinal", "categorical"):
            return "classes"
        if self.family == "zero_inflated_poisson":
            return "zip"
        return "scipy"

    def mu(self, eta: np.ndarray) -> np.ndarray:
        return INVERSE_LINKS[self.link](eta)

    def draw_eta(self, rng: np.random.Generator, n: int) -> np.ndarray:
        shape = (n, self.n_eta)
        return rng.uniform(*self.eta_range, size=shape)

    def scipy_dist(self, eta: np.ndarray, trials: np.ndarray | None = None):
        """A vectorized frozen scipy distribution for ``eta`` (``(n, 1)``)."""
        mu = self.mu(eta[:, 0])
        t = self.truth
        if self.family == "gaussian":
            return stats.norm(loc=mu, scale=t["sigma"])
        if self.family == "student_t":
            return stats.t(df=t["nu"], loc=mu, scale=t["sigma"])
        if self.family == "binomial":
            return stats.binom(n=np.ones(len(mu), dtype=int) if trials is None else trials.astype(int), p=mu)
        if self.family == "poisson":
            return stats.poisson(mu=mu)
        if self.family == "negative_binomial":
            k = t["shape"]
            return stats.nbinom(n=k, p=k / (k + mu))
        if self.family == "gamma":
            return stats.gamma(a=t["shape"], scale=mu / t["shape"])
        if self.family == "lognormal":
            return stats.lognorm(s=t["sigma"], scale=np.exp(mu))
        if self.family == "beta":
            return stats.beta(a=mu * t["phi"], b=(1.0 - mu) * t["phi"])
        if self.family == "exponential":
            return stats.expon(scale=mu)
        if self.family == "weibull":
            k = t["shape"]
            return stats.weibull_min(c=k, scale=mu / math.gamma(1.0 + 1.0 / k))
        raise KeyError(self.family)

    def class_probs(self, eta: np.ndarray) -> np.ndarray:
        """``(n, K)`` class probabilities for ordinal/categorical."""
        if self.family == "ordinal":
            cuts = np.asarray(self.truth["cutpoints"])
            cdf = special.expit(cuts[None, :] - eta[:, :1])
            cdf = np.hstack([np.zeros((len(eta), 1)), cdf, np.ones((len(eta), 1))])
            return np.diff(cdf, axis=1)
        logits = np.hstack([np.zeros((len(eta), 1)), eta])
        return special.softmax(logits, axis=1)

    def zip_pmf(self, y: np.ndarray, eta: np.ndarray) -> np.ndarray:
        zi = self.truth["zi"]
        return zi * (y == 0) + (1.0 - zi) * stats.poisson.pmf(y, self.mu(eta[:, 0]))

    def zip_moments(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance by summing the pmf over 0..400 (numerically, not by formula)."""
        k = np.arange(401.0)[None, :]
        mu = self.mu(eta[:, 0])[:, None]
        zi = self.truth["zi"]
        p = zi * (k == 0) + (1.0 - zi) * stats.poisson.pmf(k, mu)
        mean = (k * p).sum(axis=1)
        return mean, (k * k * p).sum(axis=1) - mean ** 2

    def draw_y(self, rng: np.random.Generator, eta: np.ndarray, trials: np.ndarray | None = None) -> np.ndarray:
        """Responses drawn by NumPy/SciPy (independent of tabmixr's ``simulate``)."""
        if self.kind == "classes":
            p = self.class_probs(eta)
            u = rng.uniform(size=(len(eta), 1))
            return np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), p.shape[1] - 1)
        if self.kind == "zip":
            counts = rng.poisson(self.mu(eta[:, 0]))
            return np.where(rng.uniform(size=len(eta)) < self.truth["zi"], 0, counts).astype(float)
        return np.asarray(self.scipy_dist(eta, trials).rvs(random_state=rng), dtype=float)


LOG_SIGMA = math.log(1.7)
CUTS = [-1.0, 0.3, 2.0]

CASES: list[Case] = [
    Case("gaussian", "identity", (-3, 3), {"log_sigma": LOG_SIGMA}, {"sigma": 1.7}),
    Case("gaussian", "log", (-1, 2), {"log_sigma": LOG_SIGMA}, {"sigma": 1.7}),
    Case("gaussian", "inverse", (0.2, 2), {"log_sigma": LOG_SIGMA}, {"sigma": 1.7}),
    Case("student_t", "identity", (-3, 3), {"log_sigma": math.log(1.3), "log_nu_minus_one": math.log(5.5)},
         {"sigma": 1.3, "nu": 6.5}),
    Case("student_t", "log", (-1, 2), {"log_sigma": math.log(1.3), "log_nu_minus_one": math.log(5.5)},
         {"sigma": 1.3, "nu": 6.5}),
    Case("binomial", "logit", (-3, 3)),
    Case("binomial", "probit", (-2, 2)),
    Case("binomial", "cloglog", (-2, 1)),
    Case("poisson", "log", (-1, 2.5)),
    Case("poisson", "identity", (0.3, 8)),
    Case("poisson", "sqrt", (0.5, 3)),
    Case("negative_binomial", "log", (-1, 2.5), {"log_shape": math.log(2.5)}, {"shape": 2.5}),
    Case("negative_binomial", "identity", (0.3, 8), {"log_shape": math.log(2.5)}, {"shape": 2.5}),
    Case("negative_binomial", "sqrt", (0.5, 3), {"log_shape": math.log(2.5)}, {"shape": 2.5}),
    Case("gamma", "inverse", (0.2, 2), {"log_shape": math.log(3.0)}, {"shape": 3.0}),
    Case("gamma", "log", (-1, 2), {"log_shape": math.log(3.0)}, {"shape": 3.0}),
    Case("gamma", "identity", (0.5, 5), {"log_shape": math.log(3.0)}, {"shape": 3.0}),
    Case("lognormal", "identity", (-1, 2), {"log_sigma": math.log(0.6)}, {"sigma": 0.6}),
    Case("beta", "logit", (-2, 2), {"log_phi": math.log(8.0)}, {"phi": 8.0}),
    Case("beta", "probit", (-1.5, 1.5), {"log_phi": math.log(8.0)}, {"phi": 8.0}),
    Case("beta", "cloglog", (-2, 0.8), {"log_phi": math.log(8.0)}, {"phi": 8.0}),
    Case("exponential", "log", (-1, 2)),
    Case("exponential", "identity", (0.5, 5)),
    Case("exponential", "inverse", (0.2, 2)),
    Case("weibull", "log", (-1, 2), {"log_shape": math.log(1.8)}, {"shape": 1.8}),
    Case("weibull", "identity", (0.5, 5), {"log_shape": math.log(1.8)}, {"shape": 1.8}),
    Case("zero_inflated_poisson", "log", (-1, 2), {"logit_zi": special.logit(0.3)}, {"zi": 0.3}),
    Case("zero_inflated_poisson", "identity", (0.3, 6), {"logit_zi": special.logit(0.3)}, {"zi": 0.3}),
    Case("zero_inflated_poisson", "sqrt", (0.5, 2.5), {"logit_zi": special.logit(0.3)}, {"zi": 0.3}),
    Case("ordinal", "logit", (-2, 2), {"cut_first": CUTS[0], "cut_steps": list(softplus_inverse(np.diff(CUTS)))},
         {"cutpoints": CUTS}),
    Case("categorical", "logit", (-2, 2), n_eta=3),
]

#: One case per family, default link (for the recovery fits).
DEFAULT_CASES = [c for c in CASES if c.link == {"gaussian": "identity", "student_t": "identity",
                                                "binomial": "logit", "poisson": "log",
                                                "negative_binomial": "log", "gamma": "inverse",
                                                "lognormal": "identity", "beta": "logit",
                                                "exponential": "log", "weibull": "log",
                                                "zero_inflated_poisson": "log", "ordinal": "logit",
                                                "categorical": "logit"}[c.family]]


#: True coefficients (intercept, x1, x2); covariates are U(-1, 1).
BETA = {
    "gaussian": [1.0, 0.5, -0.8], "student_t": [1.0, 0.5, -0.8], "binomial": [-0.3, 0.8, -0.5],
    "poisson": [0.5, 0.3, -0.4], "negative_binomial": [0.8, 0.3, -0.4], "gamma": [1.0, 0.2, -0.15],
    "lognormal": [0.5, 0.4, -0.3], "beta": [0.3, 0.6, -0.4], "exponential": [0.5, 0.4, -0.3],
    "weibull": [0.5, 0.4, -0.3], "zero_inflated_poisson": [0.8, 0.4, -0.3],
    "ordinal": [0.0, 0.9, -0.6],  # the intercept is absorbed by the cut points: fixed at 0
    "categorical": [[0.2, -0.3, 0.5], [0.7, 0.0, -0.6], [-0.5, 0.4, 0.3]],  # rows: intercept, x1, x2
}


def aux_tensors(case: Case, dtype=None):
    """The case's unconstrained parameters as float64 tensors."""
    import torch

    return {k: torch.tensor(v, dtype=dtype or torch.float64) for k, v in case.aux.items()}
