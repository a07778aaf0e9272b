"""What the concrete families share: link choice, equality, shapes and samplers.

``LinkFamily`` adds to the abstract ``Family`` the list of links a family
accepts and its default (R's, or brms's where R has no such family), checks a
requested link, and gives helpers every family uses.  The samplers draw with
an explicit ``torch.Generator`` (``torch.distributions`` cannot take one), so
``simulate`` is reproducible without touching the global seed.
"""

from __future__ import annotations

import torch

from tabmixr.errors import FamilyError
from tabmixr.families.base import Family
from tabmixr.families.links import LINKS, Link

Tensor = torch.Tensor


class LinkFamily(Family):
    """A family with a choice of link.

    Class attributes:
        links: Links the family accepts, default first.
        aux_names: Names of the constrained family parameters (``aux_values`` keys).

    Args:
        link: Link name; ``None`` takes the default (``links[0]``).

    Raises:
        FamilyError: The family does not support ``link``.
    """

    links: tuple[str, ...] = ()
    aux_names: tuple[str, ...] = ()
    #: The mean lives on (0, inf).  With a link whose range is wider (identity,
    #: inverse, sqrt) ``mu`` is then clamped at ``mu_floor`` (``tiny ** 0.25``:
    #: about 1e-77 in float64, 3e-10 in float32), so outside its range the
    #: log-likelihood is very low but finite (``y / mu`` cannot overflow)
    #: instead of NaN or a reward.  The log link needs no clamp.
    positive_mean: bool = False
    #: What ``build_design(..., response_kind=...)`` must keep for this family:
    #: ``"numeric"``, or ``"categorical"`` (strings/factors kept as they are).
    response_kind: str = "numeric"
    #: The family's own parameters absorb a fixed intercept (the cut points of
    #: a cumulative model): the design drops ``(Intercept)``, as ``ordinal::clmm``
    #: and ``MASS::polr`` do, instead of fitting a direction the likelihood
    #: cannot see.
    absorbs_intercept: bool = False

    def __init__(self, link: str | None = None):
        link = self.links[0] if link is None else link
        if link not in self.links:
            raise FamilyError(f"family {self.name!r} does not support link {link!r}; "
                              f"valid links: {', '.join(map(repr, self.links))}")
        self.link = link

    @property
    def default_link(self) -> str:
        """The link used when none is asked for."""
        return self.links[0]

    @property
    def link_functions(self) -> Link:
        """The ``Link`` object of this family's link."""
        return LINKS[self.link]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(link={self.link!r})"

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.link == self.link

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.link))

    def mu(self, eta: Tensor) -> Tensor:
        """The mean parameter ``g^{-1}(eta)`` of a one-predictor family, ``(n,)``."""
        mu = self.link_functions.inverse(eta_vector(eta))
        if self.positive_mean and self.link != "log":
            mu = torch.clamp(mu, min=mu_floor(mu))
        return mu

    def log_mu(self, eta: Tensor) -> Tensor:
        """``log(g^{-1}(eta))``, computed stably (``eta`` itself for the log link), ``(n,)``."""
        if self.positive_mean and self.link != "log":
            return torch.log(self.mu(eta))
        return self.link_functions.log_inverse(eta_vector(eta))


def mu_floor(like: Tensor) -> float:
    """Smallest mean a positive-mean family uses with a non-log link (see ``positive_mean``)."""
    return torch.finfo(like.dtype).tiny ** 0.25


def eta_vector(eta: Tensor) -> Tensor:
    """A one-predictor ``eta`` as a vector: ``(n, 1)`` or ``(n,)`` -> ``(n,)``.

    Raises:
        FamilyError: ``eta`` has more than one column.
    """
    if eta.dim() == 2:
        if eta.shape[1] != 1:
            raise FamilyError(f"this family takes one linear predictor per row, got eta of shape {tuple(eta.shape)}")
        return eta[:, 0]
    return eta


def as_float(y: Tensor, like: Tensor) -> Tensor:
    """``y`` in the dtype and on the device of ``like``."""
    return y.to(dtype=like.dtype, device=like.device)


def check_aux(aux: dict[str, Tensor], keys: tuple[str, ...], family: str) -> None:
    """Raise ``FamilyError`` when an unconstrained parameter is missing."""
    missing = [k for k in keys if k not in aux]
    if missing:
        raise FamilyError(f"family {family!r} needs the parameter(s) {', '.join(map(repr, missing))} in aux; "
                          f"start from family.aux_init(prepared)")


# --- sampling with an explicit generator -------------------------------------------------

def standard_normal(like: Tensor, generator: torch.Generator | None) -> Tensor:
    """N(0, 1) draws shaped like ``like``."""
    return torch.randn(like.shape, dtype=like.dtype, device=like.device, generator=generator)


def standard_uniform(like: Tensor, generator: torch.Generator | None) -> Tensor:
    """U(0, 1) draws shaped like ``like``, kept away from exactly 0."""
    u = torch.rand(like.shape, dtype=like.dtype, device=like.device, generator=generator)
    return torch.clamp(u, min=torch.finfo(like.dtype).tiny)


def standard_exponential(like: Tensor, generator: torch.Generator | None) -> Tensor:
    """Exp(1) draws shaped like ``like``."""
    return torch.empty(like.shape, dtype=like.dtype, device=like.device).exponential_(generator=generator)


def standard_gamma(shape: Tensor, generator: torch.Generator | None) -> Tensor:
    """Gamma(shape, rate 1) draws, one per element of ``shape``."""
    return torch._standard_gamma(shape.detach(), generator=generator)


def poisson(rate: Tensor, generator: torch.Generator | None) -> Tensor:
    """Poisson(rate) draws."""
    return torch.poisson(rate.detach(), generator=generator)
