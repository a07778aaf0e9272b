"""Where each element of ``theta`` lives in the relative covariance factor.

lme4 stores, for every random-effect term with ``q`` columns, the lower
triangle of a ``q x q`` Cholesky-like factor ``Lambda_t`` column by column:
``theta = (L11, L21, ..., Lq1, L22, ...)``.  The diagonal elements are bounded
below by zero; the rest are free.  The full ``Lambda`` is block diagonal with
``Lambda_t`` repeated once per level of the term's grouping factor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ThetaLayout:
    """Positions of theta elements per term.

    Attributes:
        q: Columns per term.
        n_levels: Levels per term.
        offsets: Start of each term's slice in ``theta``.
        rows: Row index ``i`` (within the term's factor) of every theta element.
        cols: Column index ``j`` of every theta element.
        term_of: Term index of every theta element.
    """

    q: tuple[int, ...]
    n_levels: tuple[int, ...]
    offsets: tuple[int, ...]
    rows: np.ndarray
    cols: np.ndarray
    term_of: np.ndarray

    @classmethod
    def from_terms(cls, q: list[int], n_levels: list[int]) -> "ThetaLayout":
        """Build the layout for terms with ``q`` columns and ``n_levels`` levels."""
        rows, cols, term_of, offsets = [], [], [], []
        for t, qt in enumerate(q):
            offsets.append(len(rows))
            for j in range(qt):
                for i in range(j, qt):
                    rows.append(i)
                    cols.append(j)
                    term_of.append(t)
        return cls(tuple(q), tuple(n_levels), tuple(offsets),
                   np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64),
                   np.array(term_of, dtype=np.int64))

    @property
    def size(self) -> int:
        """Number of theta elements."""
        return len(self.rows)

    @property
    def is_diagonal(self) -> np.ndarray:
        """Boolean mask of theta elements on a diagonal (bounded below by 0)."""
        return self.rows == self.cols

    def lower_bounds(self) -> np.ndarray:
        """lme4's lower bounds: 0 on diagonals, -inf elsewhere."""
        return np.where(self.is_diagonal, 0.0, -np.inf)

    def start(self) -> np.ndarray:
        """lme4's starting value: identity factors."""
        return self.is_diagonal.astype(float)

    def term_slice(self, t: int) -> slice:
        """Slice of ``theta`` belonging to term ``t``."""
        end = self.offsets[t + 1] if t + 1 < len(self.offsets) else self.size
        return slice(self.offsets[t], end)

    def factor(self, theta: np.ndarray, t: int) -> np.ndarray:
        """The ``q_t x q_t`` lower-triangular factor ``Lambda_t`` of term ``t``."""
        s = self.term_slice(t)
        qt = self.q[t]
        out = np.zeros((qt, qt))
        out[self.rows[s], self.cols[s]] = theta[s]
        return out
