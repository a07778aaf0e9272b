"""The amortized Bayesian LMM engine (``method="amortized"``), not registered yet.

Pipeline for one data set: ``realdata.batch_from_design`` -> networks ->
``posterior.sample_posterior`` (flow draws of the global parameters, exact
conditional draws of the random effects) -> ``importance`` (weights against
the exact posterior, PSIS, k-hat, ESS) -> importance resampling -> ``MixedFit``
with the draws in ``extra["draws"]`` (``draws.to_arviz``).

Registration is deliberately left out (see the commented decorator below):
the trained weights are not shipped yet, and ``tabmix(method="amortized")``
must not answer with an untrained network.  Once ``weights/`` holds the
trained model and its conformal calibration, uncomment ``@register_engine``
and import this module in ``tabmixr/engines/__init__.py``.  Until then the
engine can be used explicitly with a ``model=`` (tests, training sessions).
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

import numpy as np
import torch

from tabmixr.design.design import Design
from tabmixr.engines.amortized import realdata
from tabmixr.engines.amortized.conformal import ConformalCalibration
from tabmixr.engines.amortized.importance import K_HAT_THRESHOLD, log_weights, psis
from tabmixr.engines.amortized.networks.model import AmortizedModel, ModelConfig
from tabmixr.engines.amortized.posterior import sample_posterior
from tabmixr.engines.amortized.simulator import Prior
from tabmixr.engines.base import Engine  # , register_engine
from tabmixr.errors import EngineError, SerializationError
from tabmixr.results.fit import MixedFit, RandomTermFit

#: Where the shipped weights will live (inside the package, no network access).
WEIGHTS_FILE = os.path.join(os.path.dirname(__file__), "weights", "amortized.pt")
#: Version of the shipped file's layout.
WEIGHTS_SCHEMA = 1


def export_weights(checkpoint: str, calibration: ConformalCalibration, out: str = WEIGHTS_FILE,
                   meta: dict | None = None) -> str:
    """Write the shipped file from a training checkpoint and its conformal calibration.

    The file holds the model configuration, float32 weights, the calibration
    (``ConformalCalibration.to_dict``) and provenance; no optimizer state.

    Args:
        checkpoint: ``checkpoint.pt`` written by ``train.py``.
        calibration: Result of ``calibration.calibrate_model`` for that model.
        out: Destination (default: the package's ``weights/amortized.pt``).
        meta: Extra provenance (seed, steps, acceptance numbers).

    Returns:
        ``out``.
    """
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    shipped = {"schema": WEIGHTS_SCHEMA, "model_config": state["model_config"],
               "model": {k: v.float() if v.is_floating_point() else v for k, v in state["model"].items()},
               "calibration": calibration.to_dict(),
               "meta": {"step": state["step"], "train_config": state["train_config"],
                        "simulator_config": state["simulator_config"], **(meta or {})}}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    torch.save(shipped, out + ".tmp")
    os.replace(out + ".tmp", out)
    return out


def load_shipped_model(path: str = WEIGHTS_FILE) -> tuple[AmortizedModel, ConformalCalibration]:
    """Load the shipped trained model and its conformal calibration.

    Raises:
        EngineError: no weights at ``path`` (not shipped yet).
        SerializationError: the file has an unknown schema.
    """
    if not os.path.exists(path):
        raise EngineError("method='amortized' has no trained weights in this installation yet "
                          f"(expected {path}); use method='reml' or method='vi'")
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("schema") != WEIGHTS_SCHEMA:
        raise SerializationError(f"amortized weights {path} have schema {state.get('schema')!r}, "
                                 f"expected {WEIGHTS_SCHEMA}; reinstall tabmixr")
    model = AmortizedModel(ModelConfig(**state["model_config"]))
    model.load_state_dict(state["model"])
    return model.eval(), ConformalCalibration.from_dict(state["calibration"])


def systematic_resample(log_w: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """Indices of ``n`` draws resampled with probabilities ``exp(log_w)`` (systematic)."""
    w = torch.exp(log_w - torch.logsumexp(log_w, 0))
    cdf = torch.cumsum(w, 0)
    cdf[-1] = 1.0
    u = (torch.rand(1, generator=generator, dtype=cdf.dtype) + torch.arange(n, dtype=cdf.dtype)) / n
    return torch.searchsorted(cdf, u).clamp(max=len(w) - 1)


def _theta(cov: np.ndarray, sigma: float) -> np.ndarray:
    """lme4's theta (column-wise lower Cholesky of ``cov / sigma^2``)."""
    L = np.linalg.cholesky(cov / sigma ** 2)
    return L.T[np.triu_indices(len(cov))]


# @register_engine  -- not until trained weights ship (module docstring)
class AmortizedEngine(Engine):
    """Amortized posterior (metabeta-style) refined by importance sampling."""

    methods = ("amortized",)
    families = ("gaussian",)

    def check_design(self, design: Design) -> None:
        """Refuse designs outside the trained model (``realdata.check_design``)."""
        realdata.check_design(design)

    def fit(self, design: Design, method: str = "amortized", *, n_draws: int = 1000, seed: int = 0,
            prior: Prior | None = None, model: AmortizedModel | None = None,
            verbose: bool = False, **options: Any) -> MixedFit:
        """Posterior draws for a Gaussian LMM with one random-effect term.

        Args:
            design: The materialized model.
            method: ``"amortized"``.
            n_draws: Flow draws before importance resampling.
            seed: Seed of every random draw.
            prior: Hyperparameters on the data scale (``realdata.default_prior``).
            model: A model to use instead of the shipped weights.
            verbose: Unused (no optimizer).
            **options: Unknown options raise an error.

        Returns:
            ``MixedFit`` with posterior means as estimates, ``extra["draws"]``,
            ``extra["pareto_k"]`` and ``extra["ess"]``.

        Raises:
            EngineError: unsupported design, unknown options, no weights.
        """
        if options:
            raise EngineError(f"unknown option(s) for method {method!r}: {', '.join(options)}")
        t0 = time.perf_counter()
        realdata.check_design(design)
        if model is None:
            model, _calibration = load_shipped_model()   # calibrated intervals: next slice
        prior = prior if prior is not None else realdata.default_prior(design)
        batch = realdata.batch_from_design(design, prior)
        g = torch.Generator().manual_seed(int(seed))
        draws = sample_posterior(model, batch, n_draws, g)
        result = psis(log_weights(draws, prior)[:, 0])
        if result.ess == 0:
            raise EngineError(f"none of the {n_draws} amortized posterior draws has a finite "
                              "importance weight (the data are far outside the trained model); "
                              "use method='reml'")
        messages = []
        if not result.reliable:
            msg = (f"importance sampling is unreliable: Pareto k-hat = {result.pareto_k:.2f} > "
                   f"{K_HAT_THRESHOLD}; increase n_draws or use method='reml'")
            warnings.warn(msg, stacklevel=2)
            messages.append(msg)
        idx = systematic_resample(result.log_weights, n_draws, g)
        return self._to_fit(design, draws, idx, result, messages, time.perf_counter() - t0)

    def _to_fit(self, design, draws, idx, result, messages, seconds) -> MixedFit:
        term = design.terms[0]
        p, q = design.p, term.q
        par = draws.params
        beta = par.beta[idx, 0, :p].numpy()
        sd = par.sd[idx, 0, :q].numpy()
        corr = par.corr[idx, 0, :q, :q].numpy()
        sigma = par.sigma[idx, 0].numpy()
        b = draws.b[idx, 0, :, :q].numpy()
        cov = sd[:, :, None] * corr * sd[:, None, :]
        out = {f"b_{n}": beta[:, j] for j, n in enumerate(design.fixed_names)}
        out.update({f"sd_{term.group}__{c}": sd[:, k] for k, c in enumerate(term.columns)})
        for i in range(q):
            for j in range(i):
                out[f"cor_{term.group}__{term.columns[j]}__{term.columns[i]}"] = corr[:, i, j]
        out["sigma"] = sigma
        out[f"r_{term.group}"] = b
        b_mean = b.mean(0)
        cond_var = np.einsum("slq,slr->lqr", b - b_mean, b - b_mean) / max(len(b) - 1, 1)
        cov_mean = cov.mean(0)
        sigma_mean = float(sigma.mean())
        fitted = design.X @ beta.mean(0) + np.einsum("nq,nq->n", term.X, b_mean[term.codes])
        terms = [RandomTermFit(group=term.group, columns=tuple(term.columns), levels=tuple(term.levels),
                               cov=cov_mean, b=b_mean, cond_var=cond_var, X=term.X, codes=term.codes)]
        fit = MixedFit(method="amortized", family="gaussian", formula=design.spec.formula,
                       response_name=design.response_name, fixed_names=tuple(design.fixed_names),
                       beta=beta.mean(0), vcov_beta=np.atleast_2d(np.cov(beta, rowvar=False)),
                       terms=terms, sigma=sigma_mean, theta=_theta(cov_mean, sigma_mean),
                       criterion=float("nan"), reml=False, nobs=design.n,
                       y=np.asarray(design.y, dtype=float).reshape(-1), X=design.X, weights=None,
                       offset=None, fitted=fitted, encoding=design.encoding, optimizer={},
                       singular=False, messages=messages, fit_time=seconds)
        fit.extra.update({"draws": out, "pareto_k": result.pareto_k, "ess": result.ess,
                          "n_draws": result.n_draws})
        return fit
