"""Malformed formulas: every one raises ``FormulaError`` naming the piece at fault."""

from __future__ import annotations

import re

import pytest

from tabmixr.errors import FormulaError, TabmixError
from tabmixr.formula import parse_formula

# (formula, cov, regex the message must match)
BAD = [
    # structure of the formula
    ("", None, r"formula is empty"),
    ("   ", None, r"formula is empty"),
    ("y", None, r"formula 'y' has no '~'"),
    ("y ~ x ~ z", None, r"more than one '~'.*'~ z'"),
    ("y ~", None, r"right-hand side of formula 'y ~' is empty"),
    ("y ~ x +", None, r"'y ~ x \+' ends with '\+'"),
    ("y ~ x + (1 | g) +", None, r"ends with '\+'"),
    ("y ~ x + + z", None, r"missing term between '\+' and '\+'"),
    ("y ~ x * + z", None, r"term 'x \*' .* ends with operator '\*'"),
    # brackets and quotes
    ("y ~ x + (1 | g", None, r"unbalanced parentheses: '\(' .* never closed in '\(1 \| g'"),
    ("y ~ x + 1 | g)", None, r"unbalanced parentheses: '\)' .* closes nothing"),
    ("y ~ x + (1 | g]", None, r"'\(' .* is closed by '\]' in '\(1 \| g\]'"),
    ('y ~ gp(1 | s, kernel = "rbf)', None, r"unterminated string '\"rbf\)'"),
    ("y ~ x # comment", None, r"unexpected character '#'"),
    # misplaced bars
    ("y ~ x + 1 | g", None, r"'\|' outside parentheses in term '1 \| g'"),
    ("y ~ x + I((1 | g))", None, r"'I' is not a covariance wrapper, in 'I\(\(1 \| g\)\)'"),
    ("y ~ x * (1 | g)", None, r"random-effect term '\(1 \| g\)' is inside 'x \* \(1 \| g\)'"),
    ("y ~ x + log(z, (1 | g))", None, r"'\(1 \| g\)' is inside 'log\(z, \(1 \| g\)\)'"),
    ("y ~ x - (1 | g)", None, r"'\(1 \| g\)' is subtracted"),
    ("y ~ (1 | (1 | g))", None, r"nested random-effect term in '\(1 \| \(1 \| g\)\)'"),
    ("y ~ ((1 | g) | h)", None, r"nested random-effect term"),
    ("y ~ (1 | g | h)", None, r"more than one '\|' in random-effect term '\(1 \| g \| h\)'"),
    # empty or bad sides of a bar
    ("y ~ x + (| g)", None, r"'\(\| g\)' has an empty left side"),
    ("y ~ x + (1 |)", None, r"'\(1 \|\)' has an empty grouping factor"),
    ("y ~ x + (1 || )", None, r"'\(1 \|\|\)' has an empty grouping factor"),
    ("y ~ x + (0 | g)", None, r"'\(0 \| g\)' has no columns"),
    ("y ~ x + (x + | g)", None, r"the left side of '\(x \+ \| g\)' ends with '\+'"),
    ("y ~ x + (1 | a + b)", None, r"grouping factor 'a \+ b' in '\(1 \| a \+ b\)' is not allowed"),
    ("y ~ x + (1 | a*b)", None, r"grouping factor 'a \* b' .* crossed effects"),
    ("y ~ x + (1 | factor(g))", None, r"grouping factor 'factor\(g\)' .* not allowed"),
    ("y ~ x + (1 | a//b)", None, r"empty nesting level in grouping factor 'a//b'"),
    ("y ~ x + (1 | a:a)", None, r"'a:a' .* names 'a' twice"),
    # wrappers
    ("y ~ x + foo(1 | g)", None, r"'foo' is not a covariance wrapper.*ar1\(\), arma\(\), kin\(\), gp\(\), spde\(\)"),
    ("y ~ x + ar1(1 || time)", None, r"'\|\|' is not allowed inside wrapper ar1\(\) in 'ar1\(1 \|\| time\)'"),
    ("y ~ x + arma(1 | time, r = 2)", None, r"unknown argument 'r' to arma\(\).*allowed arguments: p, q"),
    ("y ~ x + ar1(1 | time, p = 1)", None, r"unknown argument 'p' to ar1\(\).*allowed arguments: none"),
    ("y ~ x + arma(1 | time, p = -1)", None, r"argument 'p' of arma\(\) .* whole number >= 0, got -1"),
    ("y ~ x + arma(1 | time, q = 0.5)", None, r"argument 'q' of arma\(\) .* whole number >= 0, got 0.5"),
    ("y ~ x + arma(1 | time, 2)", None, r"argument '2' of arma\(\) .* must be named"),
    ("y ~ x + arma(1 | time, p = 1, p = 2)", None, r"argument 'p' given twice"),
    ("y ~ x + arma(1 | time, p =)", None, r"argument 'p' of arma\(\) .* has no value"),
    ("y ~ x + arma(1 | time, p = x + 1)", None, r"cannot read the value 'x \+ 1' of p"),
    ('y ~ x + gp(1 | site, coords = c(x, y), kernel = "bessel")', None,
     r"unknown value 'bessel' for argument 'kernel' of gp\(\).*'matern32'"),
    ("y ~ x + gp(1 | site)", None, r"gp\(\) needs argument 'coords' in 'gp\(1 \| site\)'"),
    ("y ~ x + spde(1 | site)", None, r"spde\(\) needs argument 'coords'"),
    ("y ~ x + spde(1 | site, coords = c(x, y), alpha = 3)", None, r"unknown value 3 for argument 'alpha'"),
    ("y ~ x + kin(1 | animal, pedigree = ped, matrix = A)", None,
     r"kin\(\) takes only one of pedigree, matrix"),
    ("y ~ x + ar1(time)", None, r"ar1\(\) wraps a random-effect term, but 'ar1\(time\)' has no '\|'"),
    # cov mapping
    ("y ~ x + (1 | time)", {"time": "ar2"}, r"unknown covariance structure 'ar2' in cov=\{'time': 'ar2'\}"),
    ("y ~ x + (1 | time)", {"site": "ar1"}, r"cov=\{'site': 'ar1'\} matches no random-effect term.*'time'"),
    ("y ~ x + ar1(1 | time)", {"time": "kin"}, r"cov=\{'time': 'kin'\} matches no random-effect term"),
    ("y ~ x + (1 | site)", {"site": "gp"}, r"gp\(\) needs argument 'coords' in cov=\{'site': 'gp'\}.*wrapper in the formula"),
    # fixed part rejected by formulaic's parser
    ("y ~ x %in% + z", None, r"ends with operator '%in%'"),
]


@pytest.mark.parametrize("formula, cov_map, pattern", BAD, ids=[repr(row[0]) for row in BAD])
def test_malformed_formula_names_the_problem(formula, cov_map, pattern):
    with pytest.raises(FormulaError, match=pattern):
        parse_formula(formula, cov=cov_map)


def test_at_least_twelve_malformed_rows():
    assert len(BAD) >= 12


def test_formula_error_is_a_tabmix_error():
    with pytest.raises(TabmixError):
        parse_formula("y ~ (1 | )")


def test_non_string_formula():
    with pytest.raises(FormulaError, match="must be a string"):
        parse_formula(None)  # type: ignore[arg-type]


def test_message_quotes_the_term_with_normalized_spaces():
    with pytest.raises(FormulaError) as info:
        parse_formula("y ~ x + foo(1|g)")
    assert "'foo(1 | g)'" in str(info.value)
    assert re.search(r"known|wrapped in", str(info.value))
