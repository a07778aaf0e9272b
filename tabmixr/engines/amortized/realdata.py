"""Real data into the amortized model's padded ``Batch`` (and the model's limits).

The trained model covers Gaussian LMMs with an intercept, at most ``P_MAX``
fixed effects and one random-effect term of at most ``Q_MAX`` correlated
effects on one grouping factor, whose columns are columns of ``X``.  Anything
else raises an ``EngineError`` naming the limit and suggesting
``method="reml"`` or ``"vi"``.
"""

from __future__ import annotations

import numpy as np
import torch

from tabmixr.design.design import Design
from tabmixr.engines.amortized.parameters import P_MAX, Q_MAX
from tabmixr.engines.amortized.simulator import Batch, Prior
from tabmixr.errors import EngineError

_ADVICE = "use method='reml' (exact likelihood) or method='vi' instead"


def check_design(design: Design) -> None:
    """Refuse designs outside the trained model.

    Raises:
        EngineError: the limit that is exceeded, by name.
    """
    terms = design.terms
    if len(terms) != 1:
        texts = ", ".join(repr(t.term.text) for t in terms) or "none"
        raise EngineError(f"method='amortized' fits exactly one random-effect term on one grouping "
                          f"factor (correlated effects, '(x | g)'); got {len(terms)}: {texts}; {_ADVICE}")
    term = terms[0]
    if term.term.covariance != "us":
        raise EngineError(f"method='amortized' fits unstructured covariances only; term "
                          f"{term.term.text!r} uses {term.term.covariance!r}; {_ADVICE}")
    if not design.fixed_names or design.fixed_names[0] != "(Intercept)":
        raise EngineError(f"method='amortized' needs an intercept in the fixed part; {_ADVICE}")
    if design.p > P_MAX:
        raise EngineError(f"method='amortized' handles at most {P_MAX} fixed effects (intercept "
                          f"included); the formula has {design.p}; {_ADVICE}")
    if term.q > Q_MAX:
        raise EngineError(f"method='amortized' handles at most {Q_MAX} random effects per group; "
                          f"term {term.term.text!r} has {term.q}; {_ADVICE}")
    missing = [c for c in term.columns if c not in design.fixed_names]
    if missing:
        raise EngineError(f"method='amortized' needs every random-effect column among the fixed "
                          f"effects; {', '.join(map(repr, missing))} of term {term.term.text!r} is not: "
                          f"add it to the fixed part or {_ADVICE}")
    if design.weights is not None or design.offset is not None:
        raise EngineError(f"method='amortized' fits unweighted models without offset; {_ADVICE}")
    if np.ndim(design.y) != 1 and np.shape(design.y)[1] != 1:
        raise EngineError(f"method='amortized' needs a single numeric response; {_ADVICE}")


def batch_from_design(design: Design, prior: Prior) -> Batch:
    """One data set as a padded batch of size 1 (rows grouped by level).

    Args:
        design: A design accepted by ``check_design``.
        prior: Hyperparameters with batch shape ``(1,)``, data scale.

    Returns:
        ``Batch`` with ``G = n_levels`` and ``N`` the largest group size.

    Raises:
        EngineError: see ``check_design``.
    """
    check_design(design)
    term = design.terms[0]
    X = np.asarray(design.X, dtype=float)
    y = np.asarray(design.y, dtype=float).reshape(-1)
    codes = np.asarray(term.codes)
    G = term.n_levels
    counts = np.bincount(codes, minlength=G)
    order = np.argsort(codes, kind="stable")
    pos = np.arange(len(codes)) - np.repeat(np.cumsum(counts) - counts, counts)
    N = int(counts.max())
    Xb = np.zeros((1, G, N, P_MAX))
    yb = np.zeros((1, G, N))
    mask = np.zeros((1, G, N), dtype=bool)
    Xb[0, codes[order], pos, :design.p] = X[order]
    yb[0, codes[order], pos] = y[order]
    mask[0, codes[order], pos] = True
    re_cols = np.zeros((1, Q_MAX), dtype=np.int64)
    re_cols[0, :term.q] = [design.fixed_names.index(c) for c in term.columns]
    return Batch(X=torch.from_numpy(Xb), y=torch.from_numpy(yb), row_mask=torch.from_numpy(mask),
                 group_mask=torch.from_numpy(counts > 0)[None],
                 fixed_mask=torch.arange(P_MAX)[None] < design.p,
                 re_mask=torch.arange(Q_MAX)[None] < term.q, re_cols=torch.from_numpy(re_cols),
                 prior=prior)


def default_prior(design: Design, eta: float = 1.0) -> Prior:
    """Weakly informative defaults on the data's own scale.

    ``beta_0 ~ N(mean(y), (10 sd(y))^2)``, ``beta_j ~ N(0, (10 sd(y)/sd(x_j))^2)``,
    random-effect SD of column ``j`` ``~ HalfNormal(sd(y)/sd(x_j))``
    (``sd(y)`` for the intercept), ``sigma ~ HalfNormal(sd(y))``,
    correlations ``~ LKJ(eta)``.

    Returns:
        ``Prior`` of batch shape ``(1,)``.
    """
    X = np.asarray(design.X, dtype=float)
    y = np.asarray(design.y, dtype=float).reshape(-1)
    sy = float(np.std(y)) or 1.0
    sx = np.ones(P_MAX)
    sx[1:design.p] = [float(np.std(X[:, j])) or 1.0 for j in range(1, design.p)]
    nu = np.zeros(P_MAX)
    nu[0] = float(np.mean(y))
    tau = 10 * sy / sx
    term = design.terms[0]
    tau_s = np.full(Q_MAX, sy)
    for k, c in enumerate(term.columns[:Q_MAX]):
        tau_s[k] = sy / sx[design.fixed_names.index(c)]
    t = lambda v: torch.tensor(np.asarray(v, dtype=float))[None]  # noqa: E731
    return Prior(nu=t(nu), tau=t(tau), tau_s=t(tau_s), tau_e=t(sy), eta=t(eta))
