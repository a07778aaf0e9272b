"""Bars found by ``parse_formula`` against lme4's ``findbars(expandDoubleVerts(f))``.

lme4 writes nested groups inner-first (``(1 | a/b)`` gives ``b:a`` then ``a``),
while tabmixr writes them outer-first as ``a``, ``a:b``; so each group is
compared as the set of its variables, and the terms as a multiset.  Runs
through rpy2 or Rscript (``r_helpers``); skipped cleanly without R and lme4.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from r_helpers import needs_r, r_json

from tabmixr.formula import parse_formula

FORMULAS = [
    "Reaction ~ Days + (Days | Subject)",
    "Reaction ~ Days + (Days || Subject)",
    "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)",
    "y ~ x",
    "y ~ 0 + x + (1 | g)",
    "y ~ x + (x + z || g)",
    "y ~ x + (0 + x || g)",
    "y ~ x + (x - 1 + z || g)",
    "y ~ (x*z || g)",
    "y ~ x + (x || a/b)",
    "y ~ x + (1 | a/b)",
    "y ~ x + (1 | a/b/c)",
    "y ~ x + (1 | a:b)",
    "y ~ x + (1 | a/b:c)",
    "y ~ x + (1 | a) + (1 | b)",
    "y ~ x + (x | g) + (1 | h) + (1 | g:h)",
    "diameter ~ 1 + (1 | plate) + (1 | sample)",
    "y ~ (1 | g) - 1",
    "cbind(s, n - s) ~ period + (1 | herd)",
]

R_CODE = """
fs <- jsonlite::fromJSON({formulas})
lapply(fs, function(s) {{
  bars <- lme4::findbars(lme4:::expandDoubleVerts(stats::as.formula(s)))
  I(vapply(bars, function(b) paste(deparse(b[[3]]), collapse = ""), ""))
}})
"""


def _group_key(group: str) -> frozenset[str]:
    """Variables of a group, however lme4 brackets and orders them."""
    return frozenset(part for part in group.replace("(", "").replace(")", "").split(":"))


@pytest.fixture(scope="module")
def lme4_groups() -> list[list[str]]:
    """lme4's grouping text of every bar, per formula (one R call for all)."""
    code = R_CODE.format(formulas=json.dumps(json.dumps(FORMULAS)))
    return r_json(code)


@needs_r
@pytest.mark.parametrize("index", range(len(FORMULAS)), ids=FORMULAS)
def test_bars_match_lme4(index, lme4_groups):
    expected = lme4_groups[index]
    spec = parse_formula(FORMULAS[index])
    assert len(spec.random) == len(expected)
    assert (Counter(frozenset(t.group_vars) for t in spec.random)
            == Counter(_group_key(g) for g in expected))
