"""Python drives R: tabmixr::tabmix and lme4::lmer in R, compared with the Python fit.

reticulate cannot start inside an rpy2-embedded R (the process aborts when the
embedded R shuts down), so R runs in an ``Rscript`` subprocess here.  Skipped
when Rscript or the installed R package is missing (``make test`` installs it).
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import tabmixr

R_SCRIPT = r"""
suppressMessages({library(tabmixr); library(lme4)})
data(sleepstudy, package = "lme4")
f <- Reaction ~ Days + (Days | Subject)
out <- list()
for (reml in c(TRUE, FALSE)) {
  tm <- tabmix(f, sleepstudy, method = if (reml) "reml" else "ml")
  lm4 <- lmer(f, sleepstudy, REML = reml)
  vc <- as.data.frame(VarCorr(tm))
  out[[if (reml) "reml" else "ml"]] <- list(
    tabmix = list(fixef = unname(fixef(tm)), names = names(fixef(tm)), sigma = sigma(tm),
                  logLik = as.numeric(logLik(tm)), sdcor = vc$sdcor),
    lme4 = list(fixef = unname(fixef(lm4)), sigma = sigma(lm4), logLik = as.numeric(logLik(lm4)),
                sdcor = as.data.frame(VarCorr(lm4))$sdcor))
}
m0 <- tabmix(Reaction ~ Days + (1 | Subject), sleepstudy)
m1 <- tabmix(f, sleepstudy)
a <- suppressMessages(anova(m0, m1))
out$anova <- list(names = rownames(a), npar = a$npar, logLik = a$logLik, Chisq = a$Chisq[2],
                  p = a[["Pr(>Chisq)"]][2])
out$confint <- unname(confint(m1, "beta_"))
cat(jsonlite::toJSON(out, digits = NA, auto_unbox = TRUE))
"""


def _r_package_ready() -> bool:
    if shutil.which("Rscript") is None:
        return False
    probe = subprocess.run(["Rscript", "-e", "library(tabmixr); library(lme4)"],
                           capture_output=True, text=True)
    return probe.returncode == 0


@pytest.fixture(scope="module")
def r_results():
    if not _r_package_ready():
        pytest.skip("Rscript with the tabmixr R package and lme4 is not available")
    env = {"RETICULATE_PYTHON": sys.executable, "TABMIXR_PYTHON": sys.executable}
    run = subprocess.run(["Rscript", "-e", R_SCRIPT], capture_output=True, text=True,
                         env={**os.environ, **env}, timeout=300)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("method", ["reml", "ml"])
def test_r_fit_equals_python_fit(r_results, method):
    fit = tabmixr.tabmix("Reaction ~ Days + (Days | Subject)", tabmixr.datasets.load("sleepstudy"),
                         method=method)
    ours = r_results[method]["tabmix"]
    assert ours["names"] == list(fit.fixef().index)
    np.testing.assert_allclose(ours["fixef"], fit.fixef().to_numpy(), rtol=1e-10)
    assert ours["sigma"] == pytest.approx(fit.sigma(), rel=1e-10)
    assert ours["logLik"] == pytest.approx(float(fit.loglik()), rel=1e-10)
    np.testing.assert_allclose(ours["sdcor"], fit.varcorr()["sdcor"].to_numpy(dtype=float), rtol=1e-10)


@pytest.mark.parametrize("method", ["reml", "ml"])
def test_r_fit_matches_lme4_in_the_same_session(r_results, method):
    ours, theirs = r_results[method]["tabmix"], r_results[method]["lme4"]
    np.testing.assert_allclose(ours["fixef"], theirs["fixef"], rtol=1e-5)
    assert ours["sigma"] == pytest.approx(theirs["sigma"], rel=1e-4)
    assert ours["logLik"] >= theirs["logLik"] - 1e-6 * abs(theirs["logLik"])
    np.testing.assert_allclose(ours["sdcor"], theirs["sdcor"], rtol=1e-4, atol=1e-4)


def test_r_anova_and_confint_equal_the_python_ones(r_results):
    data = tabmixr.datasets.load("sleepstudy")
    m0 = tabmixr.tabmix("Reaction ~ Days + (1 | Subject)", data)
    m1 = tabmixr.tabmix("Reaction ~ Days + (Days | Subject)", data)
    table = tabmixr.anova(m0=m0, m1=m1)
    ours = r_results["anova"]
    assert ours["names"] == list(table.index)
    np.testing.assert_allclose(ours["npar"], table["npar"].to_numpy())
    np.testing.assert_allclose(ours["logLik"], table["logLik"].to_numpy(), rtol=1e-8)
    assert ours["Chisq"] == pytest.approx(table["Chisq"].iloc[1], rel=1e-6)
    assert ours["p"] == pytest.approx(table["Pr(>Chisq)"].iloc[1], rel=1e-5)
    ci = m1.confint(parm="beta_").to_numpy()
    # jsonlite writes a matrix row by row.
    np.testing.assert_allclose(np.asarray(r_results["confint"]), ci, rtol=1e-10)
