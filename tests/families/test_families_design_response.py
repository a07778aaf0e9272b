"""build_design(response_kind="categorical") keeps category responses for ordinal/categorical families."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabmixr.design import build_design
from tabmixr.errors import DesignError, ResponseError
from tabmixr.families import get_family
from tabmixr.formula import parse_formula


@pytest.fixture()
def data():
    rng = np.random.default_rng(7)
    n = 60
    frame = pd.DataFrame({
        "rating": pd.Categorical(rng.choice(["lo", "mid", "hi"], n), categories=["lo", "mid", "hi"], ordered=True),
        "choice": rng.choice(["tram", "bike", "car"], n),
        "flag": rng.uniform(size=n) < 0.4,
        "same": ["x"] * n,
        "x": rng.normal(size=n),
        "g": np.repeat(np.arange(6), 10),
    })
    frame.loc[3, "rating"] = np.nan
    return frame


def test_factor_response_keeps_its_level_order(data):
    design = build_design(parse_formula("rating ~ x + (1 | g)"), data, response_kind="categorical")
    assert isinstance(design.y, pd.Categorical) and len(design.y) == 59  # the NA row is dropped
    assert list(design.y.categories) == ["lo", "mid", "hi"]
    prepared = get_family("ordinal").prepare(design.y, design.response_name)
    assert prepared.levels == ("lo", "mid", "hi")
    want = data["rating"].dropna().cat.codes.to_numpy()
    assert prepared.y.tolist() == want.tolist()


def test_string_and_bool_responses_are_kept(data):
    design = build_design(parse_formula("choice ~ x + (1 | g)"), data, response_kind="categorical")
    assert design.y.tolist() == data["choice"].tolist()
    prepared = get_family("categorical").prepare(design.y, "choice")
    assert prepared.levels == ("bike", "car", "tram") and prepared.n_eta == 2
    design = build_design(parse_formula("flag ~ x + (1 | g)"), data, response_kind="categorical")
    assert get_family("categorical").prepare(design.y, "flag").levels == ("False", "True")


def test_categorical_kind_skips_the_constant_check_and_family_refuses_one_level(data):
    design = build_design(parse_formula("same ~ x + (1 | g)"), data, response_kind="categorical")
    with pytest.raises(ResponseError, match="at least 2 observed categories, every row is 'x'"):
        get_family("categorical").prepare(design.y, "same")


def test_numeric_kind_still_refuses_strings_and_bad_kind_is_named(data):
    with pytest.raises(ResponseError, match="response 'choice' must be numeric"):
        build_design(parse_formula("choice ~ x + (1 | g)"), data)
    with pytest.raises(DesignError, match="response_kind must be one of 'numeric', 'categorical', not 'factor'"):
        build_design(parse_formula("choice ~ x + (1 | g)"), data, response_kind="factor")
    with pytest.raises(ResponseError, match="must be one column"):
        build_design(parse_formula("cbind(x, x) ~ 1 + (1 | g)"), data, response_kind="categorical")


def test_families_say_which_response_kind_they_need():
    kinds = {name: get_family(name).response_kind for name in ("ordinal", "categorical", "poisson", "binomial")}
    assert kinds == {"ordinal": "categorical", "categorical": "categorical", "poisson": "numeric",
                     "binomial": "numeric"}
