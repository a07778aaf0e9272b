"""Live R (lme4, nlme, mlmRev) for reference numbers in tests.

Two backends evaluate the same R code:

* ``rpy2``: one R embedded in the test process (fast after the first call);
* ``rscript``: one ``Rscript`` subprocess per call, results passed back as JSON.

rpy2 is used when it imports and can load lme4 (checked once, in a
subprocess, so a broken rpy2 cannot take the test process down); otherwise
``Rscript``.  Set ``TABMIXR_R_BACKEND`` to ``rpy2``, ``rscript`` or ``none`` to
force a choice.  Everything R returns is converted to JSON in R
(``jsonlite::toJSON``, 15 significant digits) and parsed here, so both
backends return identical plain Python numbers, lists and dicts.

Usage in a test::

    from r_helpers import lmer_reference, needs_r

    @needs_r
    def test_sleepstudy_fixef():
        ref = lmer_reference("Reaction ~ Days + (Days | Subject)", "sleepstudy")
        assert ref["fixef"]["Days"] == pytest.approx(10.4673, abs=1e-4)
"""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

import pytest

__all__ = ["needs_r", "r_available", "r_backend", "r_json", "lmer_reference", "glmer_reference",
           "SKIP_REASON"]

SKIP_REASON = "live R with lme4 and jsonlite is not available (run `make deps`)"

#: Marker for tests that compare against live R; tests/conftest.py skips them
#: cleanly when R is missing.  Also usable as ``@pytest.mark.needs_r``.
needs_r = pytest.mark.needs_r

R_TIMEOUT_S = 900

# Loaded once per embedded R, prepended to every Rscript call.
R_PRELUDE = r"""
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

tabmixr_to_json <- function(x) {
  as.character(jsonlite::toJSON(x, auto_unbox = TRUE, digits = NA, null = "null", na = "null"))
}

tabmixr_dataset <- function(dataset, package) {
  df <- as.data.frame(do.call("::", list(package, dataset)))
  class(df) <- "data.frame"  # drop nlme's groupedData classes
  df
}

tabmixr_lmer_reference <- function(formula, dataset, package, reml, timing_reps, tight = FALSE) {
  control <- if (tight) lme4::lmerControl(optCtrl = list(ftol_abs = 1e-14, xtol_abs = 1e-12,
                                                          ftol_rel = 1e-15, xtol_rel = 1e-12,
                                                          maxeval = 100000L)) else lme4::lmerControl()
  data <- tabmixr_dataset(dataset, package)
  f <- stats::as.formula(formula)
  warnings_seen <- character(0)
  messages_seen <- character(0)
  fit_once <- function() {
    withCallingHandlers(
      lme4::lmer(f, data = data, REML = reml, control = control),
      warning = function(w) {
        warnings_seen <<- c(warnings_seen, conditionMessage(w))
        invokeRestart("muffleWarning")
      },
      message = function(m) {
        messages_seen <<- c(messages_seen, trimws(conditionMessage(m)))
        invokeRestart("muffleMessage")
      })
  }
  fit <- NULL
  times <- numeric(0)
  # Repeat for a stable median, but stop once 10 s have been spent.
  repeat {
    elapsed <- system.time(fit <- fit_once())[["elapsed"]]
    times <- c(times, elapsed)
    if (length(times) >= timing_reps || sum(times) > 10) break
  }
  warnings_seen <- unique(warnings_seen)
  messages_seen <- unique(messages_seen)

  beta <- lme4::fixef(fit)
  V <- as.matrix(stats::vcov(fit))
  theta <- lme4::getME(fit, "theta")
  ll <- stats::logLik(fit)

  vc <- as.data.frame(lme4::VarCorr(fit))
  varcorr <- lapply(seq_len(nrow(vc)), function(i) list(
    grp = vc$grp[[i]], var1 = vc$var1[[i]], var2 = vc$var2[[i]],
    vcov = vc$vcov[[i]], sdcor = vc$sdcor[[i]]))

  re <- lme4::ranef(fit, condVar = TRUE)
  tidy <- as.data.frame(re)
  ranef <- list(); ranef_columns <- list(); condsd <- list()
  for (g in names(re)) {
    block <- re[[g]]
    columns <- colnames(block)
    ranef_columns[[g]] <- I(columns)
    values <- list(); sds <- list()
    for (level in rownames(block)) {
      values[[level]] <- I(unname(as.numeric(block[level, ])))
      rows <- tidy[tidy$grpvar == g & as.character(tidy$grp) == level, ]
      sds[[level]] <- I(unname(rows$condsd[match(columns, as.character(rows$term))]))
    }
    ranef[[g]] <- values
    condsd[[g]] <- sds
  }

  list(
    formula = formula,
    dataset = paste0(package, "::", dataset),
    REML = reml,
    fixef = as.list(beta),
    se_fixef = as.list(stats::setNames(sqrt(diag(V)), names(beta))),
    vcov_fixef = unname(V),
    theta = I(unname(theta)),
    theta_names = I(names(theta)),
    sigma = stats::sigma(fit),
    REMLcrit = if (reml) lme4::REMLcrit(fit) else NULL,
    deviance = if (reml) NULL else stats::deviance(fit),
    logLik = as.numeric(ll),
    logLik_df = attr(ll, "df"),
    AIC = stats::AIC(fit),
    BIC = stats::BIC(fit),
    varcorr = varcorr,
    ranef = ranef,
    ranef_columns = ranef_columns,
    condsd = condsd,
    nobs = stats::nobs(fit),
    ngrps = as.list(lme4::ngrps(fit)),
    fit_time = stats::median(times),
    fit_times = I(times),
    isSingular = lme4::isSingular(fit),
    warnings = I(warnings_seen),
    messages = I(messages_seen),
    lme4_version = as.character(utils::packageVersion("lme4")),
    r_version = paste(R.version$major, R.version$minor, sep = ".")
  )
}
"""


def _r_string(value: str) -> str:
    """A Python string as an R string literal (JSON escapes are valid R escapes)."""
    return json.dumps(value)


# ----------------------------------------------------------------- backends


def _probe(command: list[str]) -> bool:
    try:
        result = subprocess.run(command, capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


@functools.lru_cache(maxsize=None)
def r_backend() -> str | None:
    """``"rpy2"``, ``"rscript"`` or None (no usable R); decided once per session."""
    forced = os.environ.get("TABMIXR_R_BACKEND", "").strip().lower()
    if forced == "none":
        return None
    load = "suppressPackageStartupMessages({library(lme4); library(jsonlite)})"
    if forced in ("", "rpy2"):
        code = f"import rpy2.robjects as ro; ro.r({load!r})"
        if _probe([sys.executable, "-c", code]):
            return "rpy2"
        if forced == "rpy2":
            return None
    rscript = shutil.which("Rscript")
    if rscript and _probe([rscript, "--vanilla", "-e", load]):
        return "rscript"
    return None


def r_available() -> bool:
    """True when R with lme4 and jsonlite can be reached (through rpy2 or Rscript)."""
    return r_backend() is not None


@functools.lru_cache(maxsize=None)
def _embedded_r():
    import rpy2.robjects as ro

    ro.r(R_PRELUDE)
    return ro


def _evaluate_json(expr: str) -> str:
    """Evaluate an R expression after the prelude; return ``tabmixr_to_json(expr)`` as text."""
    backend = r_backend()
    if backend is None:
        pytest.skip(SKIP_REASON)
    wrapped = f"tabmixr_to_json({{\n{expr}\n}})"
    if backend == "rpy2":
        ro = _embedded_r()
        from rpy2.rinterface_lib.embedded import RRuntimeError

        try:
            return str(ro.r(wrapped)[0])
        except RRuntimeError as error:
            raise RuntimeError(f"R failed: {error}\nexpression:\n{expr}") from error
    with tempfile.TemporaryDirectory(prefix="tabmixr-r-") as tmp:
        script = os.path.join(tmp, "call.R")
        output = os.path.join(tmp, "out.json")
        with open(script, "w", encoding="utf-8") as handle:
            handle.write(R_PRELUDE)
            handle.write(f"\nwriteLines({wrapped}, {_r_string(output)})\n")
        result = subprocess.run(
            [shutil.which("Rscript") or "Rscript", "--vanilla", script],
            capture_output=True, text=True, timeout=R_TIMEOUT_S, check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"R failed:\n{result.stderr[-4000:]}\nexpression:\n{expr}")
        with open(output, encoding="utf-8") as handle:
            return handle.read()


def r_json(expr: str) -> Any:
    """Evaluate R code (lme4 and jsonlite loaded) and return its value as plain Python.

    The value goes through ``jsonlite::toJSON(auto_unbox = TRUE, digits = NA)``:
    length-1 vectors become scalars (wrap in ``I()`` to keep a list), named
    lists become dicts, data frames become lists of row dicts, NA becomes None.
    Skips the calling test when R is not available; raises RuntimeError when
    the R code fails.
    """
    return json.loads(_evaluate_json(expr))


# ------------------------------------------------------------------- lmer


@functools.lru_cache(maxsize=None)
def _lmer_reference_json(formula: str, dataset: str, reml: bool, package: str, timing_reps: int,
                         tight: bool = False) -> str:
    call = (
        f"tabmixr_lmer_reference({_r_string(formula)}, {_r_string(dataset)}, "
        f"{_r_string(package)}, {'TRUE' if reml else 'FALSE'}, {int(timing_reps)}L, "
        f"{'TRUE' if tight else 'FALSE'})"
    )
    return _evaluate_json(call)


def lmer_reference(
    formula: str,
    dataset: str,
    reml: bool = True,
    package_of_dataset: str = "lme4",
    timing_reps: int = 5,
    tight: bool = False,
) -> dict[str, Any]:
    """Fit ``lme4::lmer`` in R on R's own copy of a data set and return plain numbers.

    Args:
        formula: lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
        dataset: R data set name (``"sleepstudy"``); ``"nlme::Orthodont"`` also works.
        reml: REML (True) or ML (False).
        package_of_dataset: R package holding the data set (``"lme4"``, ``"nlme"``,
            ``"mlmRev"``); ignored when ``dataset`` carries a ``pkg::`` prefix.
        timing_reps: the fit is repeated up to this many times (at most 10 s in
            all) and ``fit_time`` is the median elapsed seconds.
        tight: run lme4's optimizer (nloptwrap BOBYQA) to much tighter
            tolerances than its defaults, to tell an early stop of lme4 from
            a disagreement.

    Returns:
        A fresh dict with keys ``fixef`` and ``se_fixef`` (name -> value),
        ``vcov_fixef`` (rows), ``theta`` (list) and ``theta_names``, ``sigma``,
        ``REMLcrit`` (REML fits, else None), ``deviance`` (ML fits, else None),
        ``logLik``, ``logLik_df``, ``AIC``, ``BIC``, ``varcorr`` (rows of
        ``as.data.frame(VarCorr(fit))``: grp, var1, var2, vcov, sdcor; None for NA),
        ``ranef`` (group -> level -> values in ``ranef_columns[group]`` order),
        ``condsd`` (same shape: conditional sds from ``condVar = TRUE``),
        ``nobs``, ``ngrps`` (group -> count), ``fit_time``, ``fit_times``,
        ``isSingular``, ``warnings``, ``messages``, ``lme4_version``, ``r_version``.
        Results are cached per session; each call returns its own copy.

    Raises:
        RuntimeError: R failed (bad formula, unknown data set); the message has R's error.
        pytest.skip.Exception: R is not available.
    """
    package, _, name = dataset.rpartition("::")
    text = _lmer_reference_json(formula, name, bool(reml), package or package_of_dataset, timing_reps,
                                bool(tight))
    return copy.deepcopy(json.loads(text))


# ------------------------------------------------------------------ glmer


@functools.lru_cache(maxsize=None)
def _glmer_reference_json(formula: str, dataset: str, package: str, family: str) -> str:
    expr = (
        f"data <- tabmixr_dataset({_r_string(dataset)}, {_r_string(package)})\n"
        f"fit <- suppressWarnings(lme4::glmer(stats::as.formula({_r_string(formula)}), data = data, "
        f"family = {family}))\n"
        "vc <- as.data.frame(lme4::VarCorr(fit))\n"
        "list(fixef = as.list(lme4::fixef(fit)),\n"
        "     se_fixef = as.list(sqrt(diag(as.matrix(stats::vcov(fit))))),\n"
        "     sd = as.list(stats::setNames(vc$sdcor[is.na(vc$var2)], vc$grp[is.na(vc$var2)])),\n"
        "     deviance = stats::deviance(fit), logLik = as.numeric(stats::logLik(fit)))"
    )
    return _evaluate_json(expr)


def glmer_reference(formula: str, dataset: str, family: str,
                    package_of_dataset: str = "lme4") -> dict[str, Any]:
    """Fit ``lme4::glmer`` (Laplace) live on R's copy of a data set.

    Args:
        formula: lme4 formula.
        dataset: R data set name (``"cbpp"``); ``"pkg::name"`` also works.
        family: R family expression, e.g. ``"binomial"`` or ``"poisson(link = 'log')"``.
        package_of_dataset: Package holding the data set.

    Returns:
        Dict with ``fixef`` and ``se_fixef`` (name -> value), ``sd`` (group ->
        random-intercept SD, first row per group), ``deviance``, ``logLik``.
        Cached per session; each call returns its own copy.

    Raises:
        RuntimeError: R failed.
        pytest.skip.Exception: R is not available.
    """
    package, _, name = dataset.rpartition("::")
    text = _glmer_reference_json(formula, name, package or package_of_dataset, family)
    return copy.deepcopy(json.loads(text))
