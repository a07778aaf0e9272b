"""SHAP values of a fit's predictions through the ``shap`` library.

The explained function is the fit's own ``predict``: it takes rows of the
feature columns (see ``tabmixr.interpret.shapley_features``), rebuilds a data
frame and returns ``fit.predict(frame, ...)`` on the link scale (or the
response scale).  Features are masked by an independent masker over a
background sample, so for each explained row ``x``

    base_value + sum_j phi_j(x) = f(x),    base_value = mean_b f(background_b)

(efficiency, exact for both explainers used here).  For a model linear in
its features this gives the closed form ``phi_j = beta_j (x_j - mean_b x_bj)``
(Lundberg & Lee 2017, "A unified approach to interpreting model
predictions", NeurIPS, sec. 4.1).

Random effects: with ``include_random=False`` (the default) the explained
prediction is the population-level one (``re_form="NA"``) and the grouping
columns are not features.  With ``include_random=True`` the conditional
prediction is explained and each random term's columns (grouping factor,
slope variables) are features; a masked grouping value is a background
row's level.  Columns ``predict`` reads that are not features (the random
terms' columns without ``include_random``, which the neural engine encodes
even at the population level) are held at the first background row's
values.  Levels not seen in training get what ``predict`` gives them
with ``allow_new_levels=True`` (``new_levels=`` is passed on for neural fits).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from tabmixr.errors import DesignError
from tabmixr.interpret.shapley_features import FeatureCoder, context_columns, feature_columns
from tabmixr.results.errors import ArgumentError, UnavailableError

#: Up to this many features, ``algorithm="auto"`` uses the exact explainer
#: (``2^d`` coalitions times the background per explained row).
EXACT_MAX_FEATURES = 8


def shap_values(fit, data: pd.DataFrame, *, background=100, nsamples: int | None = None,
                seed: int = 0, include_random: bool = False, type: str = "link",
                task: int | str = 0, algorithm: str = "auto", new_levels: str | None = None):
    """SHAP values of ``fit.predict`` on the rows of ``data``, one feature per data column.

    Args:
        fit: A ``MixedFit`` whose ``predict(newdata)`` works (any engine; the
            neural engine's multitask and non-Gaussian fits included).
        data: Rows to explain; must hold every column the model reads.
        background: Rows the masker draws absent features from: a data frame,
            or an int ``k`` to sample ``min(k, len(data))`` rows of ``data``
            without replacement (seeded).
        nsamples: Model evaluations per explained row for the permutation
            explainer (shap's ``max_evals``; default ``max(500, 10 d + 1)``);
            ignored by the exact explainer.
        seed: Seed of the background sample and of the permutations: the
            same seed gives the same values.
        include_random: Explain the conditional prediction with the random
            terms' columns as features (see the module docstring), instead of
            the population-level prediction.
        type: ``"link"`` (linear predictor) or ``"response"`` (the family's mean).
        task: Task index or response name of a multitask neural fit.
        algorithm: ``"exact"``, ``"permutation"`` or ``"auto"`` (exact for at
            most ``EXACT_MAX_FEATURES`` features).
        new_levels: Passed to a neural fit's ``predict`` (``"conditional"``,
            ``"zero"``, ``"learned"``); ``None`` keeps its default.

    Returns:
        ``shap.Explanation`` with ``values`` ``(m, d)``, ``base_values``
        ``(m,)``, ``data`` (the coded feature matrix: factor levels as integer
        codes), ``display_data`` (original values) and ``feature_names``.

    Raises:
        ArgumentError: bad ``type``, ``algorithm``, ``background``, ``nsamples``
            or ``task``, a task with more than one output per row, or no
            feature at all (intercept-only fixed part without ``include_random``).
        UnknownColumnError: ``data`` or ``background`` lacks a column the model reads.
        UnavailableError: the fit carries no design encoding, or shap is not installed.
        DesignError: ``data`` is not a non-empty data frame.
    """
    shap = _import_shap()
    _check_arguments(fit, data, type, algorithm, nsamples)
    options = _predict_options(fit, type, task, new_levels)
    features = feature_columns(fit, data, include_random)
    d = len(features)
    if d == 0:
        raise ArgumentError("the prediction depends on no data column (intercept-only fixed part); "
                            "pass include_random=True to explain the random effects")
    if nsamples is not None and algorithm != "exact" and int(nsamples) < 2 * d + 1:
        raise ArgumentError(f"nsamples={nsamples} is too small for {d} features: the permutation "
                            f"explainer needs at least 2 * {d} + 1 = {2 * d + 1}")
    rng = np.random.default_rng(seed)
    base = _background(data, background, rng)
    feature_columns(fit, base, include_random, where="shap_values background")
    coder = FeatureCoder.fit([data, base], features)
    template = base[context_columns(fit, base, features)].iloc[[0]].reset_index(drop=True)
    model = _prediction_function(fit, coder, template, None if include_random else "NA", options)
    X, X_base = coder.encode(data), coder.encode(base)
    model(X[:1])  # fail early, with predict's own message, before shap's machinery
    values, base_values = _explain(shap, model, X, X_base, features, algorithm, nsamples, seed)
    return shap.Explanation(values=values, base_values=base_values, data=X,
                            display_data=coder.display(data), feature_names=features)


def _prediction_function(fit, coder: FeatureCoder, template: pd.DataFrame, re_form, options: dict):
    """``f(X) -> (n,)``: decode the feature rows ``X``, add the held-fixed columns, ``fit.predict``.

    Args:
        fit: The explained fit.
        coder: Coding of the feature columns.
        template: One row of the columns ``predict`` reads that are not features.
        re_form: ``None`` (conditional) or ``"NA"`` (population level).
        options: Further keyword arguments of ``predict`` (``type``, ``task``, ...).

    Raises:
        ArgumentError: (when called) the prediction has more than one value per row.
    """
    def model(X: np.ndarray) -> np.ndarray:
        frame = template.loc[np.zeros(len(X), dtype=int)].reset_index(drop=True)
        frame = frame.assign(**coder.decode(np.asarray(X, dtype=float)))
        out = np.asarray(fit.predict(frame, re_form=re_form, allow_new_levels=True, **options))
        if out.ndim != 1:
            raise ArgumentError(f"task {options.get('task', 0)!r} predicts {out.shape[1]} values per "
                                "row; SHAP values are computed for one output per row only")
        return out.astype(float)

    return model


def _explain(shap, model, X: np.ndarray, X_base: np.ndarray, features: list[str], algorithm: str,
             nsamples, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """SHAP values ``(m, d)`` and base values ``(m,)`` from shap's exact or permutation explainer.

    A row equal to every background row in every feature has all SHAP values
    zero and the background mean as base value; it is set here because shap's
    explainers fail on a row with no varying input.
    """
    m, d = X.shape
    values = np.zeros((m, d))
    base_values = np.full(m, float(np.mean(model(X_base))))
    varying = _varying_rows(X, X_base)
    if not varying.any():
        return values, base_values
    masker = shap.maskers.Independent(X_base, max_samples=len(X_base))
    if algorithm == "exact" or (algorithm == "auto" and d <= EXACT_MAX_FEATURES):
        result = shap.explainers.Exact(model, masker, feature_names=features)(X[varying], silent=True)
    else:
        evals = nsamples if nsamples is not None else max(500, 10 * d + 1)
        explainer = shap.explainers.Permutation(model, masker, feature_names=features, seed=seed)
        result = explainer(X[varying], max_evals=evals, silent=True)
    values[varying] = np.asarray(result.values, dtype=float)
    base_values[varying] = np.asarray(result.base_values, dtype=float).reshape(-1)
    return values, base_values


def _varying_rows(X: np.ndarray, X_base: np.ndarray) -> np.ndarray:
    """Rows that differ from some background row in some feature (NaN counts as differing)."""
    varying = np.zeros(len(X), dtype=bool)
    for j in range(X.shape[1]):
        column = X_base[:, j]
        if not (column == column[0]).all():
            return np.ones(len(X), dtype=bool)
        varying |= ~(X[:, j] == column[0])
    return varying


def _import_shap():
    """The ``shap`` module, imported on first use.

    Raises:
        UnavailableError: ``shap`` is not installed.
    """
    with warnings.catch_warnings():  # shap builds colormaps with soon-deprecated matplotlib calls
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        try:
            import shap
        except ImportError:
            raise UnavailableError("shap_values needs the shap package: pip install 'shap>=0.44'") \
                from None
    return shap


def _check_arguments(fit, data, type: str, algorithm: str, nsamples) -> None:
    """Raise for arguments that need no model evaluation to reject."""
    if not isinstance(data, pd.DataFrame) or len(data) == 0:
        raise DesignError("shap_values: data must be a non-empty pandas DataFrame, got "
                          f"{type_name(data)}")
    if getattr(fit, "encoding", None) is None or not hasattr(fit.encoding, "transform"):
        raise UnavailableError("shap_values needs the fit's design encoding (predict(newdata)), "
                               "which this fit does not carry; refit the model with tabmixr")
    if type not in ("link", "response"):
        raise ArgumentError(f"type must be 'link' or 'response', got {type!r}")
    if algorithm not in ("auto", "exact", "permutation"):
        raise ArgumentError(f"algorithm must be 'auto', 'exact' or 'permutation', got {algorithm!r}")
    if nsamples is not None and int(nsamples) < 1:
        raise ArgumentError(f"nsamples must be a positive integer, got {nsamples!r}")


def _predict_options(fit, type: str, task, new_levels) -> dict:
    """Keyword arguments for ``fit.predict`` beyond ``re_form``/``allow_new_levels``.

    Raises:
        ArgumentError: unknown task, or an option the fit's ``predict`` lacks.
    """
    state = getattr(fit, "model_state", None)
    if state:
        names = [t["name"] for t in state.get("tasks", [])] or [fit.response_name]
        if isinstance(task, str) and task not in names or \
                not isinstance(task, str) and not 0 <= int(task) < len(names):
            raise ArgumentError(f"unknown task {task!r}; the fit's tasks are "
                                f"{', '.join(repr(n) for n in names)} (or an index below {len(names)})")
        options = {"type": type, "task": task}
        return options if new_levels is None else {**options, "new_levels": new_levels}
    if task not in (0, fit.response_name):
        raise ArgumentError(f"unknown task {task!r}; this {fit.method!r} fit has the single task "
                            f"{fit.response_name!r} (index 0)")
    if type == "response" and fit.family != "gaussian":
        raise ArgumentError(f"type='response' is not available for a {fit.method!r} fit of "
                            f"family {fit.family!r}; use type='link'")
    if new_levels is not None:
        raise ArgumentError(f"new_levels applies to neural fits only, not method {fit.method!r}")
    return {}


def _background(data: pd.DataFrame, background, rng: np.random.Generator) -> pd.DataFrame:
    """The background rows: given, or a seeded sample of ``data``."""
    if isinstance(background, pd.DataFrame):
        if len(background) == 0:
            raise ArgumentError("background data frame has no rows")
        return background.reset_index(drop=True)
    if isinstance(background, (bool, np.bool_)) or not isinstance(background, (int, np.integer)) \
            or background < 1:
        raise ArgumentError(f"background must be a data frame or a positive row count, "
                            f"got {background!r}")
    k = min(int(background), len(data))
    rows = np.sort(rng.choice(len(data), size=k, replace=False))
    return data.iloc[rows].reset_index(drop=True)


def type_name(value) -> str:
    """Type of ``value`` as shown in messages."""
    return type(value).__name__
