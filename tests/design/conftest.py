"""Fixtures for the design tests: hand-built specs and a small data frame.

The helpers are plain functions exposed as fixtures (``toy``, ``term``,
``spec``), because test folders are not importable packages here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabmixr.formula.spec import ModelSpec, RandomTerm


def make_term(lhs: str, group: str, text: str = "") -> RandomTerm:
    """A ``RandomTerm`` for ``(lhs | group)``; ``group`` may be ``"a:b"``."""
    return RandomTerm(lhs=lhs, group=group, group_vars=tuple(group.split(":")),
                      text=text or f"({lhs} | {group})")


def make_spec(response: str, fixed: str, *terms: RandomTerm) -> ModelSpec:
    """A ``ModelSpec`` built by hand (no parser involved)."""
    bars = " + ".join(t.text for t in terms)
    formula = f"{response} ~ {fixed}" + (f" + {bars}" if bars else "")
    return ModelSpec(formula=formula, response=response, fixed=fixed, random=tuple(terms))


def make_toy(n: int = 60, seed: int = 1) -> pd.DataFrame:
    """Numeric x, z, n > 0; factors f (a, b, c), g (u, v); logical l; ordered o; groups."""
    rng = np.random.default_rng(seed)
    f = np.array(list("abc"))[np.arange(n) % 3]
    g = np.array(list("uv"))[(np.arange(n) // 3) % 2]
    return pd.DataFrame({
        "y": rng.normal(size=n),
        "x": rng.normal(size=n),
        "z": rng.normal(size=n),
        "n": rng.integers(1, 20, size=n).astype(float),
        "f": f,
        "g": g,
        "l": rng.normal(size=n) > 0,
        "o": pd.Categorical(np.array(["lo", "mid", "hi"])[rng.integers(0, 3, size=n)],
                            categories=["lo", "mid", "hi"], ordered=True),
        "subj": np.repeat(np.arange(1, n // 6 + 1) * 10, 6)[:n],
        "site": np.array(["s1", "s2", "s3", "s4"])[np.arange(n) % 4],
    })


@pytest.fixture(name="toy", scope="session")
def toy_fixture():
    """``make_toy`` (call it: ``toy()`` or ``toy(n=120)``)."""
    return make_toy


@pytest.fixture(name="term", scope="session")
def term_fixture():
    """``make_term``."""
    return make_term


@pytest.fixture(name="spec", scope="session")
def spec_fixture():
    """``make_spec``."""
    return make_spec
