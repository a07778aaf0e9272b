"""IID priors: the same ``Sigma`` for every level, levels independent.

* ``"us"``: unstructured ``Sigma = L L^T``, ``L`` lower triangular with a
  log-parametrized diagonal (lme4's ``(x | g)``);
* ``"diag"``: ``Sigma = diag(s^2)`` with ``log s`` free (lme4's ``(x || g)``
  written as one term);
* ``"scalar"``: ``Sigma = s^2 I``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tabmixr.covariance.base import CovarianceStructure, register_covariance


def _log_sd(sd: np.ndarray, q: int) -> torch.Tensor:
    sd = np.broadcast_to(np.asarray(sd, dtype=float), (q,))
    return torch.as_tensor(np.log(np.maximum(sd, 1e-8)), dtype=torch.get_default_dtype())


@register_covariance
class Unstructured(CovarianceStructure):
    """``Sigma = L L^T`` with free off-diagonal and log diagonal of ``L``."""

    name = "us"

    def __init__(self, q: int, n_levels: int):
        super().__init__(q, n_levels)
        self.log_diag = nn.Parameter(torch.zeros(q))
        self.lower = nn.Parameter(torch.zeros(q * (q - 1) // 2))
        self.register_buffer("tril_rows", torch.tril_indices(q, q, offset=-1)[0], persistent=False)
        self.register_buffer("tril_cols", torch.tril_indices(q, q, offset=-1)[1], persistent=False)

    def chol(self) -> torch.Tensor:
        L = torch.diag_embed(torch.exp(self.log_diag))
        if self.q > 1:
            L = L.index_put((self.tril_rows, self.tril_cols), self.lower)
        return L

    def set_scale(self, sd: np.ndarray) -> None:
        with torch.no_grad():
            self.log_diag.copy_(_log_sd(sd, self.q))
            self.lower.zero_()


@register_covariance
class Diagonal(CovarianceStructure):
    """``Sigma = diag(exp(2 * log_sd))``."""

    name = "diag"

    def __init__(self, q: int, n_levels: int):
        super().__init__(q, n_levels)
        self.log_sd = nn.Parameter(torch.zeros(q))

    def chol(self) -> torch.Tensor:
        return torch.diag_embed(torch.exp(self.log_sd))

    def set_scale(self, sd: np.ndarray) -> None:
        with torch.no_grad():
            self.log_sd.copy_(_log_sd(sd, self.q))


@register_covariance
class Scalar(CovarianceStructure):
    """``Sigma = exp(2 * log_sd) I``."""

    name = "scalar"

    def __init__(self, q: int, n_levels: int):
        super().__init__(q, n_levels)
        self.log_sd = nn.Parameter(torch.zeros(()))

    def chol(self) -> torch.Tensor:
        return torch.exp(self.log_sd) * torch.eye(self.q, dtype=self.log_sd.dtype,
                                                  device=self.log_sd.device)

    def set_scale(self, sd: np.ndarray) -> None:
        with torch.no_grad():
            self.log_sd.fill_(float(np.log(max(float(np.mean(sd)), 1e-8))))
