"""get_family: names, aliases, R family dicts, links and errors."""

from __future__ import annotations

import pytest
from r_helpers import needs_r, r_json

from tabmixr.errors import EngineError, FamilyError, TabmixError
from tabmixr.families import Family, family_names, get_family

MAPPING = [
    # (what is asked for, link argument, canonical name, link)
    ("gaussian", None, "gaussian", "identity"),
    ("normal", None, "gaussian", "identity"),
    ("gaussian", "log", "gaussian", "log"),
    ("student", None, "student_t", "identity"),
    ("student_t", None, "student_t", "identity"),
    ("bernoulli", None, "binomial", "logit"),
    ("binomial", "probit", "binomial", "probit"),
    ("binomial", "cloglog", "binomial", "cloglog"),
    ("poisson", None, "poisson", "log"),
    ("poisson", "sqrt", "poisson", "sqrt"),
    ("negbinomial", None, "negative_binomial", "log"),
    ("negative_binomial", None, "negative_binomial", "log"),
    ("Negative Binomial(1.5)", None, "negative_binomial", "log"),
    ("Gamma", None, "gamma", "inverse"),
    ("gamma", "log", "gamma", "log"),
    ("lognormal", None, "lognormal", "identity"),
    ("beta", None, "beta", "logit"),
    ("Beta", None, "beta", "logit"),
    ("exponential", None, "exponential", "log"),
    ("weibull", None, "weibull", "log"),
    ("ordinal", None, "ordinal", "logit"),
    ("cumulative", None, "ordinal", "logit"),
    ("categorical", None, "categorical", "logit"),
    ("multinomial", None, "categorical", "logit"),
    ("zip", None, "zero_inflated_poisson", "log"),
    ("zero_inflated_poisson", None, "zero_inflated_poisson", "log"),
    ("zero-inflated poisson", None, "zero_inflated_poisson", "log"),
    # R family objects as the R package sends them (family$family, family$link)
    ({"family": "gaussian", "link": "identity"}, None, "gaussian", "identity"),
    ({"family": "binomial", "link": "logit"}, None, "binomial", "logit"),
    ({"family": "binomial", "link": "probit"}, None, "binomial", "probit"),
    ({"family": "poisson", "link": "log"}, None, "poisson", "log"),
    ({"family": "Gamma", "link": "inverse"}, None, "gamma", "inverse"),
    ({"family": "Gamma", "link": "log"}, None, "gamma", "log"),
    ({"family": "Negative Binomial(2)", "link": "log"}, None, "negative_binomial", "log"),
    ({"family": "poisson"}, "identity", "poisson", "identity"),
]


@pytest.mark.parametrize("asked, link, name, want_link", MAPPING, ids=[str(m[0]) for m in MAPPING])
def test_get_family_mapping(asked, link, name, want_link):
    family = get_family(asked, link)
    assert isinstance(family, Family)
    assert (family.name, family.link) == (name, want_link)


def test_family_names_lists_every_family_once():
    names = family_names()
    assert len(names) == len(set(names)) == 13
    for name in names:
        assert get_family(name).name == name
    assert "bernoulli" in family_names(aliases=True)


def test_instance_is_returned_as_is():
    family = get_family("poisson")
    assert get_family(family) is family
    assert get_family(family, "log") is family
    with pytest.raises(FamilyError, match="link='sqrt' was asked for"):
        get_family(family, "sqrt")


def test_families_compare_by_name_and_link():
    assert get_family("Gamma") == get_family({"family": "Gamma", "link": "inverse"})
    assert get_family("Gamma") != get_family("Gamma", "log")
    assert len({get_family("zip"), get_family("zero_inflated_poisson")}) == 1


ERRORS = [
    (("poison",), "unknown family 'poison' (did you mean 'poisson'?); valid families: 'gaussian'"),
    (("quasipoisson",), "unknown family 'quasipoisson'"),
    (("binomial", "log"), "family 'binomial' does not support link 'log'; valid links: 'logit', 'probit', "
                          "'cloglog'"),
    (({"family": "binomial", "link": "cauchit"},), "family 'binomial' does not support link 'cauchit'"),
    (("Gamma", "sqrt"), "family 'gamma' does not support link 'sqrt'; valid links: 'inverse', 'log', 'identity'"),
    (("ordinal", "probit"), "family 'ordinal' does not support link 'probit'; valid links: 'logit'"),
    (({"family": "Gamma", "link": "log"}, "identity"), "has link 'log' in the dict but link='identity'"),
    (({"link": "log"},), "a family dict needs the key 'family'"),
    (({"family": "poisson", "linkinv": "exp"},), "got keys 'family', 'linkinv'"),
    ((3,), "a family name must be a string, not int"),
]


@pytest.mark.parametrize("args, message", ERRORS, ids=[str(e[0]) for e in ERRORS])
def test_get_family_errors(args, message):
    with pytest.raises(FamilyError) as info:
        get_family(*args)
    assert message in str(info.value)
    assert isinstance(info.value, EngineError) and isinstance(info.value, TabmixError)


@needs_r
def test_r_family_objects_map_with_their_links():
    """The dicts R itself produces for its family objects, straight from live R."""
    r_families = r_json("lapply(list(gaussian(), binomial(), binomial(link = 'probit'), binomial(link = 'cloglog'),"
                        " poisson(), poisson(link = 'sqrt'), Gamma(), Gamma(link = 'log'), "
                        "Gamma(link = 'identity'), MASS::negative.binomial(2)), "
                        "function(f) list(family = f$family, link = f$link))")
    got = [(get_family(f).name, get_family(f).link) for f in r_families]
    assert got == [("gaussian", "identity"), ("binomial", "logit"), ("binomial", "probit"),
                   ("binomial", "cloglog"), ("poisson", "log"), ("poisson", "sqrt"), ("gamma", "inverse"),
                   ("gamma", "log"), ("gamma", "identity"), ("negative_binomial", "log")]
    with pytest.raises(FamilyError, match="valid links"):
        get_family(r_json("list(family = binomial('cauchit')$family, link = binomial('cauchit')$link)"))
