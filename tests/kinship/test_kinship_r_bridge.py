"""relmat= from R: tabmixr::tabmix(..., relmat = list(ped = ped)) gives the Python fit."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from kinship_animal_sim import simulate_animal_model
from tabmixr import tabmix
from tabmixr.bridge.calls import relmat_from_r

R_SCRIPT = r"""
suppressMessages(library(tabmixr))
args <- commandArgs(trailingOnly = TRUE)
ped <- read.csv(args[1], na.strings = "", stringsAsFactors = FALSE)
d <- read.csv(args[2], stringsAsFactors = FALSE)
fit <- tabmix(y ~ sex + kin(1 | animal, pedigree = ped), d, relmat = list(ped = ped))
ids <- unique(d$animal)
K <- as.data.frame(diag(length(ids))); rownames(K) <- colnames(K) <- ids
eye <- tabmix(y ~ sex + kin(1 | animal, matrix = K), d, relmat = list(K = K))
cat(jsonlite::toJSON(list(sdcor = as.data.frame(VarCorr(fit))$sdcor,
                          logLik = as.numeric(logLik(fit)),
                          eye = as.numeric(logLik(eye))), digits = NA))
"""


def test_r_na_parents_become_unknown():
    ped = pd.DataFrame({"id": ["a", "b", "c"], "sire": ["NA", "NA", "a"], "dam": ["NA", "NA", "b"]})
    clean = relmat_from_r({"ped": ped, "K": np.eye(2)})
    assert clean["ped"]["sire"].tolist() == [None, None, "a"]
    assert clean["ped"]["dam"].tolist() == [None, None, "b"]
    assert ped["sire"].tolist() == ["NA", "NA", "a"]  # the input is left alone
    np.testing.assert_array_equal(clean["K"], np.eye(2))


def _r_ready() -> bool:
    if shutil.which("Rscript") is None:
        return False
    probe = subprocess.run(["Rscript", "-e", "library(tabmixr); library(jsonlite)"],
                           capture_output=True, text=True)
    return probe.returncode == 0


def test_r_kin_fit_equals_python_fit(tmp_path):
    if not _r_ready():
        pytest.skip("Rscript with the tabmixr R package is not available")
    sim = simulate_animal_model(30, 3, 40, h2=0.4, seed=3, repeats=2)
    sim.pedigree.to_csv(tmp_path / "ped.csv", index=False)
    sim.data.to_csv(tmp_path / "data.csv", index=False)
    env = {**os.environ, "RETICULATE_PYTHON": sys.executable, "TABMIXR_PYTHON": sys.executable}
    run = subprocess.run(["Rscript", "-e", R_SCRIPT, str(tmp_path / "ped.csv"),
                          str(tmp_path / "data.csv")], capture_output=True, text=True, env=env,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert "PedigreeWarning" not in run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    fit = tabmix("y ~ sex + kin(1 | animal, pedigree = ped)", sim.data, relmat={"ped": sim.pedigree})
    np.testing.assert_allclose(out["sdcor"], fit.varcorr()["sdcor"].to_numpy(dtype=float), rtol=1e-8)
    assert out["logLik"][0] == pytest.approx(float(fit.loglik()), rel=1e-10)
    iid = tabmix("y ~ sex + (1 | animal)", sim.data)
    assert out["eye"][0] == pytest.approx(float(iid.loglik()), rel=1e-8)
