"""Family lookup: names, aliases and R family objects -> ``Family`` instances.

``get_family`` accepts

- a name or alias (``"poisson"``, ``"bernoulli"``, ``"Gamma"``, ``"zip"``,
  ``"cumulative"``, ``"student"``, ``"negbinomial"``, MASS's
  ``"Negative Binomial(1.5)"``, ...); case, spaces, dots and dashes do not matter;
- a dict ``{"family": ..., "link": ...}``, which is what the R package sends
  for an R family object (``family$family``, ``family$link``), so R's link is
  kept (``Gamma()`` is inverse-link, ``Gamma(link = "log")`` log-link);
- a ``Family`` instance, returned as it is.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

from tabmixr.errors import FamilyError
from tabmixr.families.base import Family
from tabmixr.families.beta import BetaFamily
from tabmixr.families.binomial import Binomial
from tabmixr.families.categories import Categorical, Ordinal
from tabmixr.families.common import LinkFamily
from tabmixr.families.continuous import Gaussian, LogNormal, StudentT
from tabmixr.families.counts import NegativeBinomial, Poisson, ZeroInflatedPoisson
from tabmixr.families.positive import Exponential, GammaFamily, Weibull

#: Canonical name -> family class.
FAMILIES: dict[str, type[LinkFamily]] = {
    cls.name: cls for cls in (Gaussian, StudentT, Binomial, Poisson, NegativeBinomial, GammaFamily, LogNormal,
                              BetaFamily, Exponential, Weibull, Ordinal, Categorical, ZeroInflatedPoisson)
}

#: Normalized alias -> canonical name (canonical names map to themselves too).
ALIASES: dict[str, str] = {
    **{name: name for name in FAMILIES},
    "normal": "gaussian",
    "student": "student_t", "t": "student_t", "studentt": "student_t",
    "bernoulli": "binomial",
    "negbinomial": "negative_binomial", "negbin": "negative_binomial", "nb": "negative_binomial",
    "negativebinomial": "negative_binomial",
    "log_normal": "lognormal",
    "cumulative": "ordinal", "ordered": "ordinal",
    "multinomial": "categorical", "multinom": "categorical",
    "zip": "zero_inflated_poisson", "zeroinflatedpoisson": "zero_inflated_poisson",
}

_R_DICT_KEYS = ("family", "link")


def normalize_name(name: str) -> str:
    """Lower case, separators as ``_``, a trailing ``(...)`` dropped (MASS's ``Negative Binomial(2)``)."""
    name = re.sub(r"\(.*\)\s*$", "", name.strip())
    return re.sub(r"[\s.\-]+", "_", name.strip()).lower()


def family_names(aliases: bool = False) -> tuple[str, ...]:
    """Canonical family names in registry order (with every alias too when ``aliases``)."""
    return tuple(ALIASES) if aliases else tuple(FAMILIES)


def _family_class(name: str) -> type[LinkFamily]:
    if not isinstance(name, str):
        raise FamilyError(f"a family name must be a string, not {type(name).__name__}")
    canonical = ALIASES.get(normalize_name(name))
    if canonical is None:
        close = difflib.get_close_matches(normalize_name(name), list(ALIASES), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        raise FamilyError(f"unknown family {name!r}{hint}; valid families: {', '.join(map(repr, FAMILIES))} "
                          f"(aliases: {', '.join(repr(a) for a in ALIASES if a not in FAMILIES)})")
    return FAMILIES[canonical]


def get_family(family: str | Mapping | Family, link: str | None = None) -> Family:
    """The ``Family`` for a name, an R family dict or an instance.

    Args:
        family: Name or alias, ``{"family": name, "link": link}``, or a ``Family``.
        link: Link name; ``None`` keeps the dict's link or the family's default.

    Returns:
        A ``Family`` instance.

    Raises:
        FamilyError: Unknown family, a link the family does not support, a
            dict with other keys or without ``"family"``, or a ``link`` that
            contradicts the dict's or the instance's link.
    """
    if isinstance(family, Family):
        if link is not None and link != family.link:
            raise FamilyError(f"family {family.name!r} was given with link {family.link!r}, "
                              f"but link={link!r} was asked for")
        return family
    if isinstance(family, Mapping):
        extra = [k for k in family if k not in _R_DICT_KEYS]
        if "family" not in family or extra:
            raise FamilyError(f"a family dict needs the key 'family' and may have 'link', got keys "
                              f"{', '.join(map(repr, family))}")
        given = family.get("link")
        if given is not None and link is not None and given != link:
            raise FamilyError(f"family {family['family']!r} has link {given!r} in the dict but link={link!r} "
                              f"was asked for")
        return _family_class(family["family"])(given if given is not None else link)
    return _family_class(family)(link)
