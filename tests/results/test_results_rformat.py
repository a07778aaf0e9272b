"""R formatting helpers against R's own output (fixtures/r_format.json)."""

import pytest

from tabmixr.results.rformat import (abbreviate, deparse_formula, format_number, format_pval,
                                     format_real, print_matrix, print_named, zapsmall)


def test_format_real_matches_r(r_format_json):
    fmt = r_format_json["format"]
    checked = 0
    for values, outputs in zip(fmt["inputs"], fmt["outputs"]):
        values = values if isinstance(values, list) else [values]
        for out in outputs:
            digits = out["digits"][0]
            assert format_real(values, digits) == out["out"], (values, digits)
            assert format_real(values, digits, nsmall=2) == out["out_nsmall2"], (values, digits)
            checked += 1
    assert checked > 80


@pytest.mark.parametrize("minlength", [4, 6, 11])
def test_abbreviate_matches_r(r_format_json, minlength):
    ab = r_format_json["abbreviate"]
    assert abbreviate(ab["input"], minlength) == ab[f"m{minlength}"]


def test_format_pval_matches_r(r_format_json):
    pv = r_format_json["pval"]
    assert format_pval(pv["input"], 4) == pv["out"]
    assert format_pval([1e-20], 4) == ["< 2.2e-16"]
    assert format_pval([None, 0.5], 4) == ["NA", "0.5"]


def test_negative_zero_prints_without_sign():
    assert format_real([-0.0, 1.5], 3) == ["0.0", "1.5"]


def test_format_number_and_zapsmall():
    assert format_number(1743.6) == "1743.6"
    assert format_number(247.0) == "247"
    assert list(zapsmall([1e-12, 2.5], 7)) == [0.0, 2.5]


@pytest.mark.parametrize("text, expected", [
    ("Reaction~Days+(Days|Subject)", "Reaction ~ Days + (Days | Subject)"),
    ("y ~ -1 + x", "y ~ -1 + x"),
    ("y~x+(1|a/b)", "y ~ x + (1 | a/b)"),
    ("y ~ poly(x,2) + I(x^2) + (x||g)", "y ~ poly(x, 2) + I(x^2) + (x || g)"),
    ("y~0+x+a:b", "y ~ 0 + x + a:b"),
    ("~(1|Subject)", "~(1 | Subject)"),
])
def test_deparse_formula(text, expected):
    assert deparse_formula(text) == expected


def test_print_named_and_matrix_layout():
    assert print_named(["a", "bbb"], ["1", "22"]) == ["  a bbb ", "  1  22 "]
    assert print_matrix([["x", "1"]], ["row"], ["A", "BB"]) == ["    A BB", "row x 1 "]
    assert print_matrix([["x", "1"]], ["row"], ["A", "BB"], right=True) == ["    A BB",
                                                                          "row x  1"]
    wide = print_matrix([["1" * 30] * 4], ["r"], ["a", "b", "c", "d"])
    assert len(wide) == 4 and all(len(line) <= 80 for line in wide)
