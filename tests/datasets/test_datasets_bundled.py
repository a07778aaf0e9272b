"""Bundled data sets: they load with R's shapes, types and factor level order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from r_helpers import needs_r, r_json
from tabmixr import datasets
from tabmixr.errors import DatasetError, TabmixError

# nrow in R (lme4 1.1-31, nlme 3.1-162, mlmRev 1.0-8).
EXPECTED_ROWS = {
    "sleepstudy": 180, "InstEval": 73421, "Penicillin": 144, "Dyestuff": 30, "Pastes": 60,
    "cake": 270, "cbpp": 56, "grouseticks": 403, "Orthodont": 108, "Oats": 72, "Machines": 54,
    "ergoStool": 36, "Rail": 18, "MathAchieve": 7185, "Exam": 4059, "Gcsemv": 1905,
    "Chem97": 31022, "ScotsSec": 3435,
}


def test_names_lists_every_bundled_dataset():
    assert sorted(datasets.names()) == sorted(EXPECTED_ROWS)


@pytest.mark.parametrize("name", sorted(EXPECTED_ROWS))
def test_loads_with_sidecar_types(name):
    frame = datasets.load(name)
    meta = datasets.info(name)
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == EXPECTED_ROWS[name] == meta["nrow"]
    assert list(frame.columns) == [c["name"] for c in meta["columns"]]
    for column in meta["columns"]:
        values = frame[column["name"]]
        kind = column["type"]
        if kind in ("factor", "ordered"):
            assert isinstance(values.dtype, pd.CategoricalDtype), column["name"]
            assert list(values.cat.categories) == column["levels"]
            assert values.cat.ordered == (kind == "ordered")
        elif kind == "numeric":
            assert values.dtype == np.float64
        elif kind == "integer":
            assert pd.api.types.is_integer_dtype(values.dtype)


def test_sleepstudy_values():
    sleep = datasets.load("sleepstudy")
    assert list(sleep.columns) == ["Reaction", "Days", "Subject"]
    assert sleep["Reaction"].iloc[:3].tolist() == [249.56, 258.7047, 250.8006]
    assert sleep["Subject"].cat.categories[:3].tolist() == ["308", "309", "310"]
    assert not sleep["Subject"].cat.ordered


def test_ordered_factors_keep_r_level_order():
    subject = datasets.load("Orthodont")["Subject"]
    assert subject.cat.ordered
    assert subject.cat.categories[:4].tolist() == ["M16", "M05", "M02", "M11"]
    assert subject.cat.categories[-1] == "F11"
    temperature = datasets.load("cake")["temperature"]
    assert temperature.cat.ordered
    assert temperature.cat.categories.tolist() == ["175", "185", "195", "205", "215", "225"]


def test_missing_values_survive():
    gcse = datasets.load("Gcsemv")
    assert gcse["written"].isna().sum() == 202
    assert gcse["course"].isna().sum() == 180


def test_load_returns_independent_copies():
    first = datasets.load("Dyestuff")
    first.loc[0, "Yield"] = -1.0
    assert datasets.load("Dyestuff").loc[0, "Yield"] == 1545.0


def test_package_prefix_is_accepted_and_checked():
    assert datasets.load("nlme::Rail").shape == (18, 2)
    with pytest.raises(DatasetError, match="comes from R package 'nlme'"):
        datasets.load("lme4::Rail")


def test_unknown_name_lists_available_names():
    with pytest.raises(DatasetError, match="unknown dataset 'sleeptudy'.*sleepstudy") as caught:
        datasets.load("sleeptudy")
    assert isinstance(caught.value, TabmixError)
    with pytest.raises(DatasetError):
        datasets.info("nope")


def test_files_are_small():
    sizes = {p.name: p.stat().st_size for p in datasets.DATA_DIR.glob("*.csv.gz")}
    assert sizes["InstEval.csv.gz"] < 1024**2
    assert max(sizes.values()) < 2 * 1024**2


# ------------------------------------------------------------------ live R


R_SUMMARY = r"""
summarize <- function(name, package) {
  df <- tabmixr_dataset(name, package)
  kind <- function(x) {
    if (is.ordered(x)) "ordered" else if (is.factor(x)) "factor" else if (is.logical(x)) "logical"
    else if (is.integer(x)) "integer" else if (is.numeric(x)) "numeric" else class(x)[1]
  }
  list(
    nrow = nrow(df),
    columns = I(names(df)),
    types = lapply(df, kind),
    levels = lapply(Filter(is.factor, df), function(x) I(levels(x))),
    codesums = lapply(Filter(is.factor, df), function(x) sum(as.integer(x), na.rm = TRUE)),
    sums = lapply(Filter(function(x) is.numeric(x) && !is.factor(x), df), function(x) sum(x, na.rm = TRUE)),
    nas = lapply(df, function(x) sum(is.na(x)))
  )
}
"""


@pytest.fixture(scope="module")
def r_summaries():
    calls = ", ".join(
        f'"{name}" = summarize("{name}", "{datasets.info(name)["package"]}")' for name in datasets.names()
    )
    return r_json(R_SUMMARY + f"list({calls})")


@needs_r
@pytest.mark.parametrize("name", sorted(EXPECTED_ROWS))
def test_matches_live_r(name, r_summaries):
    ref = r_summaries[name]
    frame = datasets.load(name)
    meta = datasets.info(name)
    assert len(frame) == ref["nrow"]
    assert list(frame.columns) == ref["columns"]
    assert {c["name"]: c["type"] for c in meta["columns"]} == ref["types"]
    for column, levels in ref["levels"].items():
        assert frame[column].cat.categories.tolist() == levels, column
        codes = frame[column].cat.codes.to_numpy()
        assert int((codes[codes >= 0] + 1).sum()) == ref["codesums"][column], column
    for column, total in ref["sums"].items():
        assert float(frame[column].sum()) == pytest.approx(total, rel=1e-12), column
    assert {c: int(frame[c].isna().sum()) for c in frame.columns} == ref["nas"]
