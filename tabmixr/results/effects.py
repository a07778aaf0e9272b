"""Random-effect accessors: ``ranef``, ``varcorr``, ``coef`` (lme4's layouts).

Terms that share a grouping factor (``(1|g) + (0+x|g)``, e.g. from ``||``)
are combined per factor in ``ranef`` and ``coef`` as lme4 does, while
``varcorr`` keeps one block per term and names repeated groups ``g.1``,
``g.2`` (R's ``make.unique``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def unique_group_names(groups: list[str]) -> list[str]:
    """R's ``make.unique``: ``["g", "g", "h"] -> ["g", "g.1", "h"]``."""
    seen: dict[str, int] = {}
    taken = set(groups)
    out = []
    for g in groups:
        if g not in seen:
            seen[g] = 0
            out.append(g)
            continue
        k = seen[g]
        while True:
            k += 1
            candidate = f"{g}.{k}"
            if candidate not in taken:
                break
        seen[g] = k
        taken.add(candidate)
        out.append(candidate)
    return out


def terms_by_group(terms) -> dict[str, list[int]]:
    """Indices of the terms of each distinct grouping factor, in first-seen order."""
    out: dict[str, list[int]] = {}
    for i, term in enumerate(terms):
        out.setdefault(term.group, []).append(i)
    return out


def sd_and_corr(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standard deviations and correlation matrix of a covariance matrix.

    Correlations involving a zero variance are ``nan`` (R prints ``NaN``).
    """
    cov = np.atleast_2d(np.asarray(cov, dtype=float))
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.outer(sd, sd)
    np.fill_diagonal(corr, 1.0)
    return sd, corr


class EffectsMixin:
    """``ranef``, ``varcorr``, ``coef``."""

    def ranef(self, cond_var: bool = True) -> dict[str, pd.DataFrame]:
        """Conditional modes of the random effects (lme4's ``ranef``).

        Args:
            cond_var: Attach conditional variances (lme4's ``condVar``).

        Returns:
            Dict grouping factor -> DataFrame (index: levels, columns: the
            term columns; terms sharing a factor are side by side).  With
            ``cond_var``, ``df.attrs["cond_sd"]`` is a DataFrame of the same
            shape holding conditional standard deviations and
            ``df.attrs["cond_var"]`` the list of per-term conditional
            covariance arrays ``(n_levels, q, q)`` (lme4's ``postVar``).
        """
        out: dict[str, pd.DataFrame] = {}
        for group, idx in terms_by_group(self.terms).items():
            first = self.terms[idx[0]]
            levels = pd.Index(list(first.levels), name=group)
            columns = [c for i in idx for c in self.terms[i].columns]
            b = np.hstack([np.asarray(self.terms[i].b, dtype=float).reshape(len(levels), -1)
                           for i in idx])
            frame = pd.DataFrame(b, index=levels, columns=columns)
            if cond_var:
                cvs = [np.asarray(self.terms[i].cond_var, dtype=float) for i in idx]
                sds = np.hstack([np.sqrt(np.clip(np.diagonal(cv, axis1=1, axis2=2), 0.0, None))
                                 for cv in cvs])
                frame.attrs["cond_sd"] = pd.DataFrame(sds, index=levels, columns=columns)
                frame.attrs["cond_var"] = cvs
            out[group] = frame
        return out

    def varcorr(self) -> pd.DataFrame:
        """Variance components in the layout of lme4's ``as.data.frame(VarCorr(fit))``.

        Returns:
            DataFrame with columns ``grp, var1, var2, vcov, sdcor``: per term
            the variance rows (``var2`` is ``None``, ``sdcor`` the SD), then
            the covariance rows in lme4's order (``(a,b), (a,c), (b,c)``,
            ``sdcor`` the correlation); a ``"Residual"`` row last for
            Gaussian fits.  Repeated groups are named ``g.1``, ``g.2``.
        """
        rows = []
        names = unique_group_names([t.group for t in self.terms])
        for name, term in zip(names, self.terms):
            cov = np.atleast_2d(np.asarray(term.cov, dtype=float))
            sd, corr = sd_and_corr(cov)
            cols = list(term.columns)
            for j, col in enumerate(cols):
                rows.append((name, col, None, cov[j, j], sd[j]))
            for j in range(len(cols)):
                for k in range(j + 1, len(cols)):
                    rows.append((name, cols[j], cols[k], cov[j, k], corr[j, k]))
        if self.family == "gaussian":
            s = float(self.sigma)
            rows.append(("Residual", None, None, s * s, s))
        names = ["grp", "var1", "var2", "vcov", "sdcor"]
        columns = list(zip(*rows)) if rows else [()] * 5
        return pd.DataFrame({
            name: pd.Series(list(col), dtype=object if name in ("var1", "var2") else None)
            for name, col in zip(names, columns)})

    def coef(self) -> dict[str, pd.DataFrame]:
        """Per-level coefficients, fixed plus random (lme4's ``coef.merMod``).

        Every fixed effect is a column; random-effect columns that are not
        fixed effects are put in front with a fixed part of 0, as lme4 does.

        Returns:
            Dict grouping factor -> DataFrame (index: levels).
        """
        fixef = self.fixef()
        ranef = self.ranef(cond_var=False)
        random_cols = [c for frame in ranef.values() for c in frame.columns]
        missing = list(dict.fromkeys(c for c in random_cols if c not in fixef.index))
        base = pd.concat([pd.Series(0.0, index=missing), fixef]) if missing else fixef
        out = {}
        for group, frame in ranef.items():
            values = np.tile(base.to_numpy(), (len(frame), 1))
            table = pd.DataFrame(values, index=frame.index, columns=list(base.index))
            for j, col in enumerate(frame.columns):
                table[col] = table[col].to_numpy() + frame.iloc[:, j].to_numpy()
            out[group] = table
        return out
