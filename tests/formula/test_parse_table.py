"""Table-driven tests of ``parse_formula``: formula -> response, fixed, terms.

Each row: ``(formula, cov, response, fixed, terms)`` with every term written
``(lhs, group, group_vars, covariance, covariance_args)``.
"""

from __future__ import annotations

import pytest

from tabmixr.formula import parse_formula

S = ("Subject",)
G = ("g",)
ARMA10 = {"p": 1, "q": 0}
GP_XY = {"coords": ("x", "y"), "kernel": "matern32"}


def us(lhs, group, group_vars=None):
    """Expected unstructured term."""
    return (lhs, group, group_vars or tuple(group.replace("(", "").replace(")", "").split(":")), "us", {})


def cov(lhs, group, structure, args=None):
    """Expected structured term."""
    return (lhs, group, tuple(group.replace("(", "").replace(")", "").split(":")), structure, args or {})


ROWS = [
    # --- sleepstudy forms
    ("Reaction ~ Days + (Days | Subject)", None, "Reaction", "Days",
     [us("1 + Days", "Subject")]),
    ("Reaction ~ Days + (1 + Days | Subject)", None, "Reaction", "Days",
     [us("1 + Days", "Subject")]),
    ("Reaction ~ Days + (1 | Subject)", None, "Reaction", "Days", [us("1", "Subject")]),
    ("Reaction ~ Days + (Days || Subject)", None, "Reaction", "Days",
     [us("1", "Subject"), us("0 + Days", "Subject")]),
    ("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", None, "Reaction", "Days",
     [us("1", "Subject"), us("0 + Days", "Subject")]),
    ("Reaction~Days+(Days|Subject)", None, "Reaction", "Days", [us("1 + Days", "Subject")]),
    ("Reaction ~ 1 + Days + (Days | Subject)", None, "Reaction", "1 + Days",
     [us("1 + Days", "Subject")]),
    ("log(Reaction) ~ Days + (Days | Subject)", None, "log(Reaction)", "Days",
     [us("1 + Days", "Subject")]),
    # --- no fixed terms left, one-sided, response expressions
    ("y ~ (1 | g)", None, "y", "1", [us("1", "g")]),
    ("~ x + (1 | g)", None, "", "x", [us("1", "g")]),
    ("~ (1 | g)", None, "", "1", [us("1", "g")]),
    ("cbind(incidence, size - incidence) ~ period + (1 | herd)", None,
     "cbind(incidence, size - incidence)", "period", [us("1", "herd")]),
    ("y ~ x", None, "y", "x", []),
    ("y ~ 1", None, "y", "1", []),
    # --- 0 + / -1 in the fixed part (kept as written)
    ("y ~ 0 + x + (1 | g)", None, "y", "0 + x", [us("1", "g")]),
    ("y ~ x - 1 + (1 | g)", None, "y", "x - 1", [us("1", "g")]),
    ("y ~ -1 + x + (1 | g)", None, "y", "-1 + x", [us("1", "g")]),
    ("y ~ (1 | g) - 1", None, "y", "-1", [us("1", "g")]),
    ("y ~ 0 + (1 | g)", None, "y", "0", [us("1", "g")]),
    # --- fixed-part functions kept untouched
    ("y ~ I(x^2) + poly(z, 2) + (1 | g)", None, "y", "I(x^2) + poly(z, 2)", [us("1", "g")]),
    ("y ~ C(f, Sum) + offset(log(w)) + (1 | g)", None, "y", "C(f, Sum) + offset(log(w))",
     [us("1", "g")]),
    ("y ~ x*z + (1 | g)", None, "y", "x*z", [us("1", "g")]),
    ("y ~ (a + b)^2 + (1 | g)", None, "y", "(a + b)^2", [us("1", "g")]),
    ("y ~ (1 | g) + x + (1 | h) + z", None, "y", "x + z", [us("1", "g"), us("1", "h")]),
    # --- left sides: intercept written out or removed
    ("y ~ x + (x | g)", None, "y", "x", [us("1 + x", "g")]),
    ("y ~ x + (x + 1 | g)", None, "y", "x", [us("1 + x", "g")]),
    ("y ~ x + (0 + x | g)", None, "y", "x", [us("0 + x", "g")]),
    ("y ~ x + (x - 1 | g)", None, "y", "x", [us("0 + x", "g")]),
    ("y ~ x + (-1 + x | g)", None, "y", "x", [us("0 + x", "g")]),
    ("y ~ x + (x + z | g)", None, "y", "x", [us("1 + x + z", "g")]),
    ("y ~ x + (x*z | g)", None, "y", "x", [us("1 + x*z", "g")]),
    ("y ~ x + (poly(x, 2) | g)", None, "y", "x", [us("1 + poly(x, 2)", "g")]),
    ("y ~ x + ((1 | g))", None, "y", "x", [us("1", "g")]),
    # --- || splitting (lme4's expandDoubleVerts)
    ("y ~ x + (x + z || g)", None, "y", "x",
     [us("1", "g"), us("0 + x", "g"), us("0 + z", "g")]),
    ("y ~ x + (0 + x || g)", None, "y", "x", [us("0 + x", "g")]),
    ("y ~ x + (x - 1 + z || g)", None, "y", "x", [us("0 + x", "g"), us("0 + z", "g")]),
    ("y ~ x + (1 || g)", None, "y", "x", [us("1", "g")]),
    ("y ~ (x*z || g)", None, "y", "1",
     [us("1", "g"), us("0 + x", "g"), us("0 + z", "g"), us("0 + x:z", "g")]),
    ("y ~ (log(x) + I(x^2) || g)", None, "y", "1",
     [us("1", "g"), us("0 + log(x)", "g"), us("0 + I(x^2)", "g")]),
    ("y ~ x + (x || a/b)", None, "y", "x",
     [us("1", "a"), us("1", "b:a"), us("0 + x", "a"), us("0 + x", "b:a")]),
    # --- nested / and interaction groups
    ("y ~ x + (1 | a/b)", None, "y", "x", [us("1", "a"), us("1", "b:a")]),
    ("y ~ x + (1 | a/b/c)", None, "y", "x", [us("1", "a"), us("1", "b:a"), us("1", "c:(b:a)")]),
    ("y ~ x + (1 | a:b)", None, "y", "x", [us("1", "a:b")]),
    ("y ~ x + (1 | a/b:c)", None, "y", "x", [us("1", "a"), us("1", "b:c:a")]),
    ("y ~ x + (x | school/class)", None, "y", "x",
     [us("1 + x", "school"), us("1 + x", "class:school")]),
    ("y ~ x + (1 | (a/b))", None, "y", "x", [us("1", "a"), us("1", "b:a")]),
    ("y ~ x + (1 | `my group`)", None, "y", "x", [us("1", "`my group`", ("my group",))]),
    # --- crossed and several terms per group
    ("y ~ x + (1 | a) + (1 | b)", None, "y", "x", [us("1", "a"), us("1", "b")]),
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", None, "diameter", "1",
     [us("1", "plate"), us("1", "sample")]),
    ("y ~ x + (1 | g) + (0 + x | g) + (0 + z | g)", None, "y", "x",
     [us("1", "g"), us("0 + x", "g"), us("0 + z", "g")]),
    ("y ~ x + (x | g) + (1 | h) + (1 | g:h)", None, "y", "x",
     [us("1 + x", "g"), us("1", "h"), us("1", "g:h")]),
    # --- wrappers
    ("y ~ x + ar1(1 | time)", None, "y", "x", [cov("1", "time", "ar1")]),
    ("y ~ x + arma(1 | time, p = 1, q = 1)", None, "y", "x",
     [cov("1", "time", "arma", {"p": 1, "q": 1})]),
    ("y ~ x + arma(1 | time)", None, "y", "x", [cov("1", "time", "arma", ARMA10)]),
    ("y ~ x + arma(1 | time, q = 2)", None, "y", "x",
     [cov("1", "time", "arma", {"p": 1, "q": 2})]),
    ("y ~ x + arma(1 | time, p = 2L, q = 0)", None, "y", "x",
     [cov("1", "time", "arma", {"p": 2, "q": 0})]),
    ("y ~ x + kin(1 | animal)", None, "y", "x", [cov("1", "animal", "kin")]),
    ("y ~ x + kin(1 | animal, pedigree = ped)", None, "y", "x",
     [cov("1", "animal", "kin", {"pedigree": "ped"})]),
    ("y ~ x + kin(1 | animal, matrix = A)", None, "y", "x",
     [cov("1", "animal", "kin", {"matrix": "A"})]),
    ('y ~ x + gp(1 | site, coords = c(x, y), kernel = "matern32")', None, "y", "x",
     [cov("1", "site", "gp", GP_XY)]),
    ("y ~ x + gp(1 | site, coords = c(x, y))", None, "y", "x", [cov("1", "site", "gp", GP_XY)]),
    ("y ~ x + gp(1 | site, kernel = 'rbf', coords = c(lon, lat))", None, "y", "x",
     [cov("1", "site", "gp", {"coords": ("lon", "lat"), "kernel": "rbf"})]),
    ("y ~ x + gp(1 | site, coords = lon)", None, "y", "x",
     [cov("1", "site", "gp", {"coords": ("lon",), "kernel": "matern32"})]),
    ("y ~ x + spde(1 | site, coords = c(x, y))", None, "y", "x",
     [cov("1", "site", "spde", {"coords": ("x", "y"), "alpha": 2})]),
    ('y ~ x + spde(1 | site, coords = c("x", "y"), alpha = 1)', None, "y", "x",
     [cov("1", "site", "spde", {"coords": ("x", "y"), "alpha": 1})]),
    ("y ~ x + ar1(0 + x | time) + (1 | g)", None, "y", "x",
     [cov("0 + x", "time", "ar1"), us("1", "g")]),
    ("y ~ x + ar1((1 | time))", None, "y", "x", [cov("1", "time", "ar1")]),
    # --- cov= mapping (TabMixNN style)
    ("y ~ x + (1 | time) + (1 | g)", {"time": "ar1"}, "y", "x",
     [cov("1", "time", "ar1"), us("1", "g")]),
    ("y ~ x + (1 | time)", {"time": "arma"}, "y", "x", [cov("1", "time", "arma", ARMA10)]),
    ("y ~ x + (1 | animal) + (1 | g)", {"animal": "kin", "g": "us"}, "y", "x",
     [cov("1", "animal", "kin"), us("1", "g")]),
    ("y ~ x + (x || time)", {"time": "ar1"}, "y", "x",
     [cov("1", "time", "ar1"), cov("0 + x", "time", "ar1")]),
    ("y ~ x + (1 | a/b)", {"b:a": "ar1"}, "y", "x", [us("1", "a"), cov("1", "b:a", "ar1")]),
    ("y ~ x + ar1(1 | time) + (1 | site)", {"site": "ar1"}, "y", "x",
     [cov("1", "time", "ar1"), cov("1", "site", "ar1")]),
]


def _ids(rows):
    return [row[0] + (f" cov={row[1]}" if row[1] else "") for row in rows]


def test_table_is_large_enough():
    assert len(ROWS) >= 45


@pytest.mark.parametrize("formula, cov_map, response, fixed, terms", ROWS, ids=_ids(ROWS))
def test_parse_table(formula, cov_map, response, fixed, terms):
    spec = parse_formula(formula, cov=cov_map)
    assert spec.formula == formula
    assert spec.response == response
    assert spec.fixed == fixed
    got = [(t.lhs, t.group, t.group_vars, t.covariance, t.covariance_args) for t in spec.random]
    assert got == terms
    assert spec.has_random == bool(terms)
