"""tabmix(..., cov={group: structure}): the same fit as the wrapper in the formula."""

import numpy as np
import pandas as pd
import pytest

import tabmixr
from tabmixr.errors import FormulaError


@pytest.fixture(scope="module")
def ar1_frame():
    rng = np.random.default_rng(0)
    T = 40
    b = np.zeros(T)
    for t in range(1, T):
        b[t] = 0.8 * b[t - 1] + 0.6 * rng.normal()
    t = np.repeat(np.arange(T), 3)
    return pd.DataFrame({"t": t.astype(float), "y": b[t] + 0.3 * rng.normal(size=len(t))})


def test_cov_mapping_fits_the_wrapped_model(ar1_frame):
    mapped = tabmixr.tabmix("y ~ 1 + (1 | t)", ar1_frame, method="vi", cov={"t": "ar1"})
    wrapped = tabmixr.tabmix("y ~ 1 + ar1(1 | t)", ar1_frame, method="vi")
    (s_mapped,), (s_wrapped,) = mapped.extra["structures"], wrapped.extra["structures"]
    assert s_mapped["covariance"] == "ar1"
    assert s_mapped["parameters"]["rho"] == pytest.approx(s_wrapped["parameters"]["rho"], rel=1e-8)
    np.testing.assert_allclose(mapped.beta, wrapped.beta, rtol=1e-8)


@pytest.mark.parametrize("cov, match", [
    ("ar1", "cov must be a dict"),
    ({"g": "ar1"}, r"cov=\{'g': 'ar1'\} matches no random-effect term"),
    ({"t": "gp"}, "needs argument 'coords'"),
])
def test_bad_cov_mapping_is_refused(ar1_frame, cov, match):
    with pytest.raises(FormulaError, match=match):
        tabmixr.tabmix("y ~ 1 + (1 | t)", ar1_frame, method="vi", cov=cov)
