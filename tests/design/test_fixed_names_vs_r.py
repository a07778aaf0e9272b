"""Fixed-effect column names and values against R's ``model.matrix``."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pandas as pd
import pytest

import r_helpers
from tabmixr.design.model_matrix import ModelMatrixEncoding

# (formula for tabmixr, formula for R, R contrasts.arg or "")
TABLE = [
    ("1 + x", "~ x", ""),
    ("0 + x", "~ 0 + x", ""),
    ("x - 1", "~ x - 1", ""),
    ("1 + f", "~ f", ""),
    ("0 + f", "~ 0 + f", ""),
    ("1 + x*f", "~ x*f", ""),
    ("1 + f*g", "~ f*g", ""),
    ("1 + f:g", "~ f:g", ""),
    ("0 + f + g", "~ 0 + f + g", ""),
    ("0 + x:f + g", "~ 0 + x:f + g", ""),
    ("z:x + x", "~ z:x + x", ""),
    ("1 + f + f:x", "~ f + f:x", ""),
    ("1 + f/g", "~ f/g", ""),
    ("(f + g + x)**2", "~ (f + g + x)^2", ""),
    ("1 + x + I(x * z)", "~ x + I(x * z)", ""),
    ("1 + I(x^2)", "~ I(x^2)", ""),
    ("1 + log(n + 1)", "~ log(n + 1)", ""),
    ("1 + poly(x, 2)", "~ poly(x, 2)", ""),
    ("1 + poly(x, 3):g", "~ poly(x, 3):g", ""),
    ("1 + C(f, Sum)", "~ f", "list(f = 'contr.sum')"),
    ("1 + C(f, Helmert) + x", "~ f + x", "list(f = 'contr.helmert')"),
    ("1 + C(f, Sum):x + x", "~ f:x + x", "list(f = 'contr.sum')"),
    ("1 + l + f", "~ l + f", ""),
    ("1 + o", "~ o", ""),
    ("1 + x + offset(z)", "~ x + offset(z)", ""),
    ("1 + x:z:f + z + x", "~ x:z:f + z + x", ""),
]


@pytest.fixture(scope="module")
def toy_data(toy):
    """The toy data frame (module scope)."""
    return toy()


@pytest.fixture(scope="module")
def r_matrices(toy_data):
    """Every R model matrix of TABLE: list of (names, values)."""
    data = toy_data
    with tempfile.TemporaryDirectory(prefix="tabmixr-design-") as tmp:
        path = os.path.join(tmp, "toy.csv")
        out = data.copy()
        out["l"] = np.where(out["l"], "TRUE", "FALSE")
        out.to_csv(path, index=False)
        formulas = ", ".join(f"list({r_helpers._r_string(r)}, {c or 'NULL'})" for _, r, c in TABLE)
        expr = f"""
        d <- read.csv({r_helpers._r_string(path)}, stringsAsFactors = TRUE)
        d$l <- as.logical(d$l)
        d$o <- factor(as.character(d$o), levels = c("lo", "mid", "hi"), ordered = TRUE)
        lapply(list({formulas}), function(spec) {{
          mm <- model.matrix(stats::as.formula(spec[[1]]), d, contrasts.arg = spec[[2]])
          list(names = I(colnames(mm)), values = unname(mm))
        }})
        """
        return r_helpers.r_json(expr)


@r_helpers.needs_r
@pytest.mark.parametrize("k", range(len(TABLE)), ids=[t[0] for t in TABLE])
def test_names_and_values_match_r(k, r_matrices, toy_data):
    formula = TABLE[k][0]
    enc, X = ModelMatrixEncoding.fit(formula, toy_data, "fixed part")
    ref = r_matrices[k]
    assert list(enc.columns) == list(ref["names"])
    R = np.asarray(ref["values"], dtype=float).reshape(len(toy_data), -1)
    if formula.startswith("1 + poly") or "poly(" in formula:
        # orthogonal polynomials agree up to the sign of each column
        signs = np.sign(np.sum(X * R, axis=0))
        X = X * signs
    np.testing.assert_allclose(X, R, rtol=1e-10, atol=1e-10)


def test_table_is_large_enough():
    assert len(TABLE) >= 12


def test_offset_is_not_a_column(toy):
    enc, X = ModelMatrixEncoding.fit("1 + x + offset(z)", toy(), "fixed part")
    assert enc.columns == ("(Intercept)", "x")
    assert enc.offsets == ("z",)


def test_categorical_pandas_order_is_reference(toy):
    data = toy()
    data["f"] = pd.Categorical(data["f"], categories=["c", "a", "b"])
    enc, _ = ModelMatrixEncoding.fit("1 + f", data, "fixed part")
    assert enc.columns == ("(Intercept)", "fa", "fb")
