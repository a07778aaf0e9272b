"""Term text, ``||`` marks, spec contract, tokenizer and printer."""

from __future__ import annotations

import pytest
from formulaic.parser import DefaultFormulaParser

from tabmixr.formula import WRAPPERS, ModelSpec, RandomTerm, parse_formula
from tabmixr.formula.spec import COVARIANCE_STRUCTURES
from tabmixr.formula.tokens import render, tokenize

TEXTS = [
    ("Reaction ~ Days + (Days|Subject)", ["(Days | Subject)"]),
    ("y ~ ((1|g))", ["(1 | g)"]),
    ("y ~ (x+z||g)", ["(1 | g)", "(0 + x | g)", "(0 + z | g)"]),
    ("y ~ (x|a/b)", ["(x | a)", "(x | b:a)"]),
    ("y ~ (1|a:b)", ["(1 | a:b)"]),
    ("y ~ arma(1|time,p=2,q=1)", ["arma(1 | time, p = 2, q = 1)"]),
    ("y ~ gp(1|site,coords=c(x,y))", ["gp(1 | site, coords = c(x, y))"]),
    ("y ~ ar1(1|a/b)", ["ar1(1 | a)", "ar1(1 | b:a)"]),
    ("y ~ (x - 1|g)", ["(x - 1 | g)"]),
]


@pytest.mark.parametrize("formula, texts", TEXTS)
def test_term_text_prints_normalized(formula, texts):
    assert [t.text for t in parse_formula(formula).random] == texts


def test_double_bar_terms_are_marked():
    spec = parse_formula("y ~ (x || g) + (1 | h) + (0 + z || k)")
    assert [t.from_double_bar for t in spec.random] == [True, True, False, True]


def test_terms_keep_the_written_order():
    spec = parse_formula("y ~ (1 | c) + x + (1 | a) + ar1(1 | t) + (1 | b)")
    assert [t.group for t in spec.random] == ["c", "a", "t", "b"]


def test_spec_is_frozen_and_comparable():
    a = parse_formula("y ~ x + arma(1 | t, p = 2)")
    b = parse_formula("y ~ x + arma(1 | t, p = 2)")
    assert isinstance(a, ModelSpec) and isinstance(a.random[0], RandomTerm)
    assert a == b
    assert hash(a.random[0]) == hash(b.random[0])
    with pytest.raises(AttributeError):
        a.fixed = "0"  # type: ignore[misc]


def test_covariance_args_are_not_shared_between_terms():
    spec = parse_formula("y ~ arma(1 | a/b)")
    first, second = spec.random
    assert first.covariance_args == second.covariance_args
    assert first.covariance_args is not second.covariance_args


def test_every_wrapper_names_a_known_structure():
    for name, wrapper in WRAPPERS.items():
        assert wrapper.covariance in COVARIANCE_STRUCTURES, name


@pytest.mark.parametrize("formula", [
    "y ~ I(x^2) + poly(z, 2) + C(f, Sum) + offset(log(w)) + (1 | g)",
    "y ~ -1 + x + (x || g)",
    "y ~ (a + b)^2 + x %in% z + (1 | g)",
    "y ~ 0 + (1 | g)",
])
def test_fixed_and_lhs_text_parse_in_formulaic(formula):
    spec = parse_formula(formula)
    parser = DefaultFormulaParser()
    parser.get_ast(spec.fixed)
    for term in spec.random:
        parser.get_ast(term.lhs)


def test_strings_hide_operators_from_the_scanner():
    spec = parse_formula('y ~ C(f, levels = ["a|b", "c~d"]) + (1 | g)')
    assert spec.fixed == 'C(f, levels = ["a|b", "c~d"])'
    assert len(spec.random) == 1


@pytest.mark.parametrize("text, kinds", [
    ("y ~ x", ["name", "op", "name"]),
    ("(1|g)", ["open", "number", "op", "name", "close"]),
    ("a || b", ["name", "op", "name"]),
    ("x ** 2L", ["name", "op", "number"]),
    ("x %in% z", ["name", "op", "name"]),
    ("`my x` + 'a' + \"b\"", ["name", "op", "string", "op", "string"]),
    ("f(a, b = 1.5e-3)", ["name", "open", "name", "comma", "name", "op", "number", "close"]),
])
def test_tokenize_kinds(text, kinds):
    assert [tok.kind for tok in tokenize(text)] == kinds


def test_tokens_know_their_place():
    source = "y ~ (Days | Subject)"
    for tok in tokenize(source):
        assert source[tok.start:tok.end] == tok.text


@pytest.mark.parametrize("text, printed", [
    ("(Days|Subject)", "(Days | Subject)"),
    ("-1+x", "-1 + x"),
    ("c(x,y)", "c(x, y)"),
    ("a : b / c", "a:b/c"),
    ("arma( 1|t , p=1 )", "arma(1 | t, p = 1)"),
    ("x*(-z)", "x * (-z)"),
])
def test_render_normalizes_spaces(text, printed):
    assert render(tokenize(text)) == printed
