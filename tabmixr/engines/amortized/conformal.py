"""Split-conformal calibration of posterior interval endpoints, per parameter.

For a central ``1 - alpha`` interval ``[lo, hi]`` with posterior SD ``sd``,
each endpoint is calibrated on its own on simulated calibration sets with
known true values ``theta_i``, with the normalized scores::

    e_lo,i = (lo_i - theta_i) / sd_i        (> 0: the truth fell below)
    e_hi,i = (theta_i - hi_i) / sd_i        (> 0: the truth fell above)

The correction is the conformal quantile at one-sided level ``alpha / 2``,
``Q = e_(ceil((n + 1)(1 - alpha/2)))`` (the ``ceil((n+1)(1-alpha/2))``-th
smallest score), and the calibrated interval is ``[lo - Q_lo sd, hi + Q_hi sd]``.
A negative ``Q`` narrows an over-wide interval.  For exchangeable calibration
and test sets, each endpoint misses with probability at most ``alpha/2``
(Lei et al. 2018; Romano, Patterson & Candes 2019, CQR), so the interval
covers with probability at least ``1 - alpha``.  Normalizing by ``sd`` makes
the correction scale with each data set's posterior width.

Mondrian calibration (Vovk et al. 2005): with ``classes`` the corrections
are learned within each class of calibration sets on its own, so coverage
holds within each class, not only on average.  The engine's classes are the
importance-sampling diagnostic: ``"reliable"`` (Pareto k-hat <= 0.7) and
``"unreliable"`` sets have very different interval quality, and pooled
corrections would widen the good intervals for the bad ones' sake.

``ConformalCalibration`` is the plain-data object shipped next to the weights
(``to_dict``/``from_dict``, JSON-safe).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tabmixr.errors import SerializationError

#: Interval levels calibrated by default (the acceptance criterion's alphas).
DEFAULT_ALPHAS = (0.05, 0.1, 0.2, 0.32, 0.5)
SCHEMA_VERSION = 1


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ``ceil((n + 1) level)``-th smallest finite score (``inf`` if beyond ``n``)."""
    s = np.sort(np.asarray(scores, dtype=float)[np.isfinite(scores)])
    n = s.size
    r = int(math.ceil((n + 1) * level))
    if n == 0 or r > n:
        return float("inf")
    return float(s[max(r, 1) - 1])


@dataclass
class ConformalCalibration:
    """Endpoint corrections ``(n_params, n_alphas)`` in posterior-SD units.

    Attributes:
        names: Parameter names (e.g. ``"beta[0]"``, ``"sd[1]"``, ``"sigma"``).
        alphas: Miscoverage levels.
        q_lower, q_upper: Corrections of the lower and upper endpoints.
        n_calibration: Calibration sets used per parameter.
        meta: Free-form provenance (seed, model checksum, ...).
        by_class: Mondrian corrections ``{class: (q_lower, q_upper)}``
            (empty: pooled only).
    """

    names: tuple[str, ...]
    alphas: tuple[float, ...]
    q_lower: np.ndarray
    q_upper: np.ndarray
    n_calibration: np.ndarray
    meta: dict = field(default_factory=dict)
    by_class: dict = field(default_factory=dict)

    def index(self, name: str, alpha: float) -> tuple[int, int]:
        """Row and column of ``name`` and ``alpha``.

        Raises:
            KeyError: unknown parameter or level (message names it).
        """
        if name not in self.names:
            raise KeyError(f"no conformal calibration for parameter {name!r}")
        hits = [i for i, a in enumerate(self.alphas) if abs(a - alpha) < 1e-12]
        if not hits:
            raise KeyError(f"no conformal calibration at alpha={alpha}; calibrated: {self.alphas}")
        return self.names.index(name), hits[0]

    def adjust(self, name: str, alpha: float, lo, hi, sd, klass: str | None = None):
        """Calibrated endpoints ``(lo - Q_lo sd, hi + Q_hi sd)``.

        An infinite correction (too few calibration sets for the level)
        gives an infinite endpoint even where ``sd`` is 0.

        Args:
            klass: Use that class's corrections (``by_class``) when it has
                them; ``None`` or an unknown class: the pooled ones.
        """
        i, j = self.index(name, alpha)
        sd = np.asarray(sd, dtype=float)
        q_lower, q_upper = self.by_class.get(klass, (self.q_lower, self.q_upper))

        def shift(Q):
            return np.full(sd.shape, Q) if np.isinf(Q) else Q * sd
        return np.asarray(lo) - shift(q_lower[i, j]), np.asarray(hi) + shift(q_upper[i, j])

    def to_dict(self) -> dict:
        """JSON-safe plain data."""
        return {"schema": SCHEMA_VERSION, "names": list(self.names), "alphas": list(self.alphas),
                "q_lower": self.q_lower.tolist(), "q_upper": self.q_upper.tolist(),
                "n_calibration": np.asarray(self.n_calibration).tolist(), "meta": dict(self.meta),
                "by_class": {k: [np.asarray(lo).tolist(), np.asarray(hi).tolist()]
                             for k, (lo, hi) in self.by_class.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> "ConformalCalibration":
        """Inverse of ``to_dict``.

        Raises:
            SerializationError: unknown schema version.
        """
        if d.get("schema") != SCHEMA_VERSION:
            raise SerializationError(f"conformal calibration schema {d.get('schema')!r} is not "
                                     f"supported (expected {SCHEMA_VERSION})")
        return cls(names=tuple(d["names"]), alphas=tuple(d["alphas"]),
                   q_lower=np.asarray(d["q_lower"], dtype=float),
                   q_upper=np.asarray(d["q_upper"], dtype=float),
                   n_calibration=np.asarray(d["n_calibration"], dtype=int), meta=dict(d.get("meta", {})),
                   by_class={k: (np.asarray(lo, dtype=float), np.asarray(hi, dtype=float))
                             for k, (lo, hi) in d.get("by_class", {}).items()})


def _corrections(truth, lower, upper, sd, alphas, active):
    P, A = truth.shape[1], len(alphas)
    q_lo, q_hi = np.zeros((P, A)), np.zeros((P, A))
    for i in range(P):
        use = active[:, i] & (sd[:, i] > 0)
        for j, alpha in enumerate(alphas):
            e_lo = (lower[use, i, j] - truth[use, i]) / sd[use, i]
            e_hi = (truth[use, i] - upper[use, i, j]) / sd[use, i]
            q_lo[i, j] = conformal_quantile(e_lo, 1 - alpha / 2)
            q_hi[i, j] = conformal_quantile(e_hi, 1 - alpha / 2)
    return q_lo, q_hi


def calibrate(names, truth: np.ndarray, lower: np.ndarray, upper: np.ndarray, sd: np.ndarray,
              alphas=DEFAULT_ALPHAS, active: np.ndarray | None = None, meta: dict | None = None,
              classes: np.ndarray | None = None):
    """Learn endpoint corrections from calibration sets.

    Args:
        names: ``n_params`` parameter names.
        truth: True values ``(n_sets, n_params)``.
        lower, upper: Uncalibrated endpoints ``(n_sets, n_params, n_alphas)``.
        sd: Posterior SDs ``(n_sets, n_params)``.
        alphas: Levels of the ``n_alphas`` intervals.
        active: ``(n_sets, n_params)`` booleans: parameter present in that set.
        meta: Provenance stored with the result.
        classes: ``(n_sets,)`` class labels (strings) for Mondrian corrections
            (module docstring), learned besides the pooled ones.

    Returns:
        ``ConformalCalibration``.
    """
    truth, sd = np.asarray(truth, float), np.asarray(sd, float)
    active = np.ones(truth.shape, bool) if active is None else np.asarray(active, bool)
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    q_lo, q_hi = _corrections(truth, lower, upper, sd, alphas, active)
    by_class = {}
    if classes is not None:
        classes = np.asarray(classes)
        for c in np.unique(classes):
            m = classes == c
            by_class[str(c)] = _corrections(truth[m], lower[m], upper[m], sd[m], alphas, active[m])
    return ConformalCalibration(names=tuple(names), alphas=tuple(float(a) for a in alphas),
                                q_lower=q_lo, q_upper=q_hi, n_calibration=active.sum(0),
                                meta=dict(meta or {}), by_class=by_class)


def coverage(truth, lower, upper) -> np.ndarray:
    """Fraction of ``truth`` inside ``[lower, upper]`` along axis 0."""
    truth = np.asarray(truth)
    return np.mean((np.asarray(lower) <= truth) & (truth <= np.asarray(upper)), axis=0)
