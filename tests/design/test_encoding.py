"""Frozen encoding: new data, new levels, plain-dict round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tabmixr.design import DesignEncoding, build_design
from tabmixr.errors import DesignError, NewLevelError, SerializationError, UnknownColumnError

RICH_FIXED = "1 + x*f + poly(z, 2) + C(g, Sum) + center(n) + o + l + I(x^2) + offset(log(n))"


@pytest.fixture
def rich(toy, spec, term):
    data = toy()
    s = spec("y", RICH_FIXED, term("1 + x", "subj"), term("0 + f", "site"), term("1", "g:site"))
    return build_design(s, data), data


def test_transform_of_training_data_reproduces_design(rich):
    d, data = rich
    new = d.encoding.transform(data.drop(columns="y"))
    np.testing.assert_allclose(new.X, d.X, rtol=1e-12)
    np.testing.assert_allclose(new.offset, d.offset)
    assert len(new.terms) == len(d.terms)
    for old, t in zip(d.terms, new.terms):
        np.testing.assert_allclose(t.X, old.X)
        np.testing.assert_array_equal(t.codes, old.codes)


def test_transform_subset_of_terms_and_row_order(rich):
    d, data = rich
    few = data.iloc[[5, 0, 17]]
    new = d.encoding.transform(few, terms=[1])
    assert new.terms[0] is None and new.terms[2] is None
    np.testing.assert_array_equal(new.terms[1].codes, d.terms[1].codes[[5, 0, 17]])
    np.testing.assert_allclose(new.X, d.X[[5, 0, 17]])
    np.testing.assert_array_equal(new.row_index, [5, 0, 17])
    with pytest.raises(DesignError, match="term index 7 out of range"):
        d.encoding.transform(few, terms=[7])


def test_stateful_transforms_use_training_state(rich):
    d, data = rich
    one = data.iloc[[3]]
    new = d.encoding.transform(one, terms=[])
    np.testing.assert_allclose(new.X, d.X[[3]])  # center(n), poly(z, 2) not re-fitted on one row


def test_new_grouping_levels(rich):
    d, data = rich
    new = data.iloc[:4].copy()
    new["subj"] = [10, 999, 20, 1000]
    with pytest.raises(NewLevelError, match=r"new level\(s\) '999', '1000' of grouping factor 'subj'.*allow_new_levels"):
        d.encoding.transform(new)
    out = d.encoding.transform(new, allow_new_levels=True)
    subj = [i for i, t in enumerate(d.terms) if t.group == "subj"][0]
    np.testing.assert_array_equal(out.terms[subj].codes, [0, -1, 1, -1])
    np.testing.assert_array_equal(out.terms[subj].new_level, [False, True, False, True])


def test_new_interaction_level(rich):
    d, data = rich
    new = data.iloc[:2].copy()
    new["site"] = ["s9", "s1"]
    k = [i for i, t in enumerate(d.terms) if t.group == "g:site"][0]
    with pytest.raises(NewLevelError, match=r"'u:s9' of grouping factor 'g:site'"):
        d.encoding.transform(new, terms=[k])


def test_new_level_in_fixed_factor(rich):
    d, data = rich
    new = data.iloc[:3].copy()
    new["f"] = ["a", "zz", "b"]
    with pytest.raises(DesignError, match=r"factor 'f' \(fixed part\) has new level\(s\) 'zz'"):
        d.encoding.transform(new, terms=[])
    new = data.iloc[:3].copy()
    new["g"] = ["u", "w", "u"]  # inside C(g, Sum)
    with pytest.raises(DesignError, match=r"factor 'g' \(fixed part\) has new level\(s\) 'w'"):
        d.encoding.transform(new, terms=[])


def test_missing_columns_in_new_data(rich):
    d, data = rich
    with pytest.raises(UnknownColumnError, match=r"column 'z' \(used in fixed part"):
        d.encoding.transform(data.drop(columns=["y", "z"]))
    with pytest.raises(UnknownColumnError, match=r"column 'subj'"):
        d.encoding.transform(data.drop(columns=["subj"]))
    subj = [i for i, t in enumerate(d.terms) if t.group == "subj"][0]
    others = [i for i in range(len(d.terms)) if i != subj]
    d.encoding.transform(data.drop(columns=["subj"]), terms=others)  # fine without it


def test_missing_values_in_new_data_give_nan(rich):
    d, data = rich
    new = data.iloc[:3].copy()
    new.loc[new.index[1], "x"] = np.nan
    out = d.encoding.transform(new, terms=[])
    assert np.isnan(out.X[1]).any() and np.all(np.isfinite(out.X[[0, 2]]))


def test_to_dict_is_json_and_round_trips(rich):
    d, data = rich
    plain = d.encoding.to_dict()
    text = json.dumps(plain)
    rebuilt = DesignEncoding.from_dict(json.loads(text))
    new = data.sample(25, random_state=3).drop(columns="y")
    new.loc[new.index[0], "subj"] = 12345
    a = d.encoding.transform(new, allow_new_levels=True)
    b = rebuilt.transform(new, allow_new_levels=True)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.offset, b.offset)
    for s, t in zip(a.terms, b.terms):
        np.testing.assert_array_equal(s.X, t.X)
        np.testing.assert_array_equal(s.codes, t.codes)
    assert rebuilt.fixed_names == d.fixed_names
    assert rebuilt.to_dict() == plain


def test_round_trip_with_categorical_levels_and_bools(toy, spec, term):
    data = toy()
    data["site"] = pd.Categorical(data["site"], categories=["s4", "s3", "s2", "s1"])
    d = build_design(spec("y", "1 + l + C(subj)", term("1 + l", "site")), data)
    assert d.terms[0].levels == ("s4", "s3", "s2", "s1")
    rebuilt = DesignEncoding.from_dict(json.loads(json.dumps(d.encoding.to_dict())))
    a, b = d.encoding.transform(data), rebuilt.transform(data)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.terms[0].codes, b.terms[0].codes)
    np.testing.assert_array_equal(a.terms[0].codes, d.terms[0].codes)


def test_unknown_version():
    with pytest.raises(SerializationError, match="version 99"):
        DesignEncoding.from_dict({"version": 99})
