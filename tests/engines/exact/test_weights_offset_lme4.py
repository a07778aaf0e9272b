"""Prior weights and offsets in the exact engine against lme4 run live.

The same columns are built in Python and in R (``w = 1 + (Days %% 3)``).
Tolerances of the foundation issue: criterion equal to or lower than lme4's
within 1e-6 relative, fixed effects 1e-5 relative, standard errors and SDs
1e-4 relative (correlations 1e-4 absolute); logLik/AIC/BIC as the criterion.
The weighted criterion includes lme4's ``- sum(log(w))`` term, so a constant
disagreement would show up in REMLcrit/deviance and logLik.
"""

import numpy as np
import pytest

import tabmixr
from r_helpers import needs_r, r_json

FORMULA = "Reaction ~ Days + (Days | Subject)"

#: (id, formula, lmer's extra arguments, tabmix keyword arguments)
CASES = [
    ("weights", FORMULA, ", weights = w", {"weights": "w"}),
    ("weights-array", FORMULA, ", weights = w", {"weights": "w_array"}),
    ("offset-in-formula", "Reaction ~ Days + offset(Days) + (Days | Subject)", "", {}),
    ("offset-argument", FORMULA, ", offset = Days", {"offset": "Days"}),
    ("weights-and-offsets", "Reaction ~ Days + offset(Days / 2) + (Days | Subject)",
     ", weights = w, offset = 2 * Days", {"weights": "w", "offset": "off2"}),
]

LMER = r"""
d <- sleepstudy
d$w <- 1 + (d$Days %%%% 3)
f <- lmer(%(formula)s, d, REML = %(reml)s%(extra)s)
ll <- logLik(f)
vc <- as.data.frame(VarCorr(f))
list(criterion = if (isREML(f)) REMLcrit(f) else deviance(f),
     fixef = as.list(fixef(f)), se = I(unname(sqrt(diag(as.matrix(vcov(f)))))),
     sigma = sigma(f), sdcor = I(vc$sdcor), is_cor = I(!is.na(vc$var2)),
     logLik = as.numeric(ll), df = attr(ll, "df"), AIC = AIC(f), BIC = BIC(f), nobs = nobs(f))
"""


def _sleep():
    data = tabmixr.datasets.load("sleepstudy").copy()
    data["w"] = 1.0 + (data["Days"] % 3)
    data["off2"] = 2.0 * data["Days"]
    return data


def _fit(formula, kwargs, reml):
    data = _sleep()
    kwargs = dict(kwargs)
    if kwargs.get("weights") == "w_array":
        kwargs["weights"] = data["w"].to_numpy()
    return tabmixr.tabmix(formula, data, method="reml" if reml else "ml", **kwargs)


@needs_r
@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
@pytest.mark.parametrize("case_id,formula,extra,kwargs", CASES, ids=[c[0] for c in CASES])
def test_weights_and_offsets_match_lme4(case_id, formula, extra, kwargs, reml):
    ref = r_json(LMER % {"formula": formula, "reml": "TRUE" if reml else "FALSE", "extra": extra})
    fit = _fit(formula, kwargs, reml)

    ours = fit.reml_criterion() if reml else fit.deviance()
    theirs = ref["criterion"]
    assert ours <= theirs + 1e-6 * abs(theirs), (ours, theirs)
    assert ours == pytest.approx(theirs, rel=1e-6)  # no constant offset (e.g. from sum(log w))

    assert list(fit.fixef().index) == list(ref["fixef"])
    np.testing.assert_allclose(fit.fixef().to_numpy(), list(ref["fixef"].values()), rtol=1e-5)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov().to_numpy())), ref["se"], rtol=1e-4)
    assert fit.sigma() == pytest.approx(ref["sigma"], rel=1e-4)

    sdcor = fit.varcorr()["sdcor"].to_numpy(dtype=float)
    is_cor = np.asarray(ref["is_cor"], dtype=bool)
    want = np.asarray(ref["sdcor"], dtype=float)
    np.testing.assert_allclose(sdcor[~is_cor], want[~is_cor], rtol=1e-4)
    np.testing.assert_allclose(sdcor[is_cor], want[is_cor], atol=1e-4)
    assert fit.nobs() == ref["nobs"]


@needs_r
@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_weighted_loglik_aic_bic_match_lme4(reml):
    ref = r_json(LMER % {"formula": FORMULA, "reml": "TRUE" if reml else "FALSE", "extra": ", weights = w"})
    fit = _fit(FORMULA, {"weights": "w"}, reml)
    ll = fit.loglik()
    assert ll.df == ref["df"]
    assert float(ll) == pytest.approx(ref["logLik"], rel=1e-6)
    assert fit.aic() == pytest.approx(ref["AIC"], rel=1e-6)
    assert fit.bic() == pytest.approx(ref["BIC"], rel=1e-6)


def test_unit_weights_change_nothing():
    data = _sleep()
    plain = tabmixr.tabmix(FORMULA, data, method="ml")
    unit = tabmixr.tabmix(FORMULA, data, method="ml", weights=np.ones(len(data)))
    assert unit.deviance() == pytest.approx(plain.deviance(), rel=1e-10)
    np.testing.assert_allclose(unit.fixef(), plain.fixef(), rtol=1e-8)


def test_offset_argument_equals_offset_in_formula():
    data = _sleep()
    in_formula = tabmixr.tabmix("Reaction ~ Days + offset(Days) + (Days | Subject)", data)
    argument = tabmixr.tabmix(FORMULA, data, offset="Days")
    assert argument.reml_criterion() == pytest.approx(in_formula.reml_criterion(), rel=1e-12)
    np.testing.assert_allclose(argument.fixef(), in_formula.fixef(), rtol=1e-10)
    np.testing.assert_allclose(argument.fitted(), in_formula.fitted(), rtol=1e-10)
