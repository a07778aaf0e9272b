"""to_dict / from_dict / save / load."""

import json

import numpy as np
import pytest

from results_helpers import SleepEncoding
from tabmixr.errors import SerializationError
from tabmixr.results import MixedFit, UnavailableError, load
from tabmixr.results import serialization


def _assert_same_fit(a, b):
    assert str(a.summary()) == str(b.summary())
    for name in ("beta", "vcov_beta", "theta", "y", "X", "fitted"):
        np.testing.assert_array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name)))
    for s, t in zip(a.terms, b.terms):
        assert (s.group, s.columns, s.levels) == (t.group, t.columns, t.levels)
        for name in ("cov", "b", "cond_var", "X", "codes"):
            np.testing.assert_array_equal(getattr(s, name), getattr(t, name))
    assert (a.sigma, a.nobs, a.reml, a.singular, a.messages) == (b.sigma, b.nobs, b.reml,
                                                                b.singular, b.messages)


@pytest.fixture
def sleep_loader(monkeypatch):
    monkeypatch.setitem(serialization.ENCODING_LOADERS, "SleepEncoding", SleepEncoding.from_dict)


@pytest.mark.parametrize("name", ["penicillin", "weighted", "singular", "tri", "cake"])
def test_round_trip_through_json(fits, name, sleep_loader):
    fit = fits(name)
    d = json.loads(json.dumps(fit.to_dict()))
    assert d["schema_version"] == 1 and d["kind"] == "MixedFit"
    _assert_same_fit(fit, MixedFit.from_dict(d))


def test_round_trip_keeps_optional_arrays_and_extra(fits, sleep_loader):
    fit = fits("weighted")
    fit.extra["draws"] = np.arange(6.0).reshape(2, 3)
    fit.extra["refit_ml"] = lambda: fit
    d = fit.to_dict()
    assert d["dropped_extra"] == ["refit_ml"]
    back = MixedFit.from_dict(json.loads(json.dumps(d)))
    np.testing.assert_array_equal(back.weights, fit.weights)
    np.testing.assert_array_equal(back.offset, fit.offset)
    np.testing.assert_array_equal(back.extra["draws"], fit.extra["draws"])
    assert "refit_ml" not in back.extra and back.extra["weights_name"] == "w"


def test_encoding_round_trip_through_loader(fits, lme4_json, sleep_loader):
    fit = fits("sleep_reml")
    back = MixedFit.from_dict(json.loads(json.dumps(fit.to_dict())))
    assert isinstance(back.encoding, SleepEncoding)
    import pandas as pd
    nd = pd.DataFrame(lme4_json["sleep_reml"]["expected"]["newdata"])
    np.testing.assert_allclose(back.predict(nd, allow_new_levels=True),
                               lme4_json["sleep_reml"]["expected"]["predict_newdata"])


def test_unknown_encoding_type_loads_without_encoding(fits, lme4_json):
    d = fits("sleep_reml").to_dict()
    with pytest.warns(UserWarning, match="unknown encoding type 'SleepEncoding'"):
        back = MixedFit.from_dict(d)
    assert back.encoding == d["encoding"]
    assert back.to_dict()["encoding"] == d["encoding"]  # re-saved unchanged
    import pandas as pd
    nd = pd.DataFrame(lme4_json["sleep_reml"]["expected"]["newdata"])
    with pytest.raises(UnavailableError, match="encoding"):
        back.predict(nd)
    np.testing.assert_allclose(back.predict(), fits("sleep_reml").fitted)


def test_encoding_without_to_dict(fits):
    fit = fits("penicillin")
    fit.encoding = object()
    with pytest.raises(SerializationError, match="no to_dict"):
        fit.to_dict()


@pytest.mark.parametrize("suffix", [".json", ".json.gz"])
def test_save_and_load(fits, tmp_path, suffix, sleep_loader):
    fit = fits("tri")
    path = tmp_path / f"fit{suffix}"
    fit.save(path)
    if suffix.endswith(".gz"):
        assert path.read_bytes()[:2] == b"\x1f\x8b"
    else:
        assert json.loads(path.read_text())["schema_version"] == 1
    _assert_same_fit(fit, load(path))


def test_from_dict_errors(fits, tmp_path):
    d = fits("penicillin").to_dict()
    with pytest.raises(SerializationError, match="schema_version 2"):
        MixedFit.from_dict({**d, "schema_version": 2})
    with pytest.raises(SerializationError, match="schema_version None"):
        MixedFit.from_dict({k: v for k, v in d.items() if k != "schema_version"})
    with pytest.raises(SerializationError, match="'beta'"):
        MixedFit.from_dict({k: v for k, v in d.items() if k != "beta"})
    with pytest.raises(SerializationError, match="kind"):
        MixedFit.from_dict({**d, "kind": "brmsfit"})
    with pytest.raises(SerializationError, match="malformed"):
        MixedFit.from_dict({**d, "beta": [1.0, 2.0, 3.0]})
    with pytest.raises(SerializationError, match="expected a dict"):
        MixedFit.from_dict([1])
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SerializationError, match="cannot read"):
        load(bad)
    with pytest.raises(SerializationError, match="cannot read"):
        load(tmp_path / "missing.json")
