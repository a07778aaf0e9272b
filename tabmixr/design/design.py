"""The materialized model: fixed-effects matrix, random-effect terms, response.

A ``Design`` keeps every encoding decision (factor levels, contrasts, column
names) in its ``encoding`` so that ``predict(newdata)`` encodes new data the
same way.  Built by ``tabmixr.design.build_design``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from tabmixr.formula.spec import ModelSpec, RandomTerm


@dataclass
class RandomTermDesign:
    """One random-effect term materialized on the data.

    Attributes:
        term: The parsed term.
        group: Name of the grouping factor as lme4 prints it (``"Subject"``,
            ``"a:b"``).
        columns: R-style names of the term's model-matrix columns, e.g.
            ``("(Intercept)", "Days")``.
        X: Term model matrix, shape ``(n, q)``.
        codes: Level index of every row, shape ``(n,)``, values in
            ``[0, n_levels)``.
        levels: Level labels (strings), in lme4's order (sorted factor levels).
        relationship: For a ``kin()`` term, its
            ``tabmixr.design.relmat.Relationship`` (resolved from ``relmat=``);
            ``None`` otherwise.
        level_data: For a term whose covariance structure needs per-level
            data, that data in level order (``tabmixr.design.level_data``):
            times ``(n_levels,)`` for ``ar1``/``arma``, coordinates
            ``(n_levels, d)`` for ``gp``/``spde``; ``None`` otherwise.
    """

    term: RandomTerm
    group: str
    columns: tuple[str, ...]
    X: np.ndarray
    codes: np.ndarray
    levels: tuple[str, ...]
    relationship: Any = None
    level_data: np.ndarray | None = None

    @property
    def q(self) -> int:
        """Number of random effects per level."""
        return self.X.shape[1]

    @property
    def n_levels(self) -> int:
        """Number of levels of the grouping factor."""
        return len(self.levels)

    def Z(self) -> sp.csc_matrix:
        """Sparse ``n x (n_levels * q)`` matrix, level-major columns (lme4's order).

        Returns:
            ``Z`` with column ``level * q + j`` holding ``X[:, j]`` on the rows
            of that level.
        """
        n, q = self.X.shape
        rows = np.repeat(np.arange(n), q)
        cols = (self.codes[:, None] * q + np.arange(q)[None, :]).ravel()
        return sp.csc_matrix((self.X.ravel(), (rows, cols)), shape=(n, self.n_levels * q))


@dataclass
class Design:
    """A formula materialized on a data frame.

    Attributes:
        spec: The parsed formula.
        X: Fixed-effects model matrix, shape ``(n, p)``, full column rank.
        fixed_names: R-style column names of ``X`` (``"(Intercept)"``, ``"sexM"``).
        y: Response, shape ``(n,)`` (``(n, k)`` for multi-column responses);
            ``None`` for a one-sided formula.
        response_name: Name of the response as written in the formula.
        weights: Prior weights, shape ``(n,)``, or ``None``.
        offset: Offset, shape ``(n,)``, or ``None``.
        terms: Random-effect terms in lme4's order (decreasing number of
            levels; ties as lme4's ``rev(order(nl))`` leaves them, see
            ``tabmixr.design.random_terms.lme4_term_order``).
        row_index: Labels of the data rows used (after NA removal).
        dropped_rows: Labels of the rows dropped for missing values.
        dropped_fixed: Fixed-effect columns dropped for rank deficiency.
        encoding: Frozen encoding state for new data, a
            ``tabmixr.design.DesignEncoding`` (``encoding.transform(newdata)``).
        messages: Notes for the user, e.g. lme4's rank-deficiency message.
    """

    spec: ModelSpec
    X: np.ndarray
    fixed_names: tuple[str, ...]
    y: np.ndarray
    response_name: str
    weights: np.ndarray | None
    offset: np.ndarray | None
    terms: list[RandomTermDesign]
    row_index: np.ndarray
    dropped_rows: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    dropped_fixed: tuple[str, ...] = ()
    encoding: Any = None
    messages: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        """Number of observations used."""
        return self.X.shape[0]

    @property
    def p(self) -> int:
        """Number of fixed-effect columns."""
        return self.X.shape[1]
