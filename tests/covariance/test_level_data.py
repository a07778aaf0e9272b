"""Per-level data of structured terms (times, coordinates): read at design time, bad input refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tabmixr
from tabmixr.design import build_design
from tabmixr.errors import LevelDataError, TabmixError, UnknownColumnError
from tabmixr.formula import parse_formula


def _design(formula, df):
    return build_design(parse_formula(formula), df)


def _sites(n_sites=6, rows=3, seed=0):
    rng = np.random.default_rng(seed)
    site = np.repeat(np.arange(n_sites), rows)
    cx, cy = np.arange(n_sites, dtype=float)[site], (np.arange(n_sites) % 2).astype(float)[site]
    return pd.DataFrame({"y": rng.normal(size=len(site)), "site": site, "cx": cx, "cy": cy})


GP = 'y ~ 1 + gp(1 | site, coords = c(cx, cy), kernel = "matern32")'


def test_times_and_coordinates_come_in_level_order():
    df = pd.DataFrame({"y": np.arange(8.0), "time": ["10", "2", "1", "2", "10", "1", "3", "3"]})
    term = _design("y ~ 1 + ar1(1 | time)", df).terms[0]
    assert term.levels == ("1", "10", "2", "3")          # factor order (text)
    np.testing.assert_array_equal(term.level_data, [1.0, 10.0, 2.0, 3.0])  # their times
    dates = pd.DataFrame({"y": np.arange(4.0),
                          "day": pd.to_datetime(["2024-01-03", "2024-01-01", "2024-01-03", "2024-01-02"])})
    times = _design("y ~ 1 + arma(1 | day)", dates).terms[0].level_data
    np.testing.assert_allclose(np.diff(times), [1.0, 1.0])
    gp = _design(GP, _sites()).terms[0]
    np.testing.assert_array_equal(gp.level_data, np.c_[np.arange(6.0), np.arange(6) % 2])


@pytest.mark.parametrize("formula, column", [("y ~ 1 + ar1(1 | time)", "time"),
                                             ("y ~ 1 + arma(1 | time, p = 1, q = 1)", "time")])
def test_non_numeric_times_are_refused_naming_term_and_column(formula, column):
    df = pd.DataFrame({"y": np.arange(6.0), "time": list("aabbcc")})
    with pytest.raises(LevelDataError, match=rf"{formula.split('+ ')[1].split('(')[0]}\(1 \| time.*"
                                             rf"'{column}'.*'a'"):
        tabmixr.tabmix(formula, df, method="vi")


def test_two_levels_at_one_time_are_refused():
    df = pd.DataFrame({"y": np.arange(6.0), "time": ["1", "1.0", "2", "2", "3", "3"]})
    with pytest.raises(LevelDataError, match=r"ar1\(1 \| time\).*'1' and '1.0'.*same time"):
        tabmixr.tabmix("y ~ 1 + ar1(1 | time)", df, method="vi")


def test_time_structure_needs_one_grouping_column():
    df = pd.DataFrame({"y": np.arange(8.0), "a": list("aabbaabb"), "time": [1, 2] * 4})
    with pytest.raises(LevelDataError, match=r"single time column.*'a:time'"):
        tabmixr.tabmix("y ~ 1 + ar1(1 | a:time)", df, method="vi")


def test_arma_times_off_the_grid_are_refused_before_fitting():
    df = pd.DataFrame({"y": np.arange(8.0), "time": [0.0, 0.0, 1.0, 1.0, 2.3, 2.3, 3.0, 3.0]})
    with pytest.raises(LevelDataError, match="not on the grid"):
        tabmixr.tabmix("y ~ 1 + arma(1 | time, p = 1, q = 0)", df, method="vi")


def test_missing_coordinates_are_refused():
    df = _sites()
    df.loc[4, "cy"] = np.nan
    with pytest.raises(LevelDataError, match=r"gp\(1 \| site.*column 'cy' is missing.*1 row.*level '1'"):
        tabmixr.tabmix(GP, df, method="vi")


def test_coordinates_varying_within_a_level_are_refused():
    df = _sites()
    df.loc[7, "cx"] = 2.5
    with pytest.raises(LevelDataError, match=r"column 'cx' varies within level '2'"):
        tabmixr.tabmix(GP, df, method="vi")


def test_two_levels_at_the_same_place_are_refused():
    df = _sites()
    df.loc[df.site == 5, ["cx", "cy"]] = [0.0, 0.0]
    with pytest.raises(LevelDataError, match=r"levels '0' and '5' have the same coordinates.*cx=0"):
        tabmixr.tabmix(GP, df, method="vi")


def test_unknown_or_non_numeric_coordinate_columns_are_refused():
    with pytest.raises(UnknownColumnError, match="cz"):
        tabmixr.tabmix('y ~ 1 + gp(1 | site, coords = c(cx, cz))', _sites(), method="vi")
    df = _sites().assign(cy=lambda d: d.cy.map({0.0: "n", 1.0: "s"}))
    with pytest.raises(LevelDataError, match="'cy' is not numeric"):
        tabmixr.tabmix(GP, df, method="vi")


def test_rows_dropped_for_other_missing_values_do_not_count():
    df = _sites()
    df.loc[0, "y"] = np.nan        # dropped by na.omit: its coordinates are not checked
    df.loc[0, "cx"] = np.nan
    assert _design(GP, df).terms[0].level_data.shape == (6, 2)


def test_every_level_data_error_is_a_tabmix_error():
    assert issubclass(LevelDataError, TabmixError)
