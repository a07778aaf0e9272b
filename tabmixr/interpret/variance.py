"""Variance decomposition, R^2 and ICC of a mixed model (Nakagawa & Schielzeth).

For a fit with fixed part ``X beta``, random-effect terms ``t = 1..T`` with
covariance ``Sigma_t`` over the term's columns ``x_t`` and residual variance
``sigma_e^2`` (latent scale for non-Gaussian families):

* fixed variance ``var_f = var(X beta)`` (sample variance, ``n - 1``);
* each term's variance by Johnson (2014), which covers random slopes:
  ``var_t = mean_i x_ti' Sigma_t x_ti`` (for ``(1 | g)`` it is ``Sigma_t``);
* the distribution-specific variance ``var_e``: ``sigma^2`` for Gaussian
  fits, ``pi^2 / 3`` for the logit link and ``1`` for the probit link
  (Nakagawa, Johnson & Schielzeth 2017, Table 1 -- the observation-level
  latent variance of binary models);
* marginal ``R2_m = var_f / (var_f + var_r + var_e)`` and conditional
  ``R2_c = (var_f + var_r) / (var_f + var_r + var_e)`` with
  ``var_r = sum_t var_t``; adjusted ICC ``var_r / (var_r + var_e)``,
  unadjusted ICC ``var_r / (var_f + var_r + var_e)`` and the ICC of each
  grouping factor ``var_t / (var_r + var_e)``.

These are the quantities of R's ``performance::r2_nakagawa`` / ``icc`` and
``insight::get_variance`` (the tests compare with them live).

References:
    Nakagawa, S. & Schielzeth, H. (2013). A general and simple method for
    obtaining R^2 from generalized linear mixed-effects models. Methods Ecol.
    Evol. 4, 133-142.  Johnson, P. C. D. (2014). Extension of Nakagawa &
    Schielzeth's R^2_GLMM to random slopes models. Methods Ecol. Evol. 5,
    944-946.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tabmixr.errors import EngineError

#: Observation-level latent variance of binary/binomial models by link.
_LATENT_VARIANCE = {("binomial", "logit"): math.pi ** 2 / 3, ("bernoulli", "logit"): math.pi ** 2 / 3,
                    ("binomial", "probit"): 1.0, ("bernoulli", "probit"): 1.0}


@dataclass(frozen=True)
class VarianceDecomposition:
    """Shares of variance of a mixed model on the link (latent) scale.

    Attributes:
        fixed: Variance of the fixed-effects predictor ``X beta``.
        terms: Variance of each random-effect term, keyed by its name (the
            grouping factor, ``"Subject.1"`` etc. when a factor has several terms).
        residual: Distribution-specific (residual) variance.
    """

    fixed: float
    terms: dict[str, float]
    residual: float

    @property
    def random(self) -> float:
        """Sum of the random-effect terms' variances."""
        return float(sum(self.terms.values()))

    @property
    def total(self) -> float:
        """Fixed + random + residual variance."""
        return self.fixed + self.random + self.residual

    @property
    def r2_marginal(self) -> float:
        """Share of the fixed effects (Nakagawa & Schielzeth's marginal R^2)."""
        return self.fixed / self.total

    @property
    def r2_conditional(self) -> float:
        """Share of fixed plus random effects (conditional R^2)."""
        return (self.fixed + self.random) / self.total

    @property
    def icc_adjusted(self) -> float:
        """Random variance over random plus residual variance."""
        return self.random / (self.random + self.residual)

    @property
    def icc_unadjusted(self) -> float:
        """Random variance over the total variance (fixed part included)."""
        return self.random / self.total

    def icc_by_group(self) -> dict[str, float]:
        """ICC of each term: its variance over random plus residual variance."""
        denominator = self.random + self.residual
        return {name: value / denominator for name, value in self.terms.items()}

    def table(self) -> pd.DataFrame:
        """One row per component: variance and its share of the total."""
        names = ["fixed", *self.terms, "residual"]
        values = [self.fixed, *self.terms.values(), self.residual]
        return pd.DataFrame({"variance": values, "share": np.asarray(values) / self.total},
                            index=pd.Index(names, name="component"))


def term_names(groups: list[str]) -> list[str]:
    """Unique term names: the group, with ``.1``, ``.2`` ... for repeated groups."""
    counts = {g: groups.count(g) for g in groups}
    seen: dict[str, int] = {}
    names = []
    for group in groups:
        if counts[group] == 1:
            names.append(group)
        else:
            seen[group] = seen.get(group, 0) + 1
            names.append(f"{group}.{seen[group]}")
    return names


def residual_variance(fit) -> float:
    """Distribution-specific variance of the fit's family on the latent scale.

    Raises:
        EngineError: The family/link has no closed-form latent variance here.
    """
    family = str(fit.family)
    if family == "gaussian":
        return float(fit.sigma) ** 2
    link = str(fit.extra.get("link", "logit" if family in ("binomial", "bernoulli") else ""))
    try:
        return _LATENT_VARIANCE[(family, link)]
    except KeyError:
        known = ", ".join(f"{f} ({k})" for f, k in _LATENT_VARIANCE)
        raise EngineError(f"variance decomposition: no latent residual variance for family {family!r} "
                          f"with link {link!r}; available for gaussian, {known}") from None


def variance_decomposition(fit) -> VarianceDecomposition:
    """Decompose the variance of a fitted mixed model (see module docstring).

    Args:
        fit: A ``MixedFit`` of any engine (its ``X``, ``beta``, ``terms`` and
            ``family`` are used).

    Returns:
        The decomposition; ``.r2_marginal``, ``.icc_adjusted``, ``.table()``...

    Raises:
        EngineError: The family has no latent residual variance (see
            ``residual_variance``).
    """
    eta_fixed = np.asarray(fit.X, dtype=float) @ np.asarray(fit.beta, dtype=float)
    fixed = float(np.var(eta_fixed, ddof=1)) if eta_fixed.size > 1 else 0.0
    names = term_names([term.group for term in fit.terms])
    terms = {}
    for name, term in zip(names, fit.terms):
        x = np.asarray(term.X, dtype=float)
        cov = np.asarray(term.cov, dtype=float)
        terms[name] = float(np.mean(np.einsum("ij,jk,ik->i", x, cov, x)))
    return VarianceDecomposition(fixed=fixed, terms=terms, residual=residual_variance(fit))


def r2_nakagawa(fit) -> dict[str, float]:
    """Marginal and conditional R^2 (``{"marginal": ..., "conditional": ...}``)."""
    parts = variance_decomposition(fit)
    return {"marginal": parts.r2_marginal, "conditional": parts.r2_conditional}


def icc(fit) -> dict[str, float]:
    """Adjusted and unadjusted ICC (``{"adjusted": ..., "unadjusted": ...}``)."""
    parts = variance_decomposition(fit)
    return {"adjusted": parts.icc_adjusted, "unadjusted": parts.icc_unadjusted}
