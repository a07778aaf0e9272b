"""Shared pytest set-up for the tabmixr suite.

* ``@pytest.mark.needs_r`` (or ``from r_helpers import needs_r``): the test
  compares against live R and is skipped cleanly when R, lme4 or jsonlite is
  missing.  The ``needs_r`` fixture does the same for fixture-style use.
* ``lme4_reference``: session fixture returning :func:`r_helpers.lmer_reference`.
* R is probed lazily, only when a test that needs it runs.
"""

from __future__ import annotations

import pytest

import r_helpers


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("needs_r") is not None and not r_helpers.r_available():
        pytest.skip(r_helpers.SKIP_REASON)


def pytest_report_header(config: pytest.Config) -> str:
    return "tabmixr: live R comparisons are probed on first use (TABMIXR_R_BACKEND=rpy2|rscript|none)"


@pytest.fixture(name="needs_r")
def needs_r_fixture() -> None:
    """Skip the requesting test unless live R with lme4 is available."""
    if not r_helpers.r_available():
        pytest.skip(r_helpers.SKIP_REASON)


@pytest.fixture(scope="session")
def lme4_reference():
    """:func:`r_helpers.lmer_reference`, after checking that R is available."""
    if not r_helpers.r_available():
        pytest.skip(r_helpers.SKIP_REASON)
    return r_helpers.lmer_reference
