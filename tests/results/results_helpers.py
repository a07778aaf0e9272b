"""Helpers for tests/results: ``MixedFit`` objects built from lme4's own numbers.

``fixtures/lme4_fits.json`` is written by ``fixtures/make_fixtures.R``
(lme4 1.1-31); the tests need no R.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from tabmixr.errors import NewLevelError
from tabmixr.results import MixedFit, RandomTermFit

FIXTURES = Path(__file__).parent / "fixtures"
MODEL_NAMES = ("sleep_reml", "sleep_ml", "sleep_split", "sleep_split_ml", "quad", "penicillin",
               "pastes_nested", "singular", "tri", "weighted", "cake")


def as_list(x):
    """jsonlite writes length-1 vectors as scalars; undo that."""
    return x if isinstance(x, list) else [x]


class SleepEncoding:
    """Stand-in for ``DesignEncoding`` on sleepstudy models (columns 1, Days; Subject)."""

    def __init__(self, fixed_names, term_columns, levels, offset_column=None):
        self.fixed_names = list(fixed_names)
        self.term_columns = [list(c) for c in term_columns]
        self.levels = list(levels)
        self.offset_column = offset_column
        self.calls = []

    @staticmethod
    def _columns(names, data):
        days = np.asarray(data["Days"], dtype=float)
        known = {"(Intercept)": np.ones_like(days), "Days": days, "I(Days^2)": days ** 2}
        return np.column_stack([known[n] for n in names])

    def transform(self, newdata, terms, allow_new_levels=False):
        self.calls.append(list(terms))
        index = {lev: i for i, lev in enumerate(self.levels)}
        codes = np.array([index.get(str(s), -1) for s in newdata["Subject"]])
        if terms and not allow_new_levels and (codes < 0).any():
            raise NewLevelError("new levels of 'Subject'")
        new_terms = [None] * len(self.term_columns)
        for k in terms:
            new_terms[k] = SimpleNamespace(X=self._columns(self.term_columns[k], newdata),
                                           codes=codes)
        offset = (None if self.offset_column is None
                  else np.asarray(newdata[self.offset_column], dtype=float))
        return SimpleNamespace(X=self._columns(self.fixed_names, newdata), offset=offset,
                               terms=new_terms)

    def to_dict(self):
        return {"fixed_names": self.fixed_names, "term_columns": self.term_columns,
                "levels": self.levels, "offset_column": self.offset_column}

    @classmethod
    def from_dict(cls, d):
        return cls(d["fixed_names"], d["term_columns"], d["levels"], d["offset_column"])


def build_fit(d: dict) -> MixedFit:
    """A ``MixedFit`` holding lme4's estimates for fixture entry ``d``."""
    n = int(d["nobs"])
    fixed = as_list(d["fixed_names"])
    p = len(fixed)
    terms = []
    for t in as_list(d["terms"]):
        cols, levels = as_list(t["columns"]), as_list(t["levels"])
        q, L = len(cols), len(levels)
        terms.append(RandomTermFit(
            group=t["group"], columns=tuple(cols), levels=tuple(levels),
            cov=np.asarray(t["cov"], dtype=float).reshape(q, q),
            b=np.asarray(t["b"], dtype=float).reshape(L, q),
            cond_var=np.asarray(t["cond_var"], dtype=float).reshape(L, q, q),
            X=np.asarray(t["X"], dtype=float).reshape(n, q),
            codes=np.asarray(t["codes"], dtype=int)))
    weights = None if d.get("weights") is None else np.asarray(d["weights"], dtype=float)
    offset = None if d.get("offset") is None else np.asarray(d["offset"], dtype=float)
    extra = {"data_name": d["data_name"]}
    if weights is not None:
        extra["weights_name"] = "w"
    encoding = None
    if d["data_name"] == "sleepstudy" or d["data_name"] == "wsleep":
        encoding = SleepEncoding(fixed, [t.columns for t in terms], terms[0].levels,
                                 "off" if offset is not None else None)
    return MixedFit(
        method="reml" if d["reml"] else "ml", family="gaussian", formula=d["formula"],
        response_name=d["formula"].split("~")[0].strip(), fixed_names=tuple(fixed),
        beta=np.asarray(as_list(d["beta"]), dtype=float),
        vcov_beta=np.asarray(d["vcov"], dtype=float).reshape(p, p), terms=terms,
        sigma=float(d["sigma"]), theta=np.asarray(as_list(d["theta"]), dtype=float),
        criterion=float(d["criterion"]), reml=bool(d["reml"]), nobs=n,
        y=np.asarray(d["y"], dtype=float), X=np.asarray(d["X"], dtype=float).reshape(n, p),
        weights=weights, offset=offset, fitted=np.asarray(d["fitted"], dtype=float),
        encoding=encoding, optimizer={"optimizer": "nloptwrap", "converged": True},
        singular=bool(d["singular"]), messages=list(as_list(d.get("fit_messages") or [])),
        fit_time=0.5, extra=extra)



def load_json(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def r_matrix(entry) -> pd.DataFrame:
    """A ``mat_list`` entry of the fixture as a DataFrame."""
    rows, cols = as_list(entry["rows"]), as_list(entry["cols"])
    values = np.array([[np.nan if v is None else v for v in row] for row in entry["values"]],
                      dtype=float).reshape(len(rows), len(cols))
    return pd.DataFrame(values, index=rows, columns=cols)
