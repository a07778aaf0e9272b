"""``predict`` and ``simulate`` for ``MixedFit`` (lme4's ``predict.merMod``,
``simulate.merMod`` with ``use.u = FALSE``).

Prediction is ``X beta + offset + sum_t rowwise(X_t[:, S_t] * b_t[codes, S_t])``
where ``S_t`` are the columns of term ``t`` kept by ``re_form``; a row whose
level is new (code ``-1``) gets no random-effect contribution.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tabmixr.errors import NewLevelError
from tabmixr.results.errors import ArgumentError, UnavailableError
from tabmixr.results.reform import select_columns


def _term_contribution(X_t: np.ndarray, codes: np.ndarray, b: np.ndarray,
                       mask: np.ndarray) -> np.ndarray:
    """Row-wise ``X_t[:, mask] . b[codes, mask]``, zero where ``codes == -1``."""
    codes = np.asarray(codes, dtype=int)
    X_t = np.asarray(X_t, dtype=float).reshape(len(codes), -1)
    known = codes >= 0
    out = np.zeros(len(codes))
    if known.any():
        bk = np.asarray(b, dtype=float)[codes[known]][:, mask]
        out[known] = np.einsum("nq,nq->n", X_t[known][:, mask], bk)
    return out


def cov_factor(cov: np.ndarray) -> np.ndarray:
    """A factor ``F`` with ``F F^T = cov`` that tolerates singular ``cov``."""
    cov = np.atleast_2d(np.asarray(cov, dtype=float))
    values, vectors = np.linalg.eigh((cov + cov.T) / 2.0)
    return vectors * np.sqrt(np.clip(values, 0.0, None))


#: Engine name -> ``predict(fit, newdata, re_form, allow_new_levels, **options)`` for fits
#: that carry a ``model_state`` (registered by the engine, e.g. ``method="vi"``).
MODEL_PREDICTORS: dict = {}


def register_predictor(engine: str, function) -> None:
    """Let fits whose ``model_state["engine"] == engine`` predict through ``function``."""
    MODEL_PREDICTORS[engine] = function


def _model_predict(fit, newdata, re_form, allow_new_levels, options):
    import tabmixr.engines  # noqa: F401  (late: registers the engines' predictors)
    engine = fit.model_state.get("engine")
    if engine not in MODEL_PREDICTORS:
        raise UnavailableError(f"no predictor registered for engine {engine!r}")
    return MODEL_PREDICTORS[engine](fit, newdata, re_form, allow_new_levels, **options)


class PredictMixin:
    """``predict`` and ``simulate``."""

    def predict(self, newdata=None, re_form=None, allow_new_levels: bool = False,
                **options) -> np.ndarray:
        """Predictions on the response scale (lme4's ``predict.merMod``).

        Args:
            newdata: Data frame to predict for; ``None`` uses the fitted rows.
            re_form: ``None``: all random effects; ``"NA"``, ``"~0"``,
                ``"0"`` or ``float("nan")``: none (population level); a
                formula string such as ``"~(1|Subject)"``: only the named
                grouping factors and columns.
            allow_new_levels: Let new grouping levels through; they get the
                population-level prediction for that term.
            **options: For fits with a trained model (``method="vi"``):
                ``type`` (``"link"``/``"response"``), ``new_levels``
                (``"conditional"``/``"zero"``/``"learned"``), ``task``; see
                ``tabmixr.engines.vi.predict``.

        Returns:
            Array of predictions, one per row.

        Raises:
            ArgumentError: bad ``re_form``.
            UnavailableError: ``newdata`` given but the fit has no encoding.
            NewLevelError: new levels while ``allow_new_levels`` is False.
        """
        if getattr(self, "model_state", None):
            return _model_predict(self, newdata, re_form, allow_new_levels, options)
        if options:
            raise ArgumentError(f"unknown predict() argument(s) for method {self.method!r}: "
                                f"{', '.join(options)}")
        masks = select_columns(re_form, self.terms)
        beta = np.asarray(self.beta, dtype=float)
        if newdata is None:
            if re_form is None:
                return np.array(self.fitted, dtype=float)
            eta = np.asarray(self.X, dtype=float) @ beta
            if self.offset is not None:
                eta = eta + np.asarray(self.offset, dtype=float)
            for term, mask in zip(self.terms, masks):
                if mask is not None:
                    eta += _term_contribution(term.X, term.codes, term.b, mask)
            return eta
        new = self._encode_newdata(newdata, masks, allow_new_levels)
        eta = np.asarray(new.X, dtype=float) @ beta
        if new.offset is not None:
            eta = eta + np.asarray(new.offset, dtype=float)
        for k, (term, mask) in enumerate(zip(self.terms, masks)):
            if mask is None:
                continue
            new_term = new.terms[k]
            codes = np.asarray(new_term.codes, dtype=int)
            if not allow_new_levels and (codes < 0).any():
                raise NewLevelError(f"newdata has levels of {term.group!r} that the fit has not "
                                    "seen; pass allow_new_levels=True to predict them at the "
                                    "population level")
            eta += _term_contribution(new_term.X, codes, term.b, mask)
        return eta

    def _encode_newdata(self, newdata, masks, allow_new_levels: bool):
        """Encode ``newdata`` with the fit's frozen design encoding."""
        encoding = self.encoding
        if encoding is None or not hasattr(encoding, "transform"):
            raise UnavailableError("predict(newdata=...) needs the design encoding, which this "
                                   "fit does not carry (hand-built fit, or saved without one); "
                                   "refit the model with tabmixr")
        wanted = [k for k, mask in enumerate(masks) if mask is not None]
        return encoding.transform(newdata, terms=wanted, allow_new_levels=allow_new_levels)

    def simulate(self, nsim: int = 1, seed=None) -> pd.DataFrame:
        """Simulate responses from the fitted model (lme4's ``simulate``, ``use.u = FALSE``).

        Each simulation draws new random effects ``b ~ N(0, cov)`` for every
        level of every term and noise ``N(0, sigma^2 / w)``, around
        ``X beta + offset``.

        Args:
            nsim: Number of simulated responses.
            seed: Seed or ``numpy.random.Generator`` (same seed, same draws).

        Returns:
            DataFrame ``nobs x nsim`` with columns ``sim_1, ..., sim_nsim``.

        Raises:
            ArgumentError: ``nsim < 1``.
            UnavailableError: the family is not Gaussian.
        """
        if int(nsim) < 1:
            raise ArgumentError(f"nsim must be a positive integer, got {nsim!r}")
        if self.family != "gaussian":
            raise UnavailableError(f"simulate() supports the gaussian family only, "
                                   f"not {self.family!r}")
        nsim = int(nsim)
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        n = int(self.nobs)
        mean = np.asarray(self.X, dtype=float) @ np.asarray(self.beta, dtype=float)
        if self.offset is not None:
            mean = mean + np.asarray(self.offset, dtype=float)
        sims = np.repeat(mean[:, None], nsim, axis=1)
        for term in self.terms:
            F = cov_factor(term.cov)
            n_levels, q = len(term.levels), F.shape[0]
            b = rng.standard_normal((nsim, n_levels, q)) @ F.T
            X_t = np.asarray(term.X, dtype=float).reshape(n, q)
            codes = np.asarray(term.codes, dtype=int)
            sims += np.einsum("nq,snq->ns", X_t, b[:, codes, :])
        scale = np.full(n, float(self.sigma))
        if self.weights is not None:
            scale = scale / np.sqrt(np.asarray(self.weights, dtype=float))
        sims += rng.standard_normal((n, nsim)) * scale[:, None]
        return pd.DataFrame(sims, columns=[f"sim_{k + 1}" for k in range(nsim)])
