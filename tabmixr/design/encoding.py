"""Frozen encoding of a design, applied to new data (``predict(newdata)``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tabmixr.design.columns import require_columns
from tabmixr.design.fixed import evaluate_offsets
from tabmixr.design.model_matrix import ModelMatrixEncoding
from tabmixr.design.random_terms import RandomTermEncoding, term_label
from tabmixr.errors import DesignError, NewLevelError, SerializationError

#: Version of the ``DesignEncoding.to_dict`` layout.
ENCODING_VERSION = 1


@dataclass
class NewTermDesign:
    """One random-effect term encoded on new data.

    Attributes:
        X: Term model matrix, ``(m, q)``.
        codes: Level index per row; ``-1`` marks a level not seen when fitting.
    """

    X: np.ndarray
    codes: np.ndarray

    @property
    def new_level(self) -> np.ndarray:
        """Rows whose level was not seen when fitting."""
        return self.codes < 0


@dataclass
class NewDesign:
    """New data encoded like the fit.

    Attributes:
        X: Fixed-effects matrix, ``(m, p)``, same columns as the fit.
        offset: Offset from ``offset(...)`` terms and a column-name ``offset=``,
            ``(m,)``, or ``None``.
        terms: Aligned with ``Design.terms``: ``None`` where not requested.
        row_index: Labels of the new data's rows.
    """

    X: np.ndarray
    offset: np.ndarray | None
    terms: list[NewTermDesign | None]
    row_index: np.ndarray = field(default_factory=lambda: np.arange(0))


@dataclass
class DesignEncoding:
    """Every encoding decision of a design.

    Attributes:
        fixed: Encoding of the fixed part (all columns, before dropping).
        kept: Indices of the fixed columns kept after rank dropping.
        response: Response text as written.
        terms: Term encodings aligned with ``Design.terms`` (lme4's order).
        offset_column: Column name given as ``offset=``, if any (an array
            offset cannot be applied to new data and is ignored there).
    """

    fixed: ModelMatrixEncoding
    kept: tuple[int, ...]
    response: str
    terms: list[RandomTermEncoding]
    offset_column: str | None = None

    @property
    def fixed_names(self) -> tuple[str, ...]:
        """Names of the fixed columns of the fit."""
        return tuple(self.fixed.columns[j] for j in self.kept)

    def transform(self, newdata: pd.DataFrame, terms: list[int] | None = None,
                  allow_new_levels: bool = False) -> NewDesign:
        """Encode new data exactly as the fitted data were.

        Args:
            newdata: Data frame; the response column is not needed.
            terms: Indices (into ``Design.terms``) of the random terms to
                encode; ``None`` for all.
            allow_new_levels: Give grouping levels not seen when fitting code
                ``-1`` instead of raising.

        Returns:
            The ``NewDesign``.

        Raises:
            UnknownColumnError: A needed column is missing.
            DesignError: A fixed-part factor has a level not seen when fitting.
            NewLevelError: New grouping levels and ``allow_new_levels`` is false.
        """
        if not isinstance(newdata, pd.DataFrame):
            raise DesignError(f"newdata must be a pandas DataFrame, not {type(newdata).__name__}")
        wanted = list(range(len(self.terms))) if terms is None else [int(t) for t in terms]
        for t in wanted:
            if not 0 <= t < len(self.terms):
                raise DesignError(f"term index {t} out of range: the model has {len(self.terms)} random terms")
        require_columns(self.fixed.data_columns(newdata.columns, "fixed part (new data)"), newdata.columns,
                        "fixed part (new data)")
        if self.offset_column is not None:
            require_columns([self.offset_column], newdata.columns, "offset= (new data)")
        X = self.fixed.transform(newdata)[:, list(self.kept)]
        offset = evaluate_offsets(self.fixed.offsets, newdata)
        if self.offset_column is not None:
            extra = newdata[self.offset_column].to_numpy(dtype=float, na_value=np.nan)
            offset = extra if offset is None else offset + extra
        encoded: list[NewTermDesign | None] = [None] * len(self.terms)
        for t in wanted:
            encoded[t] = self._encode_term(self.terms[t], newdata, allow_new_levels)
        return NewDesign(X=X, offset=offset, terms=encoded, row_index=newdata.index.to_numpy())

    def _encode_term(self, enc: RandomTermEncoding, newdata: pd.DataFrame, allow_new_levels: bool) -> NewTermDesign:
        where = f"random term {term_label(enc.term)} (new data)"
        require_columns(enc.lhs.data_columns(newdata.columns, where), newdata.columns, where)
        require_columns(enc.grouping.group_vars, newdata.columns, where)
        X = enc.lhs.transform(newdata)
        codes = enc.grouping.codes(newdata)
        if not allow_new_levels and np.any(codes < 0):
            rows = np.flatnonzero(codes < 0)
            new = list(dict.fromkeys(enc.grouping.raw_labels(newdata, rows)))
            shown = ", ".join(repr(v) for v in new[:5]) + (f" and {len(new) - 5} more" if len(new) > 5 else "")
            raise NewLevelError(f"new level(s) {shown} of grouping factor {enc.grouping.group!r} "
                                f"({len(rows)} row(s)); pass allow_new_levels=True to predict them "
                                f"at the population level")
        return NewTermDesign(X=X, codes=codes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serializable form (lists, strings, numbers)."""
        return {"version": ENCODING_VERSION, "fixed": self.fixed.to_dict(), "kept": list(self.kept),
                "response": self.response, "offset_column": self.offset_column,
                "terms": [t.to_dict() for t in self.terms]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DesignEncoding":
        """Rebuild an equivalent encoder from ``to_dict`` output.

        Raises:
            SerializationError: Unknown layout version.
        """
        if d.get("version") != ENCODING_VERSION:
            raise SerializationError(f"design encoding version {d.get('version')!r} is not supported "
                                     f"(expected {ENCODING_VERSION})")
        return cls(fixed=ModelMatrixEncoding.from_dict(d["fixed"]), kept=tuple(d["kept"]),
                   response=d["response"], offset_column=d["offset_column"],
                   terms=[RandomTermEncoding.from_dict(t) for t in d["terms"]])
