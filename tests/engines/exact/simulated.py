"""Hand-built designs on simulated data for engine-level tests.

They bypass the formula and design stages so the engine's algebra is tested
on its own: every term gets an intercept plus the listed covariates.
"""

from __future__ import annotations

import numpy as np

from tabmixr.design.design import Design, RandomTermDesign
from tabmixr.formula.spec import ModelSpec, RandomTerm


def simulated_design(n=400, p=2, terms=((1, 12), (2, 7)), seed=0, weights=False, offset=False):
    """A design with ``terms`` given as ``(q, n_levels)`` pairs.

    Args:
        n: Observations.
        p: Fixed-effect columns (intercept included).
        terms: ``(q, n_levels)`` per random-effect term.
        seed: Random seed.
        weights: Add positive prior weights.
        offset: Add an offset.

    Returns:
        A ``Design`` whose response follows the model with unit variances.
    """
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n)] + [rng.normal(size=n) for _ in range(p - 1)])
    y = X @ rng.normal(size=p) + rng.normal(size=n)
    rterms = []
    for k, (q, levels) in enumerate(terms):
        codes = np.concatenate([np.arange(levels), rng.integers(0, levels, n - levels)])
        Xt = np.column_stack([np.ones(n)] + [rng.normal(size=n) for _ in range(q - 1)])
        b = rng.normal(size=(levels, q))
        y += np.einsum("nq,nq->n", Xt, b[codes])
        group = f"g{k}"
        cols = ("(Intercept)",) + tuple(f"x{j}" for j in range(1, q))
        rterms.append(RandomTermDesign(term=RandomTerm(lhs="1", group=group, group_vars=(group,)),
                                       group=group, columns=cols, X=Xt, codes=codes,
                                       levels=tuple(str(i) for i in range(levels))))
    rterms.sort(key=lambda t: -t.n_levels)
    spec = ModelSpec(formula="y ~ simulated", response="y", fixed="1", random=())
    return Design(spec=spec, X=X, fixed_names=("(Intercept)",) + tuple(f"z{j}" for j in range(1, p)),
                  y=y, response_name="y", weights=rng.uniform(0.5, 2.0, n) if weights else None,
                  offset=rng.normal(size=n) if offset else None, terms=rterms,
                  row_index=np.arange(n))
