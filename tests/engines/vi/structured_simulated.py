"""Simulated data with structured random effects (AR(1), ARMA(1,1), Matern 3/2 field)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def ar1_data(seed=0, n_times=200, per_time=5, rho=0.8, sd_b=1.0, sd_e=1.0):
    """``y = 1 + 0.5 x + b_time + e`` with a stationary AR(1) ``b`` over integer times."""
    rng = np.random.default_rng(seed)
    b = np.zeros(n_times)
    b[0] = rng.normal(0, sd_b)
    for t in range(1, n_times):
        b[t] = rho * b[t - 1] + rng.normal(0, sd_b * np.sqrt(1 - rho ** 2))
    time = np.repeat(np.arange(n_times), per_time)
    x = rng.normal(size=time.size)
    y = 1.0 + 0.5 * x + b[time] + rng.normal(0, sd_e, time.size)
    return pd.DataFrame({"y": y, "x": x, "time": time}), b


def arma_data(seed=0, n_times=300, per_time=4, phi=0.7, theta=0.4, sd_e=0.5, burn=200):
    """``y = 1 + 0.3 z + b_time + e`` with ``b_t = phi b_{t-1} + u_t + theta u_{t-1}``, ``u ~ N(0, 1)``."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=n_times + burn)
    x = np.zeros(n_times + burn)
    for t in range(1, n_times + burn):
        x[t] = phi * x[t - 1] + u[t] + theta * u[t - 1]
    b = x[burn:]
    time = np.repeat(np.arange(n_times), per_time)
    z = rng.normal(size=time.size)
    y = 1.0 + 0.3 * z + b[time] + rng.normal(0, sd_e, time.size)
    return pd.DataFrame({"y": y, "z": z, "time": time}), b


def matern32_data(seed=0, side=15, ell=3.0, sd_b=1.0, sd_e=0.5, per_site=4):
    """``y = 2 + 0.5 x + b_site + e`` with a Matern 3/2 field ``b`` on a ``side x side`` grid."""
    rng = np.random.default_rng(seed)
    gx, gy = np.meshgrid(np.arange(side, dtype=float), np.arange(side, dtype=float))
    coords = np.c_[gx.ravel(), gy.ravel()]
    d = np.sqrt(((coords[:, None] - coords[None]) ** 2).sum(-1)) / ell
    K = (1 + np.sqrt(3) * d) * np.exp(-np.sqrt(3) * d)
    b = sd_b * np.linalg.cholesky(K + 1e-9 * np.eye(len(K))) @ rng.normal(size=len(K))
    site = np.repeat(np.arange(len(K)), per_site)
    x = rng.normal(size=site.size)
    y = 2.0 + 0.5 * x + b[site] + rng.normal(0, sd_e, site.size)
    return pd.DataFrame({"y": y, "x": x, "site": site, "cx": coords[site, 0],
                         "cy": coords[site, 1]}), b


def rmse(a, b) -> float:
    """Root mean squared difference."""
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))
