"""``compare``: several fits of one model side by side.

Works on anything with the ``MixedFit`` accessors (``fixef()``,
``varcorr()``, ``loglik()``, ``fit_time``), so lme4 or brms results wrapped
in that interface can join later.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tabmixr.results.effects import unique_group_names
from tabmixr.results.errors import ArgumentError


def _column(fit) -> dict[tuple[str, str], float]:
    values: dict[tuple[str, str], float] = {}
    for name, est in fit.fixef().items():
        values[("fixef", str(name))] = float(est)
    for row in fit.varcorr().itertuples(index=False):
        if row.grp == "Residual":
            continue
        if row.var2 is None or (isinstance(row.var2, float) and np.isnan(row.var2)):
            values[("sd", f"{row.grp} {row.var1}")] = float(row.sdcor)
        else:
            values[("cor", f"{row.grp} {row.var1}:{row.var2}")] = float(row.sdcor)
    values[("sigma", "Residual")] = float(fit.sigma)
    try:
        values[("fit", "logLik")] = float(fit.loglik())
    except Exception:  # a fit without a likelihood (posterior draws only)
        values[("fit", "logLik")] = np.nan
    values[("fit", "fit_time")] = float(getattr(fit, "fit_time", np.nan))
    return values


def compare(*fits, names: list[str] | None = None) -> pd.DataFrame:
    """Side-by-side table of several fits.

    Args:
        *fits: Fits to compare.
        names: Column names; default each fit's ``method`` (made unique).

    Returns:
        DataFrame with a ``(component, parameter)`` row index: ``fixef``
        rows, random-effect ``sd`` and ``cor`` rows (named as in
        ``varcorr``), ``sigma``, then ``fit`` rows ``logLik`` and
        ``fit_time``; one column per fit, ``NaN`` where a fit lacks a row.

    Raises:
        ArgumentError: no fits or ``names`` of the wrong length.
    """
    if not fits:
        raise ArgumentError("compare() needs at least one fit")
    if names is None:
        names = unique_group_names([str(getattr(f, "method", "fit")) for f in fits])
    if len(names) != len(fits):
        raise ArgumentError(f"names has {len(names)} entries for {len(fits)} fits")
    columns = [_column(f) for f in fits]
    order = {"fixef": 0, "sd": 1, "cor": 2, "sigma": 3, "fit": 4}
    keys = list(dict.fromkeys(k for col in columns for k in col))
    keys.sort(key=lambda k: order[k[0]])  # stable: first-seen order within a component
    index = pd.MultiIndex.from_tuples(keys, names=["component", "parameter"])
    data = {name: [col.get(k, np.nan) for k in keys] for name, col in zip(names, columns)}
    return pd.DataFrame(data, index=index)
