"""``anova``: likelihood-ratio tests between fits (lme4's ``anova.merMod``).

With several fits: REML fits are first refitted by ML through
``fit.extra["refit_ml"]`` (lme4: "refitting model(s) with ML (instead of
REML)"), models are ordered by their number of parameters and each is
tested against the previous one.  With one fit: lme4's sequential F table
of the fixed-effect terms, which needs ``fit.extra["fixed_terms"]`` (the
term label of every column of ``X``).

The result is a DataFrame; ``df.attrs["heading"]`` holds the heading lines
and ``df.attrs["text"]`` the table as R's ``print.anova`` shows it.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats

from tabmixr.results.errors import ArgumentError, ResultError, UnavailableError
from tabmixr.results.rformat import (deparse_formula, format_pval, format_real, print_matrix,
                                     r_round, zapsmall)

log = logging.getLogger("tabmixr")
REFIT_NOTE = "refitting model(s) with ML (instead of REML)"
SIGNIF_LEGEND = "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"


def anova(*fits, names: list[str] | None = None, refit: bool = True, **named_fits) -> pd.DataFrame:
    """Compare nested fits by likelihood-ratio tests, or test one fit's fixed terms.

    Args:
        *fits: ``MixedFit`` objects (named ``MODEL1``, ``MODEL2``... unless
            ``names`` is given).
        names: Row names for the positional fits.
        refit: Refit REML fits by ML first (lme4's default).
        **named_fits: Fits passed by keyword; the keyword is the row name.

    Returns:
        DataFrame with columns ``npar, AIC, BIC, logLik, deviance, Chisq,
        Df, Pr(>Chisq)`` (one fit: ``npar, Sum Sq, Mean Sq, F value``).

    Raises:
        ArgumentError: no fits, or ``names`` of the wrong length.
        UnavailableError: a REML fit cannot be refitted; a single fit lacks
            ``extra["fixed_terms"]``.
        ResultError: fits differ in the number of observations or data.
    """
    if names is not None and len(names) != len(fits):
        raise ArgumentError(f"names has {len(names)} entries for {len(fits)} fits")
    labels = list(names) if names is not None else [f"MODEL{i + 1}" for i in range(len(fits))]
    models = dict(zip(labels, fits)) | named_fits
    if len(models) < len(fits) + len(named_fits):
        raise ArgumentError("model names must be unique")
    if not models:
        raise ArgumentError("anova() needs at least one fit")
    if len(models) == 1:
        return _single_fit_table(next(iter(models.values())))
    return _lrt_table(models, refit)


def _lrt_table(models: dict, refit: bool) -> pd.DataFrame:
    nobs = {name: int(fit.nobs) for name, fit in models.items()}
    if len(set(nobs.values())) > 1:
        raise ResultError(f"models were not all fitted to the same size of dataset: {nobs}")
    data_names = {fit.extra.get("data_name") for fit in models.values()} - {None}
    if len(data_names) > 1:
        raise ResultError(f"all models must be fit to the same data; got {sorted(data_names)}")
    messages = []
    if refit and any(fit.reml for fit in models.values()):
        messages.append(REFIT_NOTE)
        log.info(REFIT_NOTE)
        models = {name: _refit_ml(name, fit) if fit.reml else fit for name, fit in models.items()}
    lls = {name: fit.loglik() for name, fit in models.items()}
    order = sorted(models, key=lambda name: lls[name].df)  # stable, like R's order()
    ll = np.array([float(lls[n]) for n in order])
    npar = np.array([lls[n].df for n in order], dtype=float)
    chisq = np.r_[np.nan, 2.0 * np.maximum(0.0, np.diff(ll))]
    dfs = np.r_[np.nan, np.diff(npar)]
    with np.errstate(invalid="ignore"):
        pval = np.where(dfs == 0, np.nan, stats.chi2.sf(chisq, dfs))
    table = pd.DataFrame({"npar": npar, "AIC": [models[n].aic() for n in order],
                          "BIC": [models[n].bic() for n in order], "logLik": ll,
                          "deviance": -2.0 * ll, "Chisq": chisq, "Df": dfs,
                          "Pr(>Chisq)": pval}, index=order)
    heading = ([f"Data: {data_names.pop()}"] if data_names else []) + ["Models:"]
    heading += [f"{n}: {deparse_formula(models[n].formula)}" for n in order]
    table.attrs.update(heading=heading, messages=messages,
                       text="\n".join(heading + format_anova(table)))
    return table


def _refit_ml(name: str, fit):
    refit_ml = fit.extra.get("refit_ml")
    if not callable(refit_ml):
        raise UnavailableError(f"model {name!r} was fitted by REML and carries no "
                               "extra['refit_ml'] to refit it by ML (fits loaded from disk lose "
                               "it); refit with method='ml' or pass refit=False")
    return refit_ml()


def _single_fit_table(fit) -> pd.DataFrame:
    terms = fit.extra.get("fixed_terms")
    p = len(fit.fixed_names)
    if terms is None or len(terms) != p:
        raise UnavailableError("anova() of a single fit needs extra['fixed_terms'] (the term "
                               "label of every fixed-effect column); pass two or more fits "
                               "for likelihood-ratio tests")
    sigma2 = float(fit.sigma) ** 2
    vcov = np.asarray(fit.vcov_beta, dtype=float).reshape(p, p)
    RX = np.linalg.cholesky(sigma2 * np.linalg.inv(vcov)).T
    ss_col = (RX @ np.asarray(fit.beta, dtype=float)) ** 2
    labels = list(dict.fromkeys(terms))
    ss = np.array([ss_col[[t == lab for t in terms]].sum() for lab in labels])
    df = np.array([sum(t == lab for t in terms) for lab in labels], dtype=float)
    ms = ss / df
    table = pd.DataFrame({"npar": df, "Sum Sq": ss, "Mean Sq": ms, "F value": ms / sigma2},
                         index=labels)
    table = table.drop(index="(Intercept)", errors="ignore")
    heading = ["Analysis of Variance Table"]
    table.attrs.update(heading=heading, messages=[],
                       text="\n".join(heading + format_anova(table)))
    return table


def format_anova(table: pd.DataFrame, digits: int = 5) -> list[str]:
    """Lines of R's ``print.anova`` for ``table`` (without the heading).

    Columns ending in ``" value"`` and ``Chisq``/``F`` are test statistics,
    ``Pr(...)`` the p-value (with significance stars), the rest numbers.
    """
    cols = list(table.columns)
    has_p = cols[-1].startswith(("Pr(", "P("))
    dig_tst = max(1, min(5, digits - 1))
    tst = [c for c in cols if c[1:7] == " value" or c in ("F", "Cp", "Chisq")]
    cells = {}
    for c in cols[:-1] if has_p else cols:
        x = table[c].to_numpy(dtype=float)
        if c not in tst and not c.endswith("Df"):
            x = zapsmall(x, digits)
        texts = format_real(list(r_round(x, dig_tst) if c in tst else x), digits)
        if c not in tst:
            for i, v in enumerate(x):
                if np.isfinite(v) and (v == 0) != (float(texts[i]) == 0):
                    texts[i] = format_real([v], max(1, digits - 1))[0]
        cells[c] = ["" if np.isnan(v) else t for v, t in zip(x, texts)]
    colnames = list(cells)
    stars_legend = []
    if has_p:
        pv = table[cols[-1]].to_numpy(dtype=float)
        ok = ~np.isnan(pv)
        texts = iter(format_pval(list(pv[ok]), dig_tst))
        cells[cols[-1]] = [next(texts) if o else "" for o in ok]
        colnames.append(cols[-1])
        if (pv[ok] < 0.1).any():
            symbols = [_stars(v) for v in pv]
            w = max(len(s) for s in symbols)
            cells[""] = [s.ljust(w) for s in symbols]
            colnames.append("")
            stars_legend = ["---", SIGNIF_LEGEND]
    rows = [[cells[c][i] for c in colnames] for i in range(len(table))]
    return print_matrix(rows, [str(r) for r in table.index], colnames, right=True) + stars_legend


def _stars(p: float) -> str:
    if np.isnan(p):
        return ""
    for cut, sym in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p <= cut:
            return sym
    return " "
