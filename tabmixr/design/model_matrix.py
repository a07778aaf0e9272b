"""R-style model matrices: ``model.matrix`` semantics with formulaic parsing.

formulaic parses the formula text into terms (``*``, ``/``, ``**``, ``-``,
``0 +``) and evaluates expression factors; the coding follows R's
``model.matrix`` so that columns and names match lme4 side by side:

* terms are ordered by degree (stable), variables inside a term by their first
  appearance in the formula (``x + z:x`` gives ``x:z``);
* a categorical variable in term ``T`` is coded by contrasts when ``T``
  without it is contained in an earlier term (or is empty), else by
  indicators of every level (R's ``TermCode``); without an intercept the first
  categorical variable of the first term that has one gets indicators;
* columns of an interaction vary the first variable fastest, names are joined
  with ``":"``, a factor's columns are ``name + level`` (``sexM``) or
  ``name + contrast`` (``f1`` for sum contrasts, ``f.L`` for polynomial).

``offset(...)`` terms are pulled out of the formula and returned as
expressions, never columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from formulaic import Formula
from formulaic.parser.types import Factor

from tabmixr.design.columns import expression_variables, unknown_column_error
from tabmixr.design.factors import CATEGORICAL, FactorEncoding, fit_factor
from tabmixr.design.formula_text import call_arguments, original_spellings
from tabmixr.errors import DesignError, FormulaError

INTERCEPT = "(Intercept)"


@dataclass(frozen=True)
class ParsedFormula:
    """Terms of a right-hand side in R's order.

    Attributes:
        text: The formula text.
        intercept: Whether the model has an intercept.
        variables: Factors in order of first appearance.
        terms: Each term as a tuple of indices into ``variables`` (sorted).
        offsets: Inner texts of ``offset(...)`` terms.
        spellings: Normalized expression -> text as written.
    """

    text: str
    intercept: bool
    variables: tuple[Factor, ...]
    terms: tuple[tuple[int, ...], ...]
    offsets: tuple[str, ...]
    spellings: dict[str, str] = field(hash=False, compare=False)

    def written(self, factor: Factor) -> str:
        """The factor as the user wrote it."""
        return self.spellings.get(factor.expr, factor.expr)

    def data_columns(self, columns, where: str) -> list[str]:
        """Data columns used by the formula (offsets included), in order.

        Raises:
            UnknownColumnError: A variable is not a column of the data.
        """
        present = set(columns)
        used: list[str] = []
        for factor in self.variables:
            if factor.eval_method == Factor.EvalMethod.LOOKUP:
                if factor.expr not in present:
                    raise unknown_column_error(factor.expr, columns, where)
                names = [factor.expr]
            else:
                names = expression_variables(factor.expr, columns, where)
            used.extend(n for n in names if n not in used)
        for offset in self.offsets:
            used.extend(n for n in expression_variables(offset, columns, f"offset({offset})") if n not in used)
        return used


@lru_cache(maxsize=256)
def parse_rhs(text: str) -> ParsedFormula:
    """Parse a right-hand side into R-ordered terms (cached by text).

    Raises:
        FormulaError: formulaic cannot parse the text, or an offset sits
            inside an interaction.
    """
    try:
        formula = Formula(text, _ordering="none")
        written_terms = list(formula)
    except Exception as exc:  # noqa: BLE001 - formulaic's parse errors vary
        raise FormulaError(f"cannot parse {text!r}: {exc}") from None
    intercept = False
    offsets: list[str] = []
    variables: list[Factor] = []
    raw_terms: list[list[Factor]] = []
    for term in written_terms:
        factors = list(term.factors)
        if len(factors) == 1 and factors[0].eval_method == Factor.EvalMethod.LITERAL:
            if factors[0].expr == "1":
                intercept = True
                continue
            raise FormulaError(f"literal term {factors[0].expr!r} in {text!r} is not allowed; use 1 or 0")
        offset_args = [call_arguments(f.expr, "offset") for f in factors]
        if any(a is not None for a in offset_args):
            if len(factors) > 1 or len(offset_args[0]) != 1:
                raise FormulaError(f"offset() must be a term of its own with one argument in {text!r}")
            offsets.append(original_spellings(text).get(factors[0].expr, factors[0].expr)[len("offset("):-1].strip())
            continue
        for f in factors:
            if f not in variables:
                variables.append(f)
        raw_terms.append(factors)
    seen: set[frozenset[int]] = set()
    terms: list[tuple[int, ...]] = []
    for factors in sorted(raw_terms, key=len):  # stable: R orders terms by degree
        idx = tuple(sorted(variables.index(f) for f in factors))
        if frozenset(idx) not in seen:
            seen.add(frozenset(idx))
            terms.append(idx)
    return ParsedFormula(text=text, intercept=intercept, variables=tuple(variables), terms=tuple(terms),
                         offsets=tuple(offsets), spellings=original_spellings(text))


def term_codings(terms: tuple[tuple[int, ...], ...], intercept: bool,
                 n_levels: list[int | None]) -> list[tuple[bool, ...]]:
    """R's contrast/indicator choice for every variable of every term.

    Args:
        terms: Terms as sorted variable indices, in R's order.
        intercept: Whether the model has an intercept.
        n_levels: Number of levels per variable (``None`` for numeric).

    Returns:
        Per term, per variable: ``True`` for indicator (full dummy) coding.
    """
    sets = [frozenset(t) for t in terms]
    codings: list[list[bool]] = []
    for j, term in enumerate(terms):
        flags = []
        for v in term:
            margin = sets[j] - {v}
            covered = not margin or any(margin <= sets[k] for k in range(j))
            flags.append(not covered)
        codings.append(flags)
    if not intercept:
        done = False
        for j, term in enumerate(terms):
            for pos, v in enumerate(term):
                if n_levels[v] is not None and n_levels[v] > 1:
                    codings[j][pos] = True
                    done = True
                    break
            if done:
                break
    return [tuple(c) for c in codings]


@dataclass
class ModelMatrixEncoding:
    """Frozen R-style encoding of one right-hand side.

    Attributes:
        formula: Formula text.
        intercept: Whether column ``"(Intercept)"`` comes first.
        factors: Encoding of every variable, in order of appearance.
        terms: Variable indices of each term (R's order).
        full: Per term, per variable, indicator (``True``) or contrast coding.
        columns: R-style column names.
        offsets: Inner texts of ``offset(...)`` terms.
        where: Description for error messages.
    """

    formula: str
    intercept: bool
    factors: list[FactorEncoding]
    terms: list[tuple[int, ...]]
    full: list[tuple[bool, ...]]
    columns: tuple[str, ...]
    offsets: tuple[str, ...] = ()
    where: str = "formula"

    @classmethod
    def fit(cls, text: str, frame: pd.DataFrame, where: str) -> tuple["ModelMatrixEncoding", np.ndarray]:
        """Learn the encoding from a complete-case frame and return ``(encoding, X)``.

        Raises:
            DesignError: A factor with contrasts has a single level, or an
                expression cannot be evaluated.
        """
        parsed = parse_rhs(text)
        factors: list[FactorEncoding] = []
        values: list[np.ndarray] = []
        for factor in parsed.variables:
            enc, val = fit_factor(factor, frame, parsed.written(factor), where)
            factors.append(enc)
            values.append(val)
        n_levels = [len(f.levels) if f.kind == CATEGORICAL else None for f in factors]
        full = term_codings(parsed.terms, parsed.intercept, n_levels)
        for term, flags in zip(parsed.terms, full):
            for v, is_full in zip(term, flags):
                if factors[v].kind == CATEGORICAL and not is_full and len(factors[v].levels) < 2:
                    raise DesignError(
                        f"factor {factors[v].name!r} ({where}) has a single level "
                        f"{factors[v].labels[0] if factors[v].levels else ''!r} in the rows used; contrasts "
                        f"need at least 2 levels (drop it from the formula or check missing values)")
        enc = cls(formula=text, intercept=parsed.intercept, factors=factors, terms=list(parsed.terms),
                  full=full, columns=(), offsets=parsed.offsets, where=where)
        X, names = enc._assemble(values, len(frame))
        enc.columns = names
        return enc, X

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Model matrix of new data, same columns as when fitted.

        Missing values give ``NaN`` entries.

        Raises:
            DesignError: A categorical variable has a level not seen when fitting.
        """
        values = []
        for f in self.factors:
            val = f.evaluate(frame, self.where)
            if f.kind == CATEGORICAL:
                f.check_levels(frame, val, self.where)
            values.append(val)
        X, _ = self._assemble(values, len(frame))
        return X

    def data_columns(self, columns, where: str | None = None) -> list[str]:
        """Data columns the encoding reads (offsets included)."""
        return parse_rhs(self.formula).data_columns(columns, where or self.where)

    def _assemble(self, values: list[np.ndarray], n: int) -> tuple[np.ndarray, tuple[str, ...]]:
        blocks: list[np.ndarray] = []
        names: list[str] = []
        if self.intercept:
            blocks.append(np.ones((n, 1)))
            names.append(INTERCEPT)
        codings: dict[tuple[int, bool], tuple[np.ndarray, tuple[str, ...]]] = {}
        for term, flags in zip(self.terms, self.full):
            cur = np.ones((n, 1))
            cur_names = [""]
            for v, is_full in zip(term, flags):
                f = self.factors[v]
                if f.kind == CATEGORICAL:
                    if (v, is_full) not in codings:
                        codings[(v, is_full)] = f.coding(is_full)
                    matrix, suffixes = codings[(v, is_full)]
                    matrix = np.vstack([matrix, np.full((1, matrix.shape[1]), np.nan)])  # code -1 -> NaN row
                    cols = matrix[values[v]]
                else:
                    cols, suffixes = values[v], f.suffixes
                col_names = [f.name + s for s in suffixes]
                cur = (cols[:, :, None] * cur[:, None, :]).reshape(n, -1)
                cur_names = [b if not a else f"{a}:{b}" for b in col_names for a in cur_names]
            blocks.append(cur)
            names.extend(cur_names)
        X = np.hstack(blocks) if blocks else np.zeros((n, 0))
        return np.ascontiguousarray(X, dtype=float), tuple(names)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-serializable)."""
        return {"formula": self.formula, "intercept": self.intercept,
                "factors": [f.to_dict() for f in self.factors],
                "terms": [list(t) for t in self.terms], "full": [list(f) for f in self.full],
                "columns": list(self.columns), "offsets": list(self.offsets), "where": self.where}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelMatrixEncoding":
        """Rebuild from ``to_dict`` output."""
        return cls(formula=d["formula"], intercept=d["intercept"],
                   factors=[FactorEncoding.from_dict(f) for f in d["factors"]],
                   terms=[tuple(t) for t in d["terms"]], full=[tuple(f) for f in d["full"]],
                   columns=tuple(d["columns"]), offsets=tuple(d["offsets"]), where=d["where"])
