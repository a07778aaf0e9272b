"""Gaussian-process prior over levels with coordinates: ``gp(x | site, coords = c(x, y))``.

The effects of level ``g`` (a ``q``-vector) are correlated across levels by
a stationary kernel of the distance between the levels' coordinates:

    Cov(vec b) = K kron Sigma,   K_gh = k(||s_g - s_h|| / ell) + jitter * 1[g = h],

with ``k`` one of ``rbf`` (``exp(-d^2 / 2)``), ``matern12`` (``exp(-d)``),
``matern32`` (``(1 + sqrt3 d) exp(-sqrt3 d)``) and ``matern52``
(``(1 + sqrt5 d + 5 d^2 / 3) exp(-sqrt5 d)``), the length scale ``ell``
learned on the log scale and ``Sigma = L L^T`` as the unstructured prior.
KL pieces through one dense Cholesky ``K = C C^T`` per evaluation:

* ``log det = q log det K + n log det Sigma``;
* ``quad = sum_j a_j^T K^-1 a_j`` with ``a = mu Sigma^-T/2`` column by column;
* ``trace = sum_g (K^-1)_gg tr(Sigma^-1 S_g)``.

Dense work is O(n^3): more than ``MAX_LEVELS`` levels is refused with an
error that points to ``spde()``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from tabmixr.covariance.base import register_covariance
from tabmixr.covariance.iid import Unstructured
from tabmixr.errors import EngineError

#: Most levels a dense GP prior accepts.
MAX_LEVELS = 4000
#: Added to K's diagonal (relative to its unit variance).
JITTER = 1e-6


def _rbf(d: torch.Tensor) -> torch.Tensor:
    return torch.exp(-0.5 * d * d)


def _matern12(d: torch.Tensor) -> torch.Tensor:
    return torch.exp(-d)


def _matern32(d: torch.Tensor) -> torch.Tensor:
    s = math.sqrt(3.0) * d
    return (1.0 + s) * torch.exp(-s)


def _matern52(d: torch.Tensor) -> torch.Tensor:
    s = math.sqrt(5.0) * d
    return (1.0 + s + s * s / 3.0) * torch.exp(-s)


#: Correlation functions of the scaled distance ``d / ell``.
KERNELS = {"rbf": _rbf, "matern12": _matern12, "matern32": _matern32, "matern52": _matern52}


def kernel_function(name: str):
    """The correlation function called ``name``.

    Raises:
        EngineError: Unknown kernel name.
    """
    try:
        return KERNELS[name]
    except KeyError:
        raise EngineError(f"gp: unknown kernel {name!r}; choose one of {', '.join(KERNELS)}") from None


@register_covariance
class GaussianProcess(Unstructured):
    """``Cov(vec b) = K(coords; ell) kron Sigma`` with a stationary kernel."""

    name = "gp"

    def __init__(self, q: int, n_levels: int, kernel: str = "matern32"):
        if n_levels > MAX_LEVELS:
            raise EngineError(f"gp: {n_levels} levels are too many for a dense Gaussian process "
                              f"(at most {MAX_LEVELS}); use spde(1 | site, coords = c(x, y)) instead")
        super().__init__(q, n_levels)
        self.kernel = kernel
        self._k = kernel_function(kernel)
        self.log_ell = nn.Parameter(torch.zeros(()))
        self.register_buffer("distances", torch.zeros(n_levels, n_levels), persistent=True)

    def set_coordinates(self, coords: np.ndarray) -> None:
        """Store the levels' coordinates and start ``ell`` at the median distance.

        Args:
            coords: ``(n_levels, d)`` coordinates, one row per level.

        Raises:
            EngineError: Wrong shape or non-finite coordinates.
        """
        coords = np.asarray(coords, dtype=float)
        if coords.ndim != 2 or coords.shape[0] != self.n_levels:
            raise EngineError(f"gp: coordinates must have one row per level ({self.n_levels}), "
                              f"got shape {coords.shape}")
        if not np.all(np.isfinite(coords)):
            raise EngineError("gp: coordinates must be finite")
        diff = coords[:, None, :] - coords[None, :, :]
        distances = np.sqrt((diff ** 2).sum(-1))
        with torch.no_grad():
            self.distances.copy_(torch.as_tensor(distances, dtype=self.distances.dtype))
            positive = distances[distances > 0]
            self.log_ell.fill_(float(np.log(np.median(positive))) if positive.size else 0.0)

    def length_scale(self) -> torch.Tensor:
        """The kernel's length scale ``ell``."""
        return torch.exp(self.log_ell)

    def correlation(self) -> torch.Tensor:
        """``K`` with its jitter, ``(n_levels, n_levels)``."""
        K = self._k(self.distances / self.length_scale())
        return K + JITTER * torch.eye(self.n_levels, dtype=K.dtype, device=K.device)

    def _chol_k(self) -> torch.Tensor:
        C, info = torch.linalg.cholesky_ex(self.correlation())
        if int(info) != 0:
            raise EngineError(f"gp: kernel matrix not positive definite (length scale "
                              f"{float(self.length_scale()):.3g}); duplicated coordinates?")
        return C

    def logdet(self) -> torch.Tensor:
        logdet_sigma = 2.0 * torch.log(torch.diagonal(self.chol())).sum()
        logdet_k = 2.0 * torch.log(torch.diagonal(self._chol_k())).sum()
        return self.q * logdet_k + self.n_levels * logdet_sigma

    def quad(self, mu: torch.Tensor) -> torch.Tensor:
        a = torch.linalg.solve_triangular(self.chol(), mu.T, upper=False)      # (q, n)
        w = torch.linalg.solve_triangular(self._chol_k(), a.T, upper=False)    # (n, q)
        return (w * w).sum()

    def trace(self, L_post: torch.Tensor) -> torch.Tensor:
        C = self._chol_k()
        eye = torch.eye(self.n_levels, dtype=C.dtype, device=C.device)
        C_inv = torch.linalg.solve_triangular(C, eye, upper=False)
        k_inv_diag = (C_inv * C_inv).sum(dim=0)
        L = self.chol().expand(L_post.shape[0], self.q, self.q)
        A = torch.linalg.solve_triangular(L, L_post, upper=False)
        return (k_inv_diag * (A * A).sum(dim=(-2, -1))).sum()

    def extra_parameters(self) -> dict[str, float]:
        """Parameters beyond ``Sigma``: ``{"length_scale": ...}``."""
        return {"length_scale": float(self.length_scale().detach().cpu())}
