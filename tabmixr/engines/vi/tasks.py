"""Responses and families: one task per response (multitask for several).

``family`` may be a name, a dict from R (``{"family": ..., "link": ...}``),
a ``Family``, or a list of these (one per column of ``cbind(y1, y2, ...)``).
A single non-binomial family with a multi-column response is used for every
column; ``binomial`` with two columns is one task (successes, failures).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tabmixr.design.response import response_parts
from tabmixr.errors import EngineError
from tabmixr.families.base import Family, PreparedResponse


def resolve_family(family: Any, link: str | None = None) -> Family:
    """A ``Family`` from a name, an R dict or a ``Family``.

    Raises:
        EngineError: the families package is not available.
        TabmixError: unknown family or link (from ``get_family``).
    """
    if isinstance(family, Family):
        return family
    try:
        from tabmixr.families import get_family
    except ImportError as err:
        raise EngineError(f"family {family!r}: the families package is not available ({err})") from None
    return get_family(family, link=link)


@dataclass
class Task:
    """One response with its family.

    Attributes:
        name: Response name (a ``cbind`` part or the response text).
        family: The family.
        prepared: The prepared response.
        column: Column of ``design.y`` used (``None``: all of it).
    """

    name: str
    family: Family
    prepared: PreparedResponse
    column: int | None

    def spec(self) -> dict[str, Any]:
        """Plain description (saved with the fit; rebuilds the family on load)."""
        return {"name": self.name, "family": self.family.name, "link": self.family.link,
                "n_eta": int(self.prepared.n_eta), "levels": [str(v) for v in self.prepared.levels],
                "column": self.column}


def make_tasks(design, family: Any) -> list[Task]:
    """Split the response into tasks and prepare each with its family.

    Raises:
        EngineError: a one-sided formula, or a family list whose length does
            not match the response columns.
        ResponseError: a response outside its family's support (from ``prepare``).
    """
    if design.y is None:
        raise EngineError("method 'vi' needs a response (the formula is one-sided)")
    y = np.asarray(design.y)
    parts = response_parts(design.response_name)
    if isinstance(family, (list, tuple)):
        families = [resolve_family(f) for f in family]
        if y.ndim != 2 or y.shape[1] != len(families):
            width = 1 if y.ndim == 1 else y.shape[1]
            raise EngineError(f"{len(families)} families given for the response "
                              f"{design.response_name!r} with {width} column(s); give one family "
                              "per cbind() column")
        return [Task(parts[k], f, f.prepare(y[:, k], parts[k]), k) for k, f in enumerate(families)]
    fam = resolve_family(family)
    if y.ndim == 2 and fam.name != "binomial":
        return [Task(parts[k], fam, fam.prepare(y[:, k], parts[k]), k) for k in range(y.shape[1])]
    return [Task(design.response_name, fam, fam.prepare(y, design.response_name), None)]
