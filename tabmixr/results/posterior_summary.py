"""``summary()`` of a fit that holds posterior draws: brms's ``print(summary(fit))`` layout.

brms 2.18 prints, per block (group-level effects per grouping factor,
population-level effects, family-specific parameters), a data frame of
``Estimate, Est.Error, l-95% CI, u-95% CI`` rounded to 2 decimals, plus its
MCMC diagnostics.  An amortized fit has no chains: the diagnostics are the
importance-sampling ones, ``ESS`` per row and Pareto k-hat in the header.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tabmixr.results.rformat import deparse_formula, format_real, print_matrix, r_round

COLUMNS = ("Estimate", "Est.Error", "l-95% CI", "u-95% CI")


@dataclass
class PosteriorSummary:
    """Numbers of a posterior fit's summary; ``str()`` gives brms's layout.

    Attributes:
        formula: Model formula text.
        data_line: ``"<data> (Number of observations: n)"``.
        draws_lines: How the draws were made.
        groups: ``[(group, n_levels, table)]`` of the group-level effects.
        fixed: Population-level table.
        family: Family-specific table (``sigma``).
        ess: Importance-sampling effective sample size.
        notes: Closing lines (calibration, warnings).
    """

    formula: str
    data_line: str
    draws_lines: list[str]
    groups: list[tuple[str, int, pd.DataFrame]]
    fixed: pd.DataFrame
    family: pd.DataFrame
    ess: float
    notes: list[str] = field(default_factory=list)

    def format(self, digits: int = 2) -> str:
        """The printed summary (``digits``: decimals of the tables, brms: 2)."""
        lines = [" Family: gaussian ", "  Links: mu = identity; sigma = identity ",
                 f"Formula: {self.formula} ", f"   Data: {self.data_line} "]
        lines += [f"  Draws: {self.draws_lines[0]}"] + [f"         {t}" for t in self.draws_lines[1:]]
        lines.append("")
        if self.groups:
            lines.append("Group-Level Effects: ")
            for group, n_levels, table in self.groups:
                lines.append(f"~{group} (Number of levels: {n_levels}) ")
                lines += _table_lines(table, self.ess, digits)
                lines.append("")
        lines.append("Population-Level Effects: ")
        lines += _table_lines(self.fixed, self.ess, digits)
        lines.append("")
        lines.append("Family Specific Parameters: ")
        lines += _table_lines(self.family, self.ess, digits)
        lines.append("")
        lines += self.notes
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        return self.format()


def _table_lines(table: pd.DataFrame, ess: float, digits: int) -> list[str]:
    """R's ``print(round(df, digits))`` of the table with an integer ESS column."""
    cols = [format_real(r_round(table[c].to_numpy(float), digits), 7) for c in COLUMNS]
    cols.append([str(int(round(ess)))] * len(table))
    cells = [[col[i] for col in cols] for i in range(len(table))]
    return print_matrix(cells, list(table.index), list(COLUMNS) + ["ESS"], right=True)


def _brms_coef(name: str) -> str:
    return "Intercept" if name == "(Intercept)" else name


def posterior_summary_of(fit) -> PosteriorSummary:
    """The ``PosteriorSummary`` of a fit holding draws (``extra["draws"]``)."""
    from tabmixr.engines.amortized.draws import posterior_summary, uses_calibrated_intervals

    table = posterior_summary(fit)
    groups = []
    for term in fit.terms:
        rows, names = [], []
        for c in term.columns:
            rows.append(f"sd_{term.group}__{c}")
            names.append(f"sd({_brms_coef(c)})")
        for i in range(len(term.columns)):
            for j in range(i):
                a, b = term.columns[j], term.columns[i]
                rows.append(f"cor_{term.group}__{a}__{b}")
                names.append(f"cor({_brms_coef(a)},{_brms_coef(b)})")
        part = table.loc[rows, list(COLUMNS)]
        part.index = names
        groups.append((term.group, len(term.levels), part))
    fixed = table.loc[[f"b_{n}" for n in fit.fixed_names], list(COLUMNS)]
    fixed.index = [_brms_coef(n) for n in fit.fixed_names]
    family = table.loc[["sigma"], list(COLUMNS)]
    n_draws = len(np.asarray(fit.extra["draws"]["sigma"]))
    k_hat = float(fit.extra.get("pareto_k", float("nan")))
    ess = float(fit.extra.get("ess", n_draws))
    data = fit.extra.get("data_name") or "data"
    calibrated = uses_calibrated_intervals(fit)
    notes = ["Draws come from the amortized posterior, importance-weighted against the exact",
             "likelihood (Pareto-smoothed) and resampled. ESS is the importance-sampling",
             "effective sample size" + ("; importance sampling is unreliable, so the 95% intervals"
                                        " are conformally calibrated." if calibrated
                                        else "; the intervals are the weighted draws' quantiles.")]
    notes += list(fit.messages)
    return PosteriorSummary(
        formula=deparse_formula(fit.formula), data_line=f"{data} (Number of observations: {fit.nobs})",
        draws_lines=[f"{n_draws} importance-resampled draws from the amortized posterior",
                     f"(Pareto k-hat = {k_hat:.2f}, ESS = {ess:.0f})"],
        groups=groups, fixed=fixed, family=family, ess=ess, notes=notes)


__all__ = ["PosteriorSummary", "posterior_summary_of"]
