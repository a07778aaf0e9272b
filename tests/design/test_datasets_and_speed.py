"""Real data sets through the parser and the design stage; build times."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tabmixr.design import build_design

datasets = pytest.importorskip("tabmixr.datasets")
formula = pytest.importorskip("tabmixr.formula")
parse_formula = getattr(formula, "parse_formula", None)
if parse_formula is None:  # pragma: no cover - parser not there yet
    pytest.skip("tabmixr.formula.parse_formula is not available", allow_module_level=True)


def _best_time(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


@pytest.fixture(scope="module")
def sleepstudy():
    return datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def insteval():
    return datasets.load("InstEval")


def test_sleepstudy(sleepstudy):
    d = build_design(parse_formula("Reaction ~ Days + (Days | Subject)"), sleepstudy)
    assert d.fixed_names == ("(Intercept)", "Days")
    t = d.terms[0]
    assert t.columns == ("(Intercept)", "Days") and t.n_levels == 18 and t.levels[0] == "308"
    assert t.Z().shape == (180, 36)
    np.testing.assert_allclose(d.y, sleepstudy["Reaction"])


def test_sleepstudy_builds_in_milliseconds(sleepstudy):
    s = parse_formula("Reaction ~ Days + (Days | Subject)")
    build_design(s, sleepstudy)
    assert _best_time(lambda: build_design(s, sleepstudy), 20) < 0.02


def test_insteval(insteval):
    d = build_design(parse_formula("y ~ service + lectage + studage + (1 | s) + (1 | d) + (1 | dept:service)"),
                     insteval)
    assert [(t.group, t.n_levels) for t in d.terms] == [("s", 2972), ("d", 1128), ("dept:service", 28)]
    assert d.fixed_names[:3] == ("(Intercept)", "service1", "lectage.L")  # ordered factors: contr.poly
    assert d.terms[2].levels[:2] == ("15:0", "15:1")  # R's level order of dept kept
    assert d.n == 73421


def test_insteval_builds_well_under_a_second(insteval):
    s = parse_formula("y ~ service * dept + (1 | s) + (1 | d)")
    d = build_design(s, insteval)
    assert d.X.shape == (73421, 28)
    assert _best_time(lambda: build_design(s, insteval), 3) < 0.5


def test_parser_output_with_expressions(toy):
    data = toy()
    d = build_design(parse_formula("y ~ x + I(x^2) + offset(log(n)) + (x || site) + (1 | site:g)"), data)
    assert d.fixed_names == ("(Intercept)", "x", "I(x^2)")
    np.testing.assert_allclose(d.offset, np.log(data["n"]))
    assert [(t.group, t.columns) for t in d.terms] == [
        ("site:g", ("(Intercept)",)), ("site", ("x",)), ("site", ("(Intercept)",))]
