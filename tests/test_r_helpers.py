"""The live-R reference helper itself (tests/r_helpers.py)."""

from __future__ import annotations

import pytest

from r_helpers import lmer_reference, needs_r, r_json


@needs_r
def test_sleepstudy_reference_numbers():
    ref = lmer_reference("Reaction ~ Days + (Days | Subject)", "sleepstudy", reml=True)
    assert ref["fixef"]["(Intercept)"] == pytest.approx(251.405, abs=1e-3)
    assert ref["fixef"]["Days"] == pytest.approx(10.467, abs=1e-3)
    assert ref["se_fixef"]["Days"] == pytest.approx(1.546, abs=1e-3)
    assert ref["sigma"] == pytest.approx(25.592, abs=1e-3)
    assert ref["REMLcrit"] == pytest.approx(1743.6, abs=0.1)
    assert ref["deviance"] is None
    assert len(ref["theta"]) == 3
    assert ref["nobs"] == 180 and ref["ngrps"] == {"Subject": 18}
    assert ref["isSingular"] is False
    assert ref["ranef_columns"]["Subject"] == ["(Intercept)", "Days"]
    assert list(ref["ranef"]["Subject"])[:2] == ["308", "309"]
    assert len(ref["ranef"]["Subject"]["308"]) == 2
    assert all(sd > 0 for sd in ref["condsd"]["Subject"]["308"])
    assert [row["grp"] for row in ref["varcorr"]] == ["Subject", "Subject", "Subject", "Residual"]
    assert ref["varcorr"][0]["var2"] is None
    assert ref["fit_time"] > 0 and len(ref["fit_times"]) >= 1


@needs_r
def test_ml_fit_and_nlme_dataset():
    ref = lmer_reference("distance ~ age + (1 | Subject)", "Orthodont", reml=False,
                         package_of_dataset="nlme")
    assert ref["REMLcrit"] is None and ref["deviance"] == pytest.approx(-2 * ref["logLik"])
    # Orthodont$Subject is an ordered factor whose levels are not alphabetical.
    assert list(ref["ranef"]["Subject"])[:3] == ["M16", "M05", "M02"]
    assert lmer_reference("distance ~ age + (1 | Subject)", "nlme::Orthodont", reml=False)["fixef"] == ref["fixef"]


@needs_r
def test_cached_results_are_independent_copies():
    first = lmer_reference("Yield ~ 1 + (1 | Batch)", "Dyestuff")
    first["fixef"]["(Intercept)"] = 0.0
    assert lmer_reference("Yield ~ 1 + (1 | Batch)", "Dyestuff")["fixef"]["(Intercept)"] == pytest.approx(1527.5)


@needs_r
def test_r_errors_surface_as_runtime_error():
    with pytest.raises(RuntimeError, match="R failed"):
        r_json("stop('boom from R')")


@needs_r
def test_r_json_roundtrip():
    assert r_json("list(a = 1L, b = I(2.5), c = NA, d = 'x')") == {"a": 1, "b": [2.5], "c": None, "d": "x"}
