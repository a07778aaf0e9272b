"""Fixtures for tests/results (see ``results_helpers``)."""

from __future__ import annotations

import pytest

from results_helpers import build_fit, load_json


@pytest.fixture(scope="session")
def lme4_json():
    return load_json("lme4_fits.json")


@pytest.fixture(scope="session")
def r_format_json():
    return load_json("r_format.json")


@pytest.fixture(scope="session")
def fits(lme4_json):
    """Name -> fresh ``MixedFit`` factory (tests may mutate their copy)."""
    ml_of = {"sleep_reml": "sleep_ml", "sleep_split": "sleep_split_ml"}

    def make(name: str):
        fit = build_fit(lme4_json[name])
        if name in ml_of:
            fit.extra["refit_ml"] = lambda: build_fit(lme4_json[ml_of[name]])
        return fit
    return make


