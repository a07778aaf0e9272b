"""The amortized Bayesian LMM engine (``method="amortized"``).

Pipeline for one data set: ``realdata.batch_from_design`` -> networks ->
the importance-sampling proposal (``laplace.sample_mixture_posterior``: the
flow mixed with a Student-t at the exact posterior mode, plus adaptive
rounds where the weights degenerate, ``adaptive.py``; or the flow alone) ->
``importance`` (weights against the exact posterior, PSIS, k-hat, ESS) ->
importance resampling -> random effects from their exact conditional for
the kept draws -> ``MixedFit`` with the draws in ``extra["draws"]``
(``draws.to_arviz``).

The shipped weights (``weights/amortized.pt``, written by
``calibration.py``) hold the trained model and its conformal calibration
(pooled and per k-hat class); a fit's ``extra["intervals"]`` holds the
calibrated central intervals of its class, which ``posterior_summary``
reports when k-hat > 0.7.  Without the file a fit raises an
``EngineError`` that says so; ``model=`` fits with any model (tests,
training sessions), uncalibrated.
"""

from __future__ import annotations

import functools
import os
import time
import warnings
from typing import Any

import numpy as np
import torch

from tabmixr.design.design import Design
from tabmixr.engines.amortized import realdata
from tabmixr.engines.amortized.conformal import ConformalCalibration
from tabmixr.engines.amortized.importance import K_HAT_THRESHOLD, log_weights, psis, reliability_class
from tabmixr.engines.amortized.laplace import sample_mixture_posterior
from tabmixr.engines.amortized.likelihood import index_stats
from tabmixr.engines.amortized.networks.model import AmortizedModel, ModelConfig
from tabmixr.engines.amortized.parameters import Q_MAX, GlobalParams
from tabmixr.engines.amortized.posterior import sample_effects, sample_posterior
from tabmixr.engines.amortized.priors import make_prior, stack_priors
from tabmixr.engines.amortized.rao_blackwell import WeightedPosterior, weighted_posterior
from tabmixr.engines.amortized.simulator import Batch, Prior
from tabmixr.engines.base import Engine, register_engine
from tabmixr.errors import EngineError, SerializationError
from tabmixr.results.fit import MixedFit, RandomTermFit

#: The shipped weights (inside the package, no network access); the environment
#: variable ``TABMIXR_AMORTIZED_WEIGHTS`` points to another file (a retrained model).
WEIGHTS_FILE = os.environ.get("TABMIXR_AMORTIZED_WEIGHTS") or \
    os.path.join(os.path.dirname(__file__), "weights", "amortized.pt")
#: Importance-sampling proposals of a fit.
PROPOSALS = ("mixture", "flow")
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


def load_shipped_model(path: str | None = None) -> tuple[AmortizedModel, ConformalCalibration]:
    """Load the shipped trained model and its conformal calibration.

    Args:
        path: The weights file (default ``WEIGHTS_FILE``).

    Raises:
        EngineError: no weights at ``path`` (not shipped yet).
        SerializationError: the file has an unknown schema.
    """
    path = path or WEIGHTS_FILE
    if not os.path.exists(path):
        raise EngineError("method='amortized' has no trained weights in this installation yet "
                          f"(expected {path}); use method='reml' or method='vi'")
    return _load_cached(os.path.abspath(path), os.stat(path).st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, _mtime_ns: int) -> tuple[AmortizedModel, ConformalCalibration]:
    """``load_shipped_model`` once per file version (the model is read-only in inference)."""
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


def calibration_names(design: Design) -> dict[str, str]:
    """Map the fit's draw names (``b_x``, ``sd_g__x``, ``cor_g__x__z``, ``sigma``) to ``PARAM_NAMES``."""
    term = design.terms[0]
    names = {f"b_{n}": f"beta[{j}]" for j, n in enumerate(design.fixed_names)}
    names.update({f"sd_{term.group}__{c}": f"sd[{k}]" for k, c in enumerate(term.columns)})
    rows, cols = torch.tril_indices(Q_MAX, Q_MAX, offset=-1).tolist()
    for k, (i, j) in enumerate(zip(rows, cols)):
        if i < term.q:
            names[f"cor_{term.group}__{term.columns[j]}__{term.columns[i]}"] = f"cor[{k}]"
    names["sigma"] = "sigma"
    return names


def calibrated_intervals(weighted: WeightedPosterior, design: Design, calibration: ConformalCalibration,
                         klass: str | None = None) -> dict:
    """Conformally calibrated central intervals of every global parameter.

    Args:
        weighted: The fit's weighted posterior (``rao_blackwell.WeightedPosterior``;
            its quantiles and SDs are what the calibration corrects, as in
            ``calibration.posterior_intervals``).
        design: The design (names of the columns and the term).
        calibration: The shipped calibration.
        klass: The fit's Mondrian class (``importance.reliability_class`` of
            its k-hat); ``None``: pooled corrections.

    Returns:
        ``{name: {level: (lower, upper)}}`` for ``level = 1 - alpha`` over the
        calibrated alphas; endpoints are clipped to the parameter's range
        (SDs at 0, correlations at +-1), which never loses coverage.
    """
    alphas = list(calibration.alphas)
    probs = [a / 2 for a in alphas] + [1 - a / 2 for a in alphas]
    summary = weighted.quantiles(probs)
    out = {}
    for name, cal_name in calibration_names(design).items():
        r = summary[name]
        levels = {}
        for j, alpha in enumerate(alphas):
            lo, hi = calibration.adjust(cal_name, alpha, r["q"][j], r["q"][len(alphas) + j], r["sd"],
                                        klass=klass)
            lo, hi = float(lo), float(hi)
            if name.startswith("sd_") or name == "sigma":
                lo = max(lo, 0.0)
            if name.startswith("cor_"):
                lo, hi = max(lo, -1.0), min(hi, 1.0)
            levels[round(1 - alpha, 10)] = (lo, hi)
        out[name] = levels
    return out


def global_draws(design: Design, draws, idx: torch.Tensor, i: int) -> dict[str, np.ndarray]:
    """brms-named draws ``idx`` of data set ``i``'s global parameters (``b_``, ``sd_``, ``cor_``, ``sigma``)."""
    term = design.terms[0]
    q, par = term.q, draws.params
    beta = par.beta[idx, i, :design.p].numpy()
    sd = par.sd[idx, i, :q].numpy()
    corr = par.corr[idx, i, :q, :q].numpy()
    out = {f"b_{n}": beta[:, j] for j, n in enumerate(design.fixed_names)}
    out.update({f"sd_{term.group}__{c}": sd[:, k] for k, c in enumerate(term.columns)})
    for a in range(q):
        for c in range(a):
            out[f"cor_{term.group}__{term.columns[c]}__{term.columns[a]}"] = corr[:, a, c]
    out["sigma"] = par.sigma[idx, i].numpy()
    return out


def weighted_summary_of(design: Design, draws, result, prior: Prior, i: int) -> WeightedPosterior:
    """The ``WeightedPosterior`` of data set ``i``: all its draws by brms name with their weights."""
    named = global_draws(design, draws, torch.arange(draws.params.sigma.shape[0]), i)
    return weighted_posterior(draws, i, result.log_weights, prior, named,
                              [f"b_{n}" for n in design.fixed_names])


def sensitivity_table(design: Design, draws, results, prior: Prior):
    """Posterior summary under every prior set: rows ``(prior, parameter)``.

    Columns ``Estimate, Est.Error, l-95% CI, u-95% CI`` (importance-weighted
    draws, fixed effects Rao-Blackwellized, not calibrated: the calibration
    holds for the simulator's priors) and each prior set's Pareto ``k_hat``
    and ``ESS``.
    """
    import pandas as pd

    rows = {}
    for i, res in enumerate(results):
        for name, r in weighted_summary_of(design, draws, res, prior, i).table(0.95).items():
            rows[(i, name)] = {"Estimate": r["Estimate"], "Est.Error": r["Est.Error"],
                               "l-95% CI": r["lower"], "u-95% CI": r["upper"],
                               "k_hat": res.pareto_k, "ESS": res.ess}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["prior", "parameter"])
    return table


def repeat_batch(batch: Batch, prior: Prior) -> Batch:
    """A one-data-set batch repeated once per prior set of ``prior`` (batch shape ``(k,)``)."""
    k = prior.tau_e.shape[0]

    def rep(v):
        return v.expand(k, *v.shape[1:]).contiguous()
    return Batch(X=rep(batch.X), y=rep(batch.y), row_mask=rep(batch.row_mask),
                 group_mask=rep(batch.group_mask), fixed_mask=rep(batch.fixed_mask),
                 re_mask=rep(batch.re_mask), re_cols=rep(batch.re_cols), prior=prior)


@register_engine
class AmortizedEngine(Engine):
    """Amortized posterior (metabeta-style) refined by importance sampling."""

    methods = ("amortized",)
    families = ("gaussian",)

    def check_design(self, design: Design) -> None:
        """Refuse designs outside the trained model (``realdata.check_design``)."""
        realdata.check_design(design)

    def fit(self, design: Design, method: str = "amortized", *, n_draws: int = 1000, seed: int = 0,
            prior: Prior | None = None, model: AmortizedModel | None = None,
            proposal: str = "mixture", verbose: bool = False, threads: int | None = None,
            **options: Any) -> MixedFit:
        """Posterior draws for a Gaussian LMM with one random-effect term.

        Args:
            design: The materialized model.
            method: ``"amortized"``.
            n_draws: Flow draws before importance resampling.
            seed: Seed of every random draw.
            prior: Priors on the data scale: ``None`` (defaults), a dict by
                class or a ``Prior`` (``priors.make_prior``), or a list of
                them: the fit uses the first, and ``extra["prior_sensitivity"]``
                summarizes the posterior under each (one network call).
            model: A model to use instead of the shipped weights.
            proposal: ``"mixture"`` (the flow mixed with a Laplace-t
                component at the exact posterior mode, ``laplace.py``) or
                ``"flow"`` (the flow alone) as the importance-sampling proposal.
            verbose: Unused (no optimizer).
            threads: torch threads during the fit (restored afterwards);
                ``None`` (default) keeps torch's setting.  A fit's tensors are
                small, so on 2 idle cores 1 and 2 threads take about the same
                time (sleepstudy, 2026-12-04); when the cores are busy
                with other work, ``threads=1`` avoids the threads'
                synchronization stalls.
            **options: Unknown options raise an error.

        Returns:
            ``MixedFit`` with posterior means as estimates, ``extra["draws"]``,
            ``extra["pareto_k"]``, ``extra["ess"]``, ``extra["n_draws"]`` (proposal
            draws weighted) and ``extra["adaptive_rounds"]`` (``adaptive.py``).

        Raises:
            EngineError: unsupported design, unknown options, no weights.
        """
        previous = torch.get_num_threads()
        if threads is not None:
            if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
                raise EngineError(f"threads={threads!r} must be a positive integer or None")
            torch.set_num_threads(threads)
        try:
            return self._fit(design, method, n_draws=n_draws, seed=seed, prior=prior, model=model,
                             proposal=proposal, **options)
        finally:
            torch.set_num_threads(previous)

    def _fit(self, design: Design, method: str, *, n_draws: int, seed: int, prior, model,
             proposal: str, **options: Any) -> MixedFit:
        """``fit`` with torch's threads already set (arguments as ``fit``)."""
        if options:
            raise EngineError(f"unknown option(s) for method {method!r}: {', '.join(options)}")
        if proposal not in PROPOSALS:
            raise EngineError(f"proposal={proposal!r} is not one of {', '.join(map(repr, PROPOSALS))}")
        t0 = time.perf_counter()
        realdata.check_design(design)
        specs = list(prior) if isinstance(prior, (list, tuple)) else [prior]
        if not specs:
            raise EngineError("prior=[] holds no prior; give a dict, a list of dicts or None")
        priors = [make_prior(design, p) for p in specs]
        calibration = None
        if model is None:
            model, calibration = load_shipped_model()
        stacked = stack_priors(priors)
        batch = realdata.batch_from_design(design, priors[0])
        if len(priors) > 1:
            batch = repeat_batch(batch, stacked)
        g = torch.Generator().manual_seed(int(seed))
        if proposal == "mixture":
            draws = sample_mixture_posterior(model, batch, n_draws, g)
        else:
            draws = sample_posterior(model, batch, n_draws, g, with_effects=False)
        lw = log_weights(draws, batch.prior)          # the stacked priors (repeat_batch)
        results = [psis(lw[:, i]) for i in range(len(priors))]
        result = results[0]
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
        # random effects only for the kept draws, from their exact conditional
        uniq, copy = torch.unique(idx, return_inverse=True)
        kept = GlobalParams(*(getattr(draws.params, f)[uniq, :1] for f in ("beta", "sd", "L_corr", "sigma")))
        b = sample_effects(kept, index_stats(draws.stats, 0), g, index=copy)[:, 0]   # fresh b | theta per copy
        weighted = weighted_summary_of(design, draws, result, batch.prior, 0)
        fit = self._to_fit(design, draws, idx, b, result, weighted, messages, time.perf_counter() - t0)
        fit.extra["adaptive_rounds"] = draws.rounds
        if calibration is not None:
            fit.extra["intervals"] = calibrated_intervals(weighted, design, calibration,
                                                          reliability_class(result.pareto_k))
        if len(priors) > 1:
            fit.extra["prior_sensitivity"] = sensitivity_table(design, draws, results, batch.prior)
        return fit

    def _to_fit(self, design, draws, idx, b, result, weighted, messages, seconds) -> MixedFit:
        term = design.terms[0]
        q = term.q
        out = global_draws(design, draws, idx, 0)
        b = b[:, :, :q].numpy()
        out[f"r_{term.group}"] = b
        b_mean = b.mean(0)
        cond_var = np.einsum("slq,slr->lqr", b - b_mean, b - b_mean) / max(len(b) - 1, 1)
        # estimates from the weighted draws (fixed effects Rao-Blackwellized), not the resample
        beta_mean, vcov = weighted.beta_mean, weighted.beta_cov
        cov_mean = np.einsum("s,sij->ij", weighted.weights, draws.params.cov[:, 0, :q, :q].numpy())
        sigma_mean = weighted.mean("sigma")
        fitted = design.X @ beta_mean + np.einsum("nq,nq->n", term.X, b_mean[term.codes])
        terms = [RandomTermFit(group=term.group, columns=tuple(term.columns), levels=tuple(term.levels),
                               cov=cov_mean, b=b_mean, cond_var=cond_var, X=term.X, codes=term.codes)]
        fit = MixedFit(method="amortized", family="gaussian", formula=design.spec.formula,
                       response_name=design.response_name, fixed_names=tuple(design.fixed_names),
                       beta=beta_mean, vcov_beta=np.atleast_2d(vcov),
                       terms=terms, sigma=sigma_mean, theta=_theta(cov_mean, sigma_mean),
                       criterion=float("nan"), reml=False, nobs=design.n,
                       y=np.asarray(design.y, dtype=float).reshape(-1), X=design.X, weights=None,
                       offset=None, fitted=fitted, encoding=design.encoding, optimizer={},
                       singular=False, messages=messages, fit_time=seconds)
        fit.extra.update({"draws": out, "pareto_k": result.pareto_k, "ess": result.ess,
                          "n_draws": result.n_draws, "weighted_posterior": weighted})
        return fit
