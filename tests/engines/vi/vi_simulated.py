"""Small simulated data sets for the neural-engine tests."""

import numpy as np
import pandas as pd


def grouped_data(n_groups=30, per_group=20, seed=0, sd_b=0.8, nonlinear=False, group_covariate=False):
    """``y = 1 + 0.5 x + f(x) + b_g + e`` with ``b_g ~ N(0, sd_b^2)`` (or ``b_g = 1.5 z_g``)."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per_group)
    x = rng.uniform(-2, 2, g.size)
    z = rng.normal(size=n_groups)
    b = 1.5 * z if group_covariate else rng.normal(scale=sd_b, size=n_groups)
    mean = 1.0 + 0.5 * x + (2.0 * np.sin(2.0 * x) if nonlinear else 0.0) + b[g]
    y = mean + rng.normal(scale=0.5, size=g.size)
    return pd.DataFrame({"y": y, "x": x, "z": z[g], "g": pd.Categorical([f"g{k}" for k in g]),
                         "mean": mean})
