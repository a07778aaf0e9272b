"""kin() against live lme4: its modular interface with Z replaced by Z T (A = T T^T), as pedigreemm."""

import numpy as np
import pandas as pd
import pytest

from kinship_animal_sim import simulate_animal_model
from r_helpers import needs_r, r_json
from tabmixr import tabmix

R_CODE = r"""
local({
  d <- read.csv("%(data)s", stringsAsFactors = FALSE)
  d$animal <- factor(d$animal)
  A <- as.matrix(read.csv("%(A)s", row.names = 1, check.names = FALSE))
  lev <- levels(d$animal)
  T <- t(chol(A[lev, lev]))
  out <- list()
  for (reml in c(TRUE, FALSE)) {
    lf <- lFormula(y ~ sex + (1 | animal), d, REML = reml,
                   control = lmerControl(check.nobs.vs.nlev = "ignore",
                                         check.nobs.vs.nRE = "ignore"))
    lf$reTrms$Zt <- as(Matrix::t(T) %%*%% lf$reTrms$Zt, "CsparseMatrix")
    dfun <- do.call(mkLmerDevfun, lf)
    opt <- optimizeLmer(dfun, control = list(xtol_abs = 1e-12, ftol_abs = 1e-14, maxeval = 10000))
    m <- mkMerMod(environment(dfun), opt, lf$reTrms, fr = lf$fr)
    out[[if (reml) "reml" else "ml"]] <- list(criterion = opt$fval, theta = opt$par,
                                              sigma = sigma(m), fixef = unname(fixef(m)))
  }
  out
})
"""


@needs_r
def test_kin_fit_equals_lme4_with_z_times_t(tmp_path):
    sim = simulate_animal_model(40, 3, 80, h2=0.4, seed=11, repeats=2)
    ids = list(sim.pedigree["id"])
    sim.data.to_csv(tmp_path / "data.csv", index=False)
    pd.DataFrame(sim.A, index=ids, columns=ids).to_csv(tmp_path / "A.csv")
    ref = r_json(R_CODE % {"data": tmp_path / "data.csv", "A": tmp_path / "A.csv"})
    for method in ("reml", "ml"):
        fit = tabmix("y ~ sex + kin(1 | animal, pedigree = ped)", sim.data, method=method,
                     relmat={"ped": sim.pedigree})
        theirs = ref[method]
        assert fit.criterion == pytest.approx(theirs["criterion"], rel=1e-6)
        assert fit.criterion <= theirs["criterion"] + 1e-8 * abs(theirs["criterion"])
        va_lme4 = theirs["sigma"] ** 2 * theirs["theta"] ** 2
        assert fit.terms[0].cov[0, 0] == pytest.approx(va_lme4, rel=1e-4)
        assert fit.sigma ** 2 == pytest.approx(theirs["sigma"] ** 2, rel=1e-4)
        np.testing.assert_allclose(fit.beta, theirs["fixef"], rtol=1e-5)
