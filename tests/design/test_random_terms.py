"""Random-effect terms: term matrices, grouping codes, lme4's order, Z."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import r_helpers
from tabmixr.design import build_design
from tabmixr.design.random_terms import lme4_term_order
from tabmixr.errors import GroupingError

# (tabmixr fixed part, random terms as (lhs, group), lme4 formula)
LME4_TABLE = [
    ("1 + x", [("1 + x", "subj")], "y ~ x + (x | subj)"),
    ("1", [("1", "site"), ("1", "subj"), ("1", "g")], "y ~ 1 + (1 | site) + (1 | subj) + (1 | g)"),
    ("1 + x", [("0 + f", "site")], "y ~ x + (0 + f | site)"),
    ("1", [("1 + f", "subj")], "y ~ 1 + (1 + f | subj)"),
    # lme4 expands (1 | site/g) into (1 | g:site) + (1 | site)
    ("1", [("1", "g:site"), ("1", "site"), ("1", "subj:f")], "y ~ 1 + (1 | site/g) + (1 | subj:f)"),
    ("1", [("1", "g"), ("0 + x", "g"), ("1", "site")], "y ~ 1 + (x || g) + (1 | site)"),
    ("1", [("1 + l", "site")], "y ~ 1 + (l | site)"),
]


@pytest.fixture(scope="module")
def lme4_terms(toy):
    data = toy()
    with tempfile.TemporaryDirectory(prefix="tabmixr-design-") as tmp:
        path = os.path.join(tmp, "toy.csv")
        out = data.copy()
        out["l"] = np.where(out["l"], "TRUE", "FALSE")
        out.to_csv(path, index=False)
        formulas = ", ".join(r_helpers._r_string(r) for _, _, r in LME4_TABLE)
        expr = f"""
        d <- read.csv({r_helpers._r_string(path)}, stringsAsFactors = TRUE)
        d$l <- as.logical(d$l)
        lapply(c({formulas}), function(f) {{
          rt <- lme4::lFormula(stats::as.formula(f), d)$reTrms
          fl <- rt$flist
          asg <- attr(fl, "assign")
          list(groups = I(names(rt$cnms)),
               cnms = lapply(unname(rt$cnms), I),
               levels = lapply(seq_along(rt$cnms), function(k) I(levels(fl[[asg[k]]]))),
               Z = unname(as.matrix(t(rt$Zt))))
        }})
        """
        return r_helpers.r_json(expr)


def _design(toy, spec, term, fixed, terms, **kw):
    return build_design(spec("y", fixed, *(term(l, g) for l, g in terms)), toy(), **kw)


@r_helpers.needs_r
@pytest.mark.parametrize("k", range(len(LME4_TABLE)), ids=[t[2] for t in LME4_TABLE])
def test_terms_match_lme4(k, lme4_terms, toy, spec, term):
    fixed, terms, _ = LME4_TABLE[k]
    d = _design(toy, spec, term, fixed, terms)
    ref = lme4_terms[k]
    assert [t.group for t in d.terms] == list(ref["groups"])
    assert [list(t.columns) for t in d.terms] == [list(c) for c in ref["cnms"]]
    assert [list(t.levels) for t in d.terms] == [list(v) for v in ref["levels"]]
    Z = sp.hstack([t.Z() for t in d.terms]).toarray()
    np.testing.assert_allclose(Z, np.asarray(ref["Z"], dtype=float).reshape(Z.shape), atol=1e-12)


def test_order_is_decreasing_levels_like_lme4(toy, spec, term):
    d = _design(toy, spec, term, "1", [("1", "g"), ("1", "site"), ("1", "subj"), ("0 + x", "site")])
    assert [(t.group, t.n_levels) for t in d.terms] == [("subj", 10), ("site", 4), ("site", 4), ("g", 2)]
    # lme4 uses rev(order(nl)): ties in reverse order of appearance
    assert [t.columns for t in d.terms][1:3] == [("x",), ("(Intercept)",)]


def test_order_kept_when_already_decreasing(toy, spec, term):
    d = _design(toy, spec, term, "1", [("1", "subj"), ("1", "site"), ("0 + x", "site"), ("1", "g")])
    assert [t.columns for t in d.terms][1:3] == [("(Intercept)",), ("x",)]


@pytest.mark.parametrize("n_levels, expected", [
    ([5, 3, 3, 1], [0, 1, 2, 3]),
    ([2, 2, 4], [2, 1, 0]),
    ([3, 5, 3], [1, 2, 0]),
    ([1], [0]),
])
def test_lme4_term_order(n_levels, expected):
    assert lme4_term_order(n_levels) == expected


def test_codes_levels_and_z_values(toy, spec, term):
    data = toy()
    d = _design(toy, spec, term, "1", [("1 + x", "subj")])
    t = d.terms[0]
    assert t.levels == tuple(str(v) for v in range(10, 101, 10))  # numeric sort, not text sort
    assert t.codes.dtype == np.int64
    np.testing.assert_array_equal(t.codes, np.repeat(np.arange(10), 6))
    Z = t.Z().toarray()
    assert Z.shape == (60, 20)
    assert t.q == 2 and t.n_levels == 10
    np.testing.assert_allclose(Z[7, 2:4], [1.0, data["x"].iloc[7]])
    assert np.count_nonzero(Z[7]) == 2


def test_zero_plus_factor_is_full_dummy(toy, spec, term):
    d = _design(toy, spec, term, "1", [("0 + f", "site")])
    assert d.terms[0].columns == ("fa", "fb", "fc")
    np.testing.assert_allclose(d.terms[0].X.sum(axis=1), 1.0)


def test_interaction_grouping_labels(toy, spec, term):
    d = _design(toy, spec, term, "1", [("1", "g:site")])
    t = d.terms[0]
    assert t.group == "g:site"
    assert t.levels[:3] == ("u:s1", "u:s2", "u:s3")  # first factor slowest, as R's a:b
    data = toy()
    labels = np.asarray(t.levels)[t.codes]
    np.testing.assert_array_equal(labels, (data["g"] + ":" + data["site"]).to_numpy())


def test_unused_levels_dropped(toy, spec, term):
    data = toy()
    data["site"] = pd.Categorical(data["site"], categories=["s0", "s1", "s2", "s3", "s4", "s9"])
    d = build_design(spec("y", "1", term("1", "site")), data)
    assert d.terms[0].levels == ("s1", "s2", "s3", "s4")


def test_same_lhs_and_grouping_are_shared(toy, spec, term):
    d = _design(toy, spec, term, "1", [("1", "site"), ("1", "site")])
    assert d.terms[0].codes is d.terms[1].codes


def test_single_level_grouping_rejected(toy, spec, term):
    data = toy()
    data["one"] = "k"
    with pytest.raises(GroupingError, match=r"grouping factor 'one'.*1 level"):
        build_design(spec("y", "1", term("1", "one")), data)


def test_too_many_levels_rejected(toy, spec, term):
    data = toy()
    data["row"] = np.arange(len(data))
    with pytest.raises(GroupingError, match=r"must be < number of observations.*'row' has 60 levels for 60"):
        build_design(spec("y", "1", term("1", "row")), data)


def test_check_grouping_off(toy, spec, term):
    data = toy()
    data["row"] = np.arange(len(data))
    d = build_design(spec("y", "1", term("1", "row")), data, check_grouping=False)
    assert d.terms[0].n_levels == 60
