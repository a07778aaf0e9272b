"""``MixedFit``: the one result type every engine returns.

A fit holds plain numbers, computed once by the engine; printing and the
accessors never refit.  Field contract (engines fill these): see the
attribute lists of ``RandomTermFit`` and ``MixedFit``.

The public API follows lme4's generics in snake case and lives in small
mixins, one file per concern:

=====================  =====================================================
``accessors.py``       fixef, vcov, sigma, nobs, ngrps, is_singular, deviance,
                       reml_criterion, loglik, aic, bic, df_residual, fitted,
                       residuals, confint
``effects.py``         ranef, varcorr, coef
``predict.py``         predict, simulate
``summary.py``         summary (lme4's ``print(summary(fit))`` layout)
``serialization.py``   to_dict, from_dict, save (and ``load``)
``anova.py``           anova (module level, several fits)
``compare.py``         compare (module level, several fits)
=====================  =====================================================

``sigma``, ``nobs`` and ``fitted`` are both fields and accessors:
``fit.sigma`` is a float and ``fit.sigma()`` returns the same float (see
``callable_fields.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tabmixr.results.accessors import AccessorsMixin
from tabmixr.results.callable_fields import array_field, float_field, int_field
from tabmixr.results.effects import EffectsMixin
from tabmixr.results.predict import PredictMixin
from tabmixr.results.serialization import SerializationMixin
from tabmixr.results.summary import SummaryMixin


@dataclass
class RandomTermFit:
    """Estimates for one random-effect term.

    Attributes:
        group: Grouping factor name as lme4 prints it (``"Subject"``).
        columns: Names of the term's columns (``("(Intercept)", "Days")``).
        levels: Level labels of the grouping factor.
        cov: Estimated covariance matrix of the term's effects, ``(q, q)``,
            on the response scale (``sigma^2 * Lambda Lambda^T`` for LMMs).
        b: Conditional modes (BLUPs), ``(n_levels, q)``.
        cond_var: Conditional covariance of ``b`` per level, ``(n_levels, q, q)``.
        X: Term model matrix on the fitted rows, ``(n, q)``.
        codes: Level index of every fitted row, ``(n,)``.
    """

    group: str
    columns: tuple[str, ...]
    levels: tuple[str, ...]
    cov: np.ndarray
    b: np.ndarray
    cond_var: np.ndarray
    X: np.ndarray
    codes: np.ndarray


@dataclass
class MixedFit(AccessorsMixin, EffectsMixin, PredictMixin, SummaryMixin, SerializationMixin):
    """A fitted mixed model (see module docstring for the contract).

    Attributes:
        method: Engine name (``"reml"``, ``"ml"``, ...).
        family: Outcome family name (``"gaussian"``).
        formula: Formula text as given by the user.
        response_name: Response as written in the formula.
        fixed_names: Names of the fixed effects.
        beta: Fixed-effect estimates, ``(p,)``.
        vcov_beta: Covariance matrix of ``beta``, ``(p, p)``.
        terms: One ``RandomTermFit`` per random-effect term, lme4's order.
        sigma: Residual standard deviation.
        theta: Relative covariance parameters (lme4's ``theta``).
        criterion: REML criterion at the optimum when ``reml`` else the
            deviance (``-2 logLik``).
        reml: Whether the criterion is REML.
        nobs: Number of observations used.
        y: Response on the fitted rows.
        X: Fixed-effects model matrix on the fitted rows.
        weights: Prior weights or ``None``.
        offset: Offset or ``None``.
        fitted: Conditional fitted values (``X beta + Z b + offset``).
        encoding: The design's frozen encoding (for ``predict(newdata)``).
        optimizer: ``OptSummary`` as a plain dict.
        singular: Whether the fit is singular (lme4's ``isSingular``).
        messages: Notes for the user (dropped rows/columns, warnings).
        fit_time: Seconds spent fitting.
        extra: Engine-specific plain data.  Keys the results API reads:
            ``"data_name"``, ``"weights_name"``, ``"offset_name"`` (printed
            by ``summary``), ``"refit_ml"`` (callable returning the ML fit,
            used by ``anova``; not saved), ``"fixed_terms"`` (term label of
            every column of ``X``, for single-model ``anova``).
    """

    method: str
    family: str
    formula: str
    response_name: str
    fixed_names: tuple[str, ...]
    beta: np.ndarray
    vcov_beta: np.ndarray
    terms: list[RandomTermFit]
    sigma: float = float_field()
    theta: np.ndarray
    criterion: float
    reml: bool
    nobs: int = int_field()
    y: np.ndarray
    X: np.ndarray
    weights: np.ndarray | None
    offset: np.ndarray | None
    fitted: np.ndarray = array_field()
    encoding: Any
    optimizer: dict[str, Any]
    singular: bool
    messages: list[str] = field(default_factory=list)
    fit_time: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    model_state: dict[str, Any] | None = None

    def history(self):
        """Training history of a fit that has one (``method="vi"``): one row per epoch.

        Returns:
            ``pandas.DataFrame`` with columns ``stage, epoch, objective, lr,
            kl_weight, val_loss``.

        Raises:
            UnavailableError: the fit was not trained iteratively.
        """
        import pandas as pd

        from tabmixr.results.errors import UnavailableError
        if not self.model_state or "history" not in self.model_state:
            raise UnavailableError(f"history() needs a trained neural fit; method={self.method!r} "
                                   "keeps none")
        return pd.DataFrame(list(self.model_state["history"]))

    def posterior_predict(self, newdata=None, allow_new_levels: bool = False, seed=None):
        """Posterior predictive draws ``(n_draws, n_rows)`` (``amortized.draws.posterior_predict``).

        Raises:
            EngineError: the fit holds no posterior draws.
        """
        from tabmixr.engines.amortized.draws import posterior_predict
        return posterior_predict(self, newdata, allow_new_levels, seed)

    def to_arviz(self):
        """Posterior draws (``extra["draws"]``) as an ``arviz.InferenceData``.

        Raises:
            EngineError: the fit holds no posterior draws.
        """
        from tabmixr.engines.amortized.draws import to_arviz
        return to_arviz(self)
