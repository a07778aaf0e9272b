"""Starting values for theta.

lme4 starts every relative covariance factor at the identity.  For scalar
terms a one-way moment estimate is usually much closer to the optimum (on
InstEval it halves the number of evaluations): with OLS residuals ``r`` and
group means ``m_g`` of a term's grouping factor,

    tau^2 = var(m_g) - sigma_w^2 * mean(1 / n_g),   theta = sqrt(tau^2 / sigma_w^2),

where ``sigma_w^2`` is the pooled within-group variance.  Vector-valued
terms keep lme4's identity start.  The engine evaluates both candidates and
starts from the better one, so the moment start can only help.
"""

from __future__ import annotations

import numpy as np

from tabmixr.design.design import Design
from tabmixr.engines.exact.theta_layout import ThetaLayout

#: Moment starts are clipped into this range (relative SD scale).
START_RANGE = (0.1, 10.0)


def moment_start(design: Design, layout: ThetaLayout) -> np.ndarray:
    """Moment-based theta for scalar terms, identity factors elsewhere.

    Args:
        design: The materialized model.
        layout: Its theta layout.

    Returns:
        A starting theta inside the bounds.
    """
    theta = layout.start()
    w = np.ones(design.n) if design.weights is None else np.sqrt(np.asarray(design.weights, float))
    y = np.asarray(design.y, dtype=float).reshape(-1)
    if design.offset is not None:
        y = y - design.offset
    beta, *_ = np.linalg.lstsq(design.X * w[:, None], y * w, rcond=None)
    resid = (y - design.X @ beta) * w
    for t, term in enumerate(design.terms):
        if term.q != 1:
            continue
        counts = np.maximum(np.bincount(term.codes, minlength=term.n_levels), 1)
        means = np.bincount(term.codes, weights=resid, minlength=term.n_levels) / counts
        dof = len(resid) - term.n_levels
        within = np.sum((resid - means[term.codes]) ** 2) / dof if dof > 0 else 0.0
        if within <= 0:
            continue
        tau2 = np.var(means) - within * np.mean(1.0 / counts)
        value = np.sqrt(max(tau2, 0.0) / within)
        theta[layout.term_slice(t)] = np.clip(value, *START_RANGE)
    return theta
