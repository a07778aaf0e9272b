"""Gaussian-process prior over levels with coordinates: ``gp(x | site, coords = c(x, y))``.

The effects of level ``g`` (a ``q``-vector) are correlated across levels by
a stationary kernel of the distance between the levels' coordinates:

    Cov(vec b) = K kron Sigma,   K_gh = k(||s_g - s_h|| / ell) + jitter * 1[g = h],

with ``k`` one of ``rbf`` (``exp(-d^2 / 2)``), ``matern12`` (``exp(-d)``),
``matern32`` (``(1 + sqrt3 d) exp(-sqrt3 d)``) and ``matern52``
(``(1 + sqrt5 d + 5 d^2 / 3) exp(-sqrt5 d)``), the length scale ``ell``
learned on the log scale (started at the median distance between levels)
and ``Sigma = L L^T`` as the unstructured prior.  KL pieces and kriging of
new levels: ``tabmixr.covariance.dense``; ``correlation_and_gradient`` gives
``K`` with its closed-form derivative in ``log(ell)`` (``KERNEL_SLOPES``) to
the neural engine's dense posterior (``tabmixr.engines.vi.dense_posterior``:
about 1 s per evaluation at 2500 levels on one core).  More than
``MAX_LEVELS`` levels is refused with an error that points to ``spde()``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from tabmixr.covariance.base import register_covariance
from tabmixr.covariance.dense import JITTER, MAX_LEVELS, DenseCorrelation
from tabmixr.errors import EngineError

__all__ = ["GaussianProcess", "KERNELS", "KERNEL_SLOPES", "JITTER", "MAX_LEVELS", "kernel_function"]


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


# The slope forms run without a graph, on n^2 entries: in place (half the time of fresh tensors).
def _rbf_slope(d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    d2 = d * d
    k = torch.mul(d2, -0.5).exp_()
    return k, d2.mul_(k).neg_()


def _matern12_slope(d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    k = torch.neg(d).exp_()
    return k, torch.mul(d, k).neg_()


def _matern32_slope(d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    s = d * math.sqrt(3.0)
    e = torch.neg(s).exp_()
    k = (s + 1.0).mul_(e)
    return k, s.square_().mul_(e).neg_()


def _matern52_slope(d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    s = d * math.sqrt(5.0)
    e = torch.neg(s).exp_()
    k = (s * s).div_(3.0).add_(s).add_(1.0).mul_(e)          # (1 + s + s^2 / 3) e
    return k, (s + 1.0).mul_(s).mul_(s).div_(3.0).mul_(e).neg_()   # -s^2 (1 + s) / 3 e


#: ``(k(d), d k'(d))`` of each kernel from one exponential (``dK/dlog(ell) = -d k'(d)``).
KERNEL_SLOPES = {"rbf": _rbf_slope, "matern12": _matern12_slope, "matern32": _matern32_slope,
                 "matern52": _matern52_slope}


def kernel_function(name: str):
    """The correlation function called ``name``.

    Raises:
        EngineError: Unknown kernel name.
    """
    try:
        return KERNELS[name]
    except KeyError:
        raise EngineError(f"gp: unknown kernel {name!r}; choose one of {', '.join(KERNELS)}") from None


def pairwise_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distances between the rows of ``a`` ``(m, d)`` and ``b`` ``(n, d)``."""
    return torch.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


@register_covariance
class GaussianProcess(DenseCorrelation):
    """``Cov(vec b) = K(coords; ell) kron Sigma`` with a stationary kernel.

    Args:
        q: Effects per level.
        n_levels: Levels (sites).
        kernel: A key of ``KERNELS``.
        dim: Number of coordinates per level.
    """

    name = "gp"
    level_data = "coords"
    arguments = ("kernel",)
    too_many_hint = "; use spde(1 | site, coords = c(x, y)) instead"

    def __init__(self, q: int, n_levels: int, kernel: str = "matern32", dim: int = 2):
        super().__init__(q, n_levels)
        self.kernel = kernel
        self._k = kernel_function(kernel)
        self.log_ell = nn.Parameter(torch.zeros(()))
        self.register_buffer("coords", torch.zeros(n_levels, int(dim)), persistent=True)
        self._distances: tuple | None = None

    @classmethod
    def build(cls, q: int, n_levels: int, args: dict) -> "GaussianProcess":
        """From wrapper arguments: ``kernel`` and the number of ``coords`` columns."""
        return cls(q, n_levels, kernel=args.get("kernel", "matern32"),
                   dim=len(args.get("coords", ("x", "y"))))

    def set_level_data(self, data: np.ndarray | None) -> None:
        """Store the levels' coordinates and start ``ell`` at the median distance.

        Args:
            data: ``(n_levels, dim)`` coordinates, one row per level.

        Raises:
            EngineError: Missing, wrongly shaped or non-finite coordinates.
        """
        if data is None:
            raise EngineError("gp: needs the levels' coordinates")
        coords = np.asarray(data, dtype=float)
        if coords.ndim == 1:
            coords = coords[:, None]
        if coords.ndim != 2 or coords.shape != tuple(self.coords.shape):
            raise EngineError(f"gp: coordinates must have one row per level ({self.n_levels}) "
                              f"and {self.coords.shape[1]} column(s), got shape {coords.shape}")
        if not np.all(np.isfinite(coords)):
            raise EngineError("gp: coordinates must be finite")
        with torch.no_grad():
            self.coords.copy_(torch.as_tensor(coords, dtype=self.coords.dtype))
            distances = self.distances().cpu().numpy()
            positive = distances[distances > 0]
            self.log_ell.fill_(float(np.log(np.median(positive))) if positive.size else 0.0)

    #: The old name of ``set_level_data``.
    set_coordinates = set_level_data

    def distances(self) -> torch.Tensor:
        """Distances between the fitted levels, ``(n_levels, n_levels)`` (cached)."""
        key = (id(self.coords), self.coords._version, self.coords.dtype, self.coords.device)
        if self._distances is None or self._distances[0] != key:
            with torch.no_grad():
                self._distances = (key, pairwise_distances(self.coords, self.coords))
        return self._distances[1]

    def length_scale(self) -> torch.Tensor:
        """The kernel's length scale ``ell``."""
        return torch.exp(self.log_ell)

    def correlation(self) -> torch.Tensor:
        K = self._k(self.distances() / self.length_scale())
        return K + JITTER * torch.eye(self.n_levels, dtype=K.dtype, device=K.device)

    def correlation_and_gradient(self):
        """``K`` and ``grad(d_K) = [<d_K, dK/dlog(ell)>]`` in closed form (``KERNEL_SLOPES``),
        without autograd through the ``n^2`` kernel evaluations."""
        with torch.no_grad():
            K, slope = KERNEL_SLOPES[self.kernel](self.distances() / self.length_scale())
            K.diagonal().add_(JITTER)

        def grad(d_K: torch.Tensor) -> list[torch.Tensor]:
            return [-(d_K.reshape(-1) @ slope.to(d_K.dtype).reshape(-1)).reshape(self.log_ell.shape)
                    .to(self.log_ell.dtype)]

        return K, grad

    def cross_correlation(self, new_data: np.ndarray) -> torch.Tensor:
        new = torch.as_tensor(np.asarray(new_data, dtype=float), dtype=self.coords.dtype,
                              device=self.coords.device).reshape(-1, self.coords.shape[1])
        return self._k(pairwise_distances(new, self.coords) / self.length_scale())

    def structure_parameters(self) -> list[nn.Parameter]:
        return [self.log_ell]

    def extra_parameters(self) -> dict[str, float]:
        """Parameters beyond ``Sigma``: ``{"length_scale": ...}``."""
        return {"length_scale": float(self.length_scale().detach().cpu())}
