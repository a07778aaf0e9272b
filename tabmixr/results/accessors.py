"""lme4's scalar and fixed-effect accessors for ``MixedFit``.

Every method reads stored numbers; nothing refits.  Likelihood-based
quantities follow lme4: ``loglik = -criterion / 2`` (the REML criterion for
REML fits), ``df = p + len(theta) + 1`` (the 1 counts ``sigma``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from tabmixr.results.errors import ArgumentError, NotSupportedError, UnavailableError
from tabmixr.results.rformat import format_real


class LogLik(float):
    """A log-likelihood value with lme4's attributes (like R's ``logLik`` class).

    Behaves as a ``float``.

    Attributes:
        df: Number of estimated parameters (``p + len(theta) + 1``).
        nobs: Number of observations.
        reml: Whether the value is the REML log-likelihood.
    """

    def __new__(cls, value: float, df: int, nobs: int, reml: bool):
        obj = super().__new__(cls, value)
        obj.df, obj.nobs, obj.reml = int(df), int(nobs), bool(reml)
        return obj

    def __repr__(self) -> str:
        return f"'log Lik.' {format_real([float(self)], 7)[0]} (df={self.df})"

    def __reduce__(self):
        return (LogLik, (float(self), self.df, self.nobs, self.reml))


RESIDUAL_TYPES = ("response", "working", "pearson", "deviance")


class AccessorsMixin:
    """``fixef``, ``vcov``, ``ngrps``, likelihood summaries, residuals, ``confint``."""

    def fixef(self) -> pd.Series:
        """Fixed-effect estimates (lme4's ``fixef``).

        Returns:
            Series named ``"fixef"`` indexed by ``fixed_names``.
        """
        return pd.Series(np.asarray(self.beta, dtype=float), index=list(self.fixed_names),
                         name="fixef")

    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the fixed effects (lme4's ``vcov``)."""
        names = list(self.fixed_names)
        return pd.DataFrame(np.asarray(self.vcov_beta, dtype=float), index=names, columns=names)

    def ngrps(self) -> dict[str, int]:
        """Number of levels of each distinct grouping factor (lme4's ``ngrps``).

        A factor shared by several terms (``(1|g) + (0+x|g)``) counts once.
        """
        out: dict[str, int] = {}
        for term in self.terms:
            out.setdefault(term.group, len(term.levels))
        return out

    def is_singular(self) -> bool:
        """Whether the fit lies on the boundary (lme4's ``isSingular``)."""
        return bool(self.singular)

    def _uses_scale(self) -> bool:
        return self.family == "gaussian"

    def _npar(self) -> int:
        structured = sum(len(s.get("parameters", {})) for s in self.extra.get("structures", []))
        return len(self.fixed_names) + int(np.size(self.theta)) + int(self._uses_scale()) + structured

    def loglik(self) -> LogLik:
        """Log-likelihood at the optimum (REML log-likelihood for REML fits).

        Returns:
            ``LogLik``: a float ``-criterion / 2`` carrying ``df``, ``nobs``
            and ``reml`` attributes, as lme4's ``logLik``.
        """
        return LogLik(-float(self.criterion) / 2.0, self._npar(), int(self.nobs), self.reml)

    def aic(self) -> float:
        """Akaike's criterion, ``-2 logLik + 2 df`` (lme4's ``AIC``)."""
        ll = self.loglik()
        return -2.0 * ll + 2.0 * ll.df

    def bic(self) -> float:
        """Bayesian criterion, ``-2 logLik + log(nobs) df`` (lme4's ``BIC``)."""
        ll = self.loglik()
        return -2.0 * ll + math.log(ll.nobs) * ll.df

    def df_residual(self) -> int:
        """Residual degrees of freedom, ``nobs - df`` (lme4's ``df.residual``)."""
        return int(self.nobs) - self._npar()

    def deviance(self) -> float:
        """Deviance ``-2 logLik`` of an ML fit.

        Raises:
            UnavailableError: the fit is REML; use ``reml_criterion()`` or
                refit with ``method="ml"``.
        """
        if self.reml:
            raise UnavailableError(
                "deviance() is not defined for a REML fit; use reml_criterion() for the REML "
                "criterion, or refit with method='ml' for the deviance")
        return float(self.criterion)

    def reml_criterion(self) -> float:
        """REML criterion at convergence (lme4's ``REMLcrit``).

        Raises:
            UnavailableError: the fit is not REML; use ``deviance()``.
        """
        if not self.reml:
            raise UnavailableError(
                f"reml_criterion() needs a REML fit but this fit used method={self.method!r}; "
                "use deviance() for -2 logLik")
        return float(self.criterion)

    def residuals(self, type: str = "response", scaled: bool = False) -> np.ndarray:
        """Residuals (lme4's ``residuals.merMod``).

        Args:
            type: ``"response"`` / ``"working"``: ``y - fitted``;
                ``"pearson"`` / ``"deviance"``: ``sqrt(w) * (y - fitted)``
                (equal for the Gaussian family).
            scaled: Divide by ``sigma`` (lme4's ``scaled = TRUE``).

        Raises:
            ArgumentError: unknown ``type``.
        """
        if type not in RESIDUAL_TYPES:
            raise ArgumentError(f"unknown residual type {type!r}; use one of "
                                f"{', '.join(RESIDUAL_TYPES)}")
        r = np.asarray(self.y, dtype=float) - np.asarray(self.fitted, dtype=float)
        if type in ("pearson", "deviance") and self.weights is not None:
            r = r * np.sqrt(np.asarray(self.weights, dtype=float))
        if scaled:
            r = r / float(self.sigma)
        return r

    def _theta_param_names(self) -> list[str]:
        names = [f".sig{k + 1:02d}" for k in range(int(np.size(self.theta)))]
        return names + ([".sigma"] if self._uses_scale() else [])

    def confint(self, parm: str | list[str] | None = None, level: float = 0.95,
                method: str = "wald") -> pd.DataFrame:
        """Confidence intervals (lme4's ``confint.merMod``).

        Args:
            parm: ``None`` (all), ``"beta_"`` (fixed effects), ``"theta_"``
                (``.sig01``... and ``.sigma``) or a list of row names.
            level: Confidence level.
            method: ``"wald"``: normal intervals for fixed effects; the
                variance-parameter rows are ``NaN`` as in lme4.

        Returns:
            DataFrame with columns named like R (``"2.5 %"``, ``"97.5 %"``).

        Raises:
            NotSupportedError: ``method="profile"`` or ``"boot"``.
            ArgumentError: unknown ``method``, ``level`` or ``parm``.
        """
        method = method.lower()
        if method in ("profile", "boot"):
            raise NotSupportedError(f"confint(method={method!r}) is not implemented yet; "
                                    "use method='wald'")
        if method != "wald":
            raise ArgumentError(f"unknown confint method {method!r}; use 'wald'")
        if not 0.0 < level < 1.0:
            raise ArgumentError(f"level must lie strictly between 0 and 1, got {level!r}")
        a = (1.0 - level) / 2.0
        cols = [f"{format_real([100 * p], 3)[0].strip()} %" for p in (a, 1.0 - a)]
        z = stats.norm.ppf(1.0 - a)
        beta = np.asarray(self.beta, dtype=float)
        se = np.sqrt(np.diag(np.asarray(self.vcov_beta, dtype=float)))
        fixed = pd.DataFrame(np.column_stack([beta - z * se, beta + z * se]),
                             index=list(self.fixed_names), columns=cols)
        sig = pd.DataFrame(np.nan, index=self._theta_param_names(), columns=cols)
        table = pd.concat([sig, fixed])
        if parm is None:
            return table
        if parm == "beta_":
            return fixed
        if parm == "theta_":
            return sig
        wanted = [parm] if isinstance(parm, str) else list(parm)
        unknown = [p for p in wanted if p not in table.index]
        if unknown:
            raise ArgumentError(f"unknown parameter(s) {unknown}; known: {list(table.index)}")
        return table.loc[wanted]
