"""prepare: support checks with clear messages, encodings, and data-based starts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import special

from tabmixr.errors import ResponseError, TabmixError
from tabmixr.families import get_family

BAD = [
    ("poisson", [3, 0, -2, 1], "response 'y': poisson needs non-negative integers, row 2 has -2"),
    ("poisson", [1.5, 2], "poisson needs non-negative integers, row 0 has 1.5"),
    ("negative_binomial", [0, 1, 2.25], "negative_binomial needs non-negative integers, row 2 has 2.25"),
    ("zip", [0, -1, 0], "zero_inflated_poisson needs non-negative integers, row 1 has -1"),
    ("binomial", [0, 1, 2], "binomial needs 0/1 values (or cbind(successes, failures)), row 2 has 2"),
    ("binomial", [[1, 2], [3, -1]], "binomial needs non-negative integer counts in cbind(successes, failures), "
                                    "row 1 has (3, -1)"),
    ("binomial", [[1, 2.5]], "row 0 has (1, 2.5)"),
    ("Gamma", [1.0, 0.0, 2.0], "gamma needs positive values, row 1 has 0"),
    ("exponential", [-1.0, 2.0], "exponential needs positive values, row 0 has -1"),
    ("weibull", [1.0, -0.5, -3.0], "weibull needs positive values, row 1 has -0.5 (2 rows in all)"),
    ("lognormal", [0.0, 1.0], "lognormal needs positive values, row 0 has 0"),
    ("beta", [0.2, 1.0], "beta needs values strictly between 0 and 1, row 1 has 1"),
    ("beta", [0.0, 0.5], "row 0 has 0"),
    ("gaussian", [1.0, np.nan, 2.0], "gaussian needs finite values, row 1 has nan"),
    ("gaussian", [1.0, np.inf], "gaussian needs finite values, row 1 has inf"),
    ("gaussian", np.array(["a", "b"]), "gaussian needs numbers"),
    ("student", np.array([1.0, "x"], dtype=object), "student_t needs numbers, row 1 has 'x'"),
    ("gaussian", np.ones((3, 2)), "gaussian needs a vector"),
    ("poisson", np.array([], dtype=float), "has no rows"),
    ("ordinal", ["a", "a", "a"], "ordinal needs at least 2 observed categories, every row is 'a'"),
    ("ordinal", [1, 2.5, 3], "ordinal needs integer category codes (or labels), row 1 has 2.5"),
    ("categorical", np.array(["a", None, "b"], dtype=object), "categorical needs no missing values, row 1 has None"),
    ("categorical", np.array(["a", 1, "b"], dtype=object), "categorical needs labels of one type"),
    ("categorical", pd.Categorical(["a", None, "b"]), "categorical needs no missing values, row 1 has nan"),
    ("multinomial", np.zeros((3, 2)), "categorical needs a vector of categories"),
]


@pytest.mark.parametrize("family, y, message", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_support_errors_name_response_family_and_value(family, y, message):
    with pytest.raises(ResponseError) as info:
        get_family(family).prepare(y if isinstance(y, (np.ndarray, pd.Categorical)) else np.array(y), "y")
    assert message in str(info.value)
    assert "'y'" in str(info.value)
    assert isinstance(info.value, TabmixError)


def test_binomial_encodings():
    family = get_family("bernoulli")
    p = family.prepare(np.array([True, False, True]), "y")
    assert p.y.tolist() == [[1, 1], [0, 1], [1, 1]] and p.y.dtype == torch.float64
    p = family.prepare(np.array([[2, 3], [0, 4], [5, 0]]), "cbind(s, f)")
    assert p.y.tolist() == [[2, 5], [0, 4], [5, 5]]
    assert p.info["trials"].tolist() == [5, 4, 5]
    assert p.n_eta == 1


def test_ordinal_keeps_categorical_order_and_drops_unused_levels():
    y = pd.Categorical(["mid", "lo", "hi", "mid"], categories=["lo", "mid", "unused", "hi"], ordered=True)
    p = get_family("ordinal").prepare(y, "rating")
    assert p.levels == ("lo", "mid", "hi")
    assert p.y.tolist() == [1, 0, 2, 1] and p.y.dtype == torch.long
    assert p.info["dropped_levels"] == ["unused"]
    p = get_family("ordinal").prepare(pd.Series(y), "rating")
    assert p.levels == ("lo", "mid", "hi")


def test_strings_sort_like_r_factor_and_integer_codes_keep_their_values():
    p = get_family("categorical").prepare(np.array(["b", "c", "a", "b"], dtype=object), "y")
    assert p.levels == ("a", "b", "c") and p.y.tolist() == [1, 2, 0, 1] and p.n_eta == 2
    p = get_family("cumulative").prepare(np.array([5, 1, 2, 5]), "y")
    assert p.levels == ("1", "2", "5") and p.y.tolist() == [2, 0, 1, 2] and p.n_eta == 1
    p = get_family("categorical").prepare(np.array([True, False]), "y")
    assert p.levels == ("False", "True") and p.y.tolist() == [1, 0]


def test_prepare_accepts_pandas_series_and_lists():
    assert get_family("poisson").prepare(pd.Series([0, 3, 1]), "n").y.tolist() == [0, 3, 1]
    assert get_family("gaussian").prepare([1.5, 2.5], "y").y.tolist() == [1.5, 2.5]
    assert get_family("gaussian").prepare(np.array([[1.0], [2.0]]), "y").y.shape == (2,)


def _aux(family, y):
    return family.aux_init(family.prepare(np.asarray(y), "y"))


def test_aux_init_uses_the_data():
    rng = np.random.default_rng(0)
    y = rng.normal(3.0, 2.0, size=5000)
    assert _aux(get_family("gaussian"), y)["log_sigma"] == pytest.approx(math.log(2.0), abs=0.05)
    assert _aux(get_family("lognormal"), np.exp(y))["log_sigma"] == pytest.approx(math.log(2.0), abs=0.05)
    start = _aux(get_family("student_t"), rng.standard_t(5.0, size=5000) * 1.5)
    assert math.exp(start["log_sigma"]) == pytest.approx(1.5, rel=0.15)
    assert _aux(get_family("Gamma"), rng.gamma(4.0, 0.5, size=5000))["log_shape"] == pytest.approx(
        math.log(4.0), abs=0.1)
    assert _aux(get_family("negbinomial"), rng.negative_binomial(2.0, 2.0 / 5.0, size=5000))["log_shape"] == \
        pytest.approx(math.log(2.0), abs=0.15)
    assert _aux(get_family("weibull"), rng.weibull(2.0, size=5000))["log_shape"] == pytest.approx(
        math.log(2.0), abs=0.1)
    assert _aux(get_family("beta"), rng.beta(2.0, 6.0, size=5000))["log_phi"] == pytest.approx(
        math.log(8.0), abs=0.1)
    zip_y = np.where(rng.uniform(size=5000) < 0.3, 0, rng.poisson(4.0, size=5000))
    assert special.expit(_aux(get_family("zip"), zip_y)["logit_zi"]) == pytest.approx(0.3, abs=0.03)
    for name in ("poisson", "exponential", "binomial", "categorical"):
        assert _aux(get_family(name), [1, 0, 1] if name != "exponential" else [1.0, 2.0]) == {}


def test_ordinal_aux_init_matches_cumulative_proportions():
    family = get_family("ordinal")
    y = np.repeat([0, 1, 2, 3], [10, 30, 40, 20])
    start = family.aux_init(family.prepare(y, "y"))
    aux = {k: torch.tensor(v, dtype=torch.float64) for k, v in start.items()}
    cuts = family.aux_values(aux)["cutpoints"].numpy()
    np.testing.assert_allclose(cuts, special.logit([0.1, 0.4, 0.8]), rtol=1e-9)
    probs = family.mean(torch.zeros(1, 1, dtype=torch.float64), aux).numpy()[0]
    np.testing.assert_allclose(probs, [0.1, 0.3, 0.4, 0.2], rtol=1e-9)


def test_ordinal_with_two_levels_has_no_steps():
    family = get_family("ordinal")
    prepared = family.prepare(np.array(["no", "yes", "yes"]), "y")
    start = family.aux_init(prepared)
    assert start["cut_steps"] == []
    aux = {k: torch.tensor(v, dtype=torch.float64) for k, v in start.items()}
    ll = family.log_lik(prepared.y, torch.zeros(3, 1, dtype=torch.float64), aux)
    np.testing.assert_allclose(ll.numpy(), np.log([1 / 3, 2 / 3, 2 / 3]), rtol=1e-6)
