"""``summary()``: lme4's ``print(summary(fit))`` layout from stored numbers.

``Summary`` gathers the numbers once (coefficient table, variance
components, scaled residuals, information criteria) and ``format()`` lays
them out as ``print.summary.merMod`` does (lme4 1.1-31, R's default
``digits = 7`` so the table digits are 4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tabmixr.results.effects import sd_and_corr, unique_group_names
from tabmixr.results.rformat import (abbreviate, deparse_formula, format_number, format_real,
                                     print_matrix, print_named, r_round, zapsmall)

COR_MAX = 12  # lme4.summary.cor.max
SINGULAR_NOTE = "boundary (singular) fit: see help('isSingular')"


@dataclass
class VarianceBlock:
    """One random-effect term as the summary prints it."""

    name: str
    columns: list[str]
    sd: np.ndarray
    corr: np.ndarray


@dataclass
class Summary:
    """Numbers of a fit's summary; ``str()`` gives lme4's printed layout.

    Attributes:
        title: First line (``"Linear mixed model fit by REML ['lmerMod']"``).
        call_lines: ``Formula:``, ``Data:``, ``Weights:``, ``Offset:`` lines.
        aictab: ``{"REML": crit}`` or ``AIC, BIC, logLik, deviance, df.resid``.
        scaled_residuals: Pearson residuals divided by ``sigma``.
        blocks: One ``VarianceBlock`` per term.
        residual_sd: ``sigma`` (``None`` for families without a scale).
        varcorr: ``fit.varcorr()``.
        ngrps: Levels per grouping factor.
        nobs: Number of observations.
        coefficients: DataFrame ``Estimate, Std. Error, t value``.
        correlation: Correlation matrix of the fixed effects.
        notes: Optimizer notes printed at the end (convergence, singularity).
        structures: Parameters of structured covariances (``fit.extra["structures"]``),
            one line each under the random effects.
        family_parameters: The family's own parameters (``fit.extra["aux"]``:
            cut points, shape, dispersion, ...; ``sigma`` of a Gaussian fit is
            the residual line instead), printed after the fixed effects.
    """

    title: str
    call_lines: list[str]
    aictab: dict[str, float]
    scaled_residuals: np.ndarray
    blocks: list[VarianceBlock]
    residual_sd: float | None
    varcorr: pd.DataFrame
    ngrps: dict[str, int]
    nobs: int
    coefficients: pd.DataFrame
    correlation: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    structures: list[dict] = field(default_factory=list)
    family_parameters: dict = field(default_factory=dict)

    def format(self, digits: int = 4, correlation: bool | None = None) -> str:
        """The printed summary.

        Args:
            digits: Significant digits of the tables (lme4: 4).
            correlation: Show the fixed-effect correlations; ``None``: when
                there are at most 12 fixed effects.
        """
        lines = [self.title, *self.call_lines, ""]
        lines += _aictab_lines(self.aictab)
        lines.append("")
        lines += _residual_lines(self.scaled_residuals, digits)
        lines += _variance_lines(self.blocks, self.residual_sd, digits)
        lines += _structure_lines(self.structures, digits)
        groups = "; ".join(f"{g}, {n}" for g, n in self.ngrps.items())
        lines.append(f"Number of obs: {self.nobs}, groups:  {groups}")
        if len(self.coefficients):
            lines += ["", "Fixed effects:"]
            lines += _coef_lines(self.coefficients, digits)
            lines += _correlation_lines(self.correlation, correlation)
        lines += _family_lines(self.family_parameters, digits)
        if self.notes:
            lines += self.notes + [""]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        return self.format()


def _aictab_lines(aictab: dict[str, float]) -> list[str]:
    if list(aictab) == ["REML"]:
        return [f"REML criterion at convergence: {format_number(round(aictab['REML'], 1))}"]
    rounded = {k: round(v, 1) for k, v in aictab.items()}
    texts = format_real(list(rounded.values()), 7)
    texts[-1] = format_real([rounded["df.resid"]], 7)[0]
    return print_named(list(rounded), texts)


def _residual_lines(resid: np.ndarray, digits: int) -> list[str]:
    quant = zapsmall(np.quantile(np.asarray(resid, dtype=float), [0, .25, .5, .75, 1]), digits + 1)
    texts = format_real(list(quant), digits)
    return ["Scaled residuals: "] + print_named(["Min", "1Q", "Median", "3Q", "Max"], texts) + [""]


def _variance_lines(blocks: list[VarianceBlock], residual_sd: float | None,
                    digits: int) -> list[str]:
    sds = [s for b in blocks for s in b.sd] + ([residual_sd] if residual_sd is not None else [])
    var_txt = format_real([s * s for s in sds], digits)
    sd_txt = format_real(sds, digits)
    names = [c for b in blocks for c in b.columns] + ([""] if residual_sd is not None else [])
    groups = []
    for b in blocks:
        groups += [b.name] + [""] * (len(b.columns) - 1)
    if residual_sd is not None:
        groups.append("Residual")
    rows = [[g, n, v, s] for g, n, v, s in zip(groups, names, var_txt, sd_txt)]
    colnames = ["Groups", "Name", "Variance", "Std.Dev."]
    maxlen = max((len(b.columns) for b in blocks), default=1)
    if maxlen > 1:
        dig = max(2, digits - 2)
        corr_rows = []
        for b in blocks:
            q = len(b.columns)
            texts = format_real(list(r_round(b.corr, dig).ravel()), 7, nsmall=dig, na="NaN")
            cells = np.array(texts, dtype=object).reshape(q, q)
            for i in range(q):
                corr_rows.append([cells[i, j] if j < i else "" for j in range(maxlen - 1)])
        corr_rows += [[""] * (maxlen - 1)] * (len(rows) - len(corr_rows))
        rows = [r + c for r, c in zip(rows, corr_rows)]
        colnames += ["Corr"] + [""] * (maxlen - 2)
    return ["Random effects:"] + print_matrix(rows, [""] * len(rows), colnames)


def _structure_lines(structures: list[dict], digits: int) -> list[str]:
    """``Structure of time: ar1, rho = 0.8`` per structured term."""
    lines = []
    for s in structures:
        values = ", ".join(f"{k} = {format_real([float(v)], digits)[0].strip()}"
                           for k, v in s.get("parameters", {}).items())
        lines.append(f" Structure of {s['group']}: {s['covariance']}, {values}")
    return lines


def _family_lines(params: dict, digits: int) -> list[str]:
    """``Family parameters:`` block, one parameter (scalar or vector) per line."""
    if not params:
        return []
    width = max(len(k) for k in params)
    lines = ["", "Family parameters:"]
    for name, value in params.items():
        values = np.atleast_1d(np.asarray(value, dtype=float))
        lines.append(f" {name:<{width}}  " + " ".join(t.strip() for t in format_real(list(values), digits)))
    return lines


def _coef_lines(coefs: pd.DataFrame, digits: int) -> list[str]:
    """``printCoefmat`` for Estimate / Std. Error / t value."""
    est_se = coefs.iloc[:, :2].to_numpy(dtype=float)
    tval = coefs.iloc[:, 2].to_numpy(dtype=float)
    acs = np.abs(est_se[np.isfinite(est_se) & (est_se != 0)])
    digmin = 1 + (math.floor(math.log10(acs.min())) if acs.size else 0)
    rounded = r_round(est_se, max(1, digits - digmin))
    flat = format_real(list(rounded.T.ravel()), digits)
    for i, (text, value) in enumerate(zip(flat, est_se.T.ravel())):
        if np.isfinite(value) and (value == 0) != (float(text) == 0):
            flat[i] = format_real([value], max(1, digits - 1))[0]
    p = len(coefs)
    t_txt = format_real(list(r_round(tval, max(1, min(5, digits - 1)))), digits)
    cells = [[flat[i], flat[p + i], t_txt[i]] for i in range(p)]
    return print_matrix(cells, list(coefs.index), list(coefs.columns), right=True)


def _correlation_lines(corr: pd.DataFrame, show: bool | None) -> list[str]:
    p = len(corr)
    if show is None:
        show = p <= COR_MAX
        if not show:
            return ["", f"Correlation matrix not shown by default, as p = {p} > {COR_MAX}.",
                    "Use print(fit.summary().format(correlation=True))  or",
                    "    fit.vcov()        if you need it", ""]
    if not show or p <= 1:
        return []
    names = list(corr.index)
    texts = format_real(list(r_round(corr.to_numpy(dtype=float), 3).ravel()), 7, nsmall=3)
    cells = np.array(texts, dtype=object).reshape(p, p)
    rows = [[cells[i, j] if j < i else "" for j in range(p - 1)] for i in range(1, p)]
    return (["", "Correlation of Fixed Effects:"]
            + print_matrix(rows, abbreviate(names, 11)[1:], abbreviate(names, 6)[:-1]))


def _title(fit) -> str:
    if fit.family == "gaussian" and fit.method in ("reml", "ml"):
        how = "REML" if fit.reml else "maximum likelihood "
        return f"Linear mixed model fit by {how} ['lmerMod']"
    return f"Mixed model ({fit.family}) fit by {fit.method} ['MixedFit']"


def _call_lines(fit) -> list[str]:
    lines = [f"Formula: {deparse_formula(fit.formula)}"]
    for key, label in (("data_name", "   Data:"), ("weights_name", "Weights:"),
                       ("offset_name", " Offset:")):
        if fit.extra.get(key):
            lines.append(f"{label} {fit.extra[key]}")
    return lines


def _notes(fit) -> list[str]:
    opt = fit.optimizer or {}
    messages = list(fit.messages)
    if fit.singular and not any("singular" in m for m in messages):
        messages.append(SINGULAR_NOTE)
    converged = bool(opt.get("converged", True))
    if converged and not messages:
        return []
    code, verdict = (0, "(OK)") if converged else (1, f"({opt.get('message', '')})")
    return [f"optimizer ({opt.get('optimizer', 'unknown')}) convergence code: {code} {verdict}",
            *messages]


class SummaryMixin:
    """``summary()``."""

    def summary(self):
        """The fit's summary; print it for lme4's layout (``Summary``), or brms's for a
        fit that holds posterior draws (``method="amortized"``: ``PosteriorSummary``)."""
        if self.extra.get("draws") is not None:
            from tabmixr.results.posterior_summary import posterior_summary_of
            return posterior_summary_of(self)
        if self.reml:
            aictab = {"REML": float(self.criterion)}
        else:
            aictab = {"AIC": self.aic(), "BIC": self.bic(), "logLik": float(self.loglik()),
                      "deviance": float(self.criterion), "df.resid": float(self.df_residual())}
        names = unique_group_names([t.group for t in self.terms])
        blocks = []
        for name, term in zip(names, self.terms):
            sd, corr = sd_and_corr(term.cov)
            blocks.append(VarianceBlock(name, list(term.columns), sd, corr))
        beta = np.asarray(self.beta, dtype=float)
        vcov = np.asarray(self.vcov_beta, dtype=float).reshape(len(beta), len(beta))
        se = np.sqrt(np.diag(vcov))
        fixed = list(self.fixed_names)
        with np.errstate(divide="ignore", invalid="ignore"):
            coefs = pd.DataFrame({"Estimate": beta, "Std. Error": se, "t value": beta / se},
                                 index=fixed)
            corr = pd.DataFrame(vcov / np.outer(se, se), index=fixed, columns=fixed)
        use_scale = self.family == "gaussian"
        return Summary(
            title=_title(self), call_lines=_call_lines(self), aictab=aictab,
            scaled_residuals=self.residuals("pearson", scaled=True), blocks=blocks,
            residual_sd=float(self.sigma) if use_scale else None, varcorr=self.varcorr(),
            ngrps=self.ngrps(), nobs=int(self.nobs), coefficients=coefs, correlation=corr,
            notes=_notes(self), structures=list(self.extra.get("structures", [])),
            family_parameters={k: v for k, v in dict(self.extra.get("aux") or {}).items()
                               if not (use_scale and k == "sigma")})
