"""Outcomes with K categories: ordinal (cumulative logit) and categorical (multinomial logit).

- ``ordinal``: one latent location ``eta`` per row and ``K - 1`` increasing cut
  points ``c``; ``P(y <= k) = logistic(c_k - eta)``.  Cut points are
  unconstrained as ``cut_first`` (``c_1``) and ``cut_steps`` (``K - 2`` values,
  ``c_{k+1} = c_k + softplus(step_k)``).  Each class probability is computed in
  log space without subtracting probabilities:
  ``P(y = k) = sigmoid(c_k - eta) sigmoid(eta - c_{k-1}) (1 - exp(-(c_k - c_{k-1})))``.
- ``categorical``: ``K - 1`` linear predictors, the first level is the
  reference (its logit is 0); ``P(y = k) = softmax([0, eta])_k``.

``prepare`` accepts integer codes, booleans, strings, or a pandas Categorical
(whose category order is kept; otherwise levels are sorted, as R's
``factor()`` does) and stores 0-based long codes with ``levels``.
Levels that never occur are dropped (their parameters would not be identified);
``info["dropped_levels"]`` lists them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from tabmixr.errors import FamilyError, ResponseError
from tabmixr.families.base import PreparedResponse
from tabmixr.families.common import LinkFamily, check_aux, eta_vector
from tabmixr.families.links import log1mexp
from tabmixr.families.support import fail_at

Tensor = torch.Tensor


def _labels_and_values(y, family: str, response_name: str) -> tuple[list[str], np.ndarray]:
    """Declared level order and the per-row labels (strings)."""
    if isinstance(y, pd.Series):
        y = y.array if isinstance(y.dtype, pd.CategoricalDtype) else y.to_numpy()
    if isinstance(y, pd.Categorical):
        codes = np.asarray(y.codes)
        fail_at(np.asarray(y, dtype=object), codes < 0, family, "no missing values", response_name)
        levels = [str(c) for c in y.categories]
        return levels, np.array(levels, dtype=object)[codes]
    raw = np.asarray(y)
    if raw.ndim != 1:
        raise ResponseError(f"response {response_name!r}: {family} needs a vector of categories, "
                            f"got shape {raw.shape}")
    if raw.dtype == bool:
        return ["False", "True"], np.where(raw, "True", "False").astype(object)
    if np.issubdtype(raw.dtype, np.number):
        values = raw.astype(np.float64)
        fail_at(raw, ~np.isfinite(values), family, "finite category codes", response_name)
        fail_at(raw, np.floor(values) != values, family, "integer category codes (or labels)", response_name)
        levels = np.unique(values)
        return [str(int(v)) for v in levels], np.array([str(int(v)) for v in values], dtype=object)
    missing = np.array([v is None or (isinstance(v, float) and math.isnan(v)) for v in raw])
    fail_at(raw, missing, family, "no missing values", response_name)
    kinds = {type(v) for v in raw}
    if len(kinds) > 1 and not all(issubclass(k, (str, np.str_)) for k in kinds):
        raise ResponseError(f"response {response_name!r}: {family} needs labels of one type, got "
                            f"{', '.join(sorted(k.__name__ for k in kinds))}")
    labels = np.array([str(v) for v in raw], dtype=object)
    return sorted(set(labels)), labels


def encode_categories(y, family: str, response_name: str) -> tuple[np.ndarray, tuple[str, ...], list[str]]:
    """Codes ``0..K-1``, the levels in code order, and the declared levels never seen.

    Raises:
        ResponseError: Missing values, fractional codes, mixed label types, or
            fewer than two observed categories.
    """
    declared, labels = _labels_and_values(y, family, response_name)
    seen = set(labels)
    levels = tuple(level for level in declared if level in seen)
    dropped = [level for level in declared if level not in seen]
    if len(levels) < 2:
        raise ResponseError(f"response {response_name!r}: {family} needs at least 2 observed categories, "
                            f"every row is {levels[0]!r}" if levels else f"response {response_name!r} has no rows")
    index = {level: k for k, level in enumerate(levels)}
    return np.array([index[v] for v in labels], dtype=np.int64), levels, dropped


class Ordinal(LinkFamily):
    """Cumulative-logit ordinal outcome (proportional odds)."""

    name = "ordinal"
    links = ("logit",)
    aux_names = ("cutpoints",)
    response_kind = "categorical"
    absorbs_intercept = True

    def prepare(self, y, response_name: str = "y") -> PreparedResponse:
        """Ordered categories (see the module docstring)."""
        codes, levels, dropped = encode_categories(y, self.name, response_name)
        return PreparedResponse(y=torch.as_tensor(codes), n_eta=1, levels=levels, info={"dropped_levels": dropped})

    def aux_init(self, prepared: PreparedResponse) -> dict[str, float]:
        """Cut points at the logits of the empirical cumulative proportions.

        Returns:
            ``{"cut_first": float, "cut_steps": [K - 2 floats]}``.
        """
        K = len(prepared.levels)
        counts = np.bincount(prepared.y.numpy(), minlength=K)
        cumulative = np.clip(np.cumsum(counts)[:-1] / counts.sum(), 1e-4, 1 - 1e-4)
        cuts = np.log(cumulative / (1.0 - cumulative))
        gaps = np.maximum(np.diff(cuts), 1e-3)
        steps = np.where(gaps > 30, gaps, np.log(np.expm1(np.minimum(gaps, 30))))
        return {"cut_first": float(cuts[0]), "cut_steps": [float(s) for s in steps]}

    def _cuts(self, aux: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Cut points ``(K - 1,)`` and their gaps ``(K - 2,)``."""
        check_aux(aux, ("cut_first", "cut_steps"), self.name)
        gaps = F.softplus(aux["cut_steps"].reshape(-1))
        first = aux["cut_first"].reshape(1)
        return torch.cat([first, first + torch.cumsum(gaps, dim=0)]), gaps

    def aux_values(self, aux: dict[str, Tensor]) -> dict[str, Tensor]:
        """``{"cutpoints": (K - 1,) increasing}``."""
        return {"cutpoints": self._cuts(aux)[0]}

    def log_probs(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``log P(y = k)`` for every row and class, ``(n, K)``."""
        eta = eta_vector(eta)[:, None]
        cuts, gaps = self._cuts(aux)
        zero = torch.zeros_like(eta)
        below = torch.cat([F.logsigmoid(cuts[None, :] - eta), zero], dim=1)
        above = torch.cat([zero, F.logsigmoid(eta - cuts[None, :])], dim=1)
        edge = torch.zeros(1, dtype=gaps.dtype, device=gaps.device)
        gap = torch.cat([edge, log1mexp(gaps), edge])
        return below + above + gap[None, :]

    def log_lik(self, y: Tensor, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``log P(y_i = k_i)``."""
        return self.log_probs(eta, aux).gather(1, y.long().reshape(-1, 1)).squeeze(1)

    def mean(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """Class probabilities ``(n, K)``."""
        return torch.exp(self.log_probs(eta, aux))

    def variance(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """Variance of each class indicator, ``p (1 - p)``, ``(n, K)``."""
        p = self.mean(eta, aux)
        return p * (1.0 - p)

    def simulate(self, eta, aux, generator=None, trials=None) -> Tensor:
        """Class codes drawn from the class probabilities."""
        p = self.mean(eta, aux).detach()
        return torch.multinomial(p, 1, generator=generator).squeeze(1)


class Categorical(LinkFamily):
    """Unordered categories, multinomial logit with the first level as reference."""

    name = "categorical"
    links = ("logit",)
    response_kind = "categorical"

    def prepare(self, y, response_name: str = "y") -> PreparedResponse:
        """Categories (see the module docstring); ``n_eta = K - 1``."""
        codes, levels, dropped = encode_categories(y, self.name, response_name)
        return PreparedResponse(y=torch.as_tensor(codes), n_eta=len(levels) - 1, levels=levels,
                                info={"dropped_levels": dropped})

    def aux_init(self, prepared: PreparedResponse) -> dict[str, float]:
        """No family parameters."""
        return {}

    def aux_values(self, aux: dict[str, Tensor]) -> dict[str, Tensor]:
        """No family parameters."""
        return {}

    def log_probs(self, eta: Tensor, aux: dict[str, Tensor] | None = None) -> Tensor:
        """``log softmax([0, eta])``, ``(n, K)``."""
        if eta.dim() == 1:
            eta = eta[:, None]
        if eta.dim() != 2:
            raise FamilyError(f"categorical needs eta of shape (n, K - 1), got {tuple(eta.shape)}")
        return torch.log_softmax(torch.cat([torch.zeros_like(eta[:, :1]), eta], dim=1), dim=1)

    def log_lik(self, y: Tensor, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """``log P(y_i = k_i)``."""
        return self.log_probs(eta).gather(1, y.long().reshape(-1, 1)).squeeze(1)

    def mean(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """Class probabilities ``(n, K)``."""
        return torch.exp(self.log_probs(eta))

    def variance(self, eta: Tensor, aux: dict[str, Tensor]) -> Tensor:
        """Variance of each class indicator, ``p (1 - p)``, ``(n, K)``."""
        p = self.mean(eta, aux)
        return p * (1.0 - p)

    def simulate(self, eta, aux, generator=None, trials=None) -> Tensor:
        """Class codes drawn from the class probabilities."""
        return torch.multinomial(self.mean(eta, aux).detach(), 1, generator=generator).squeeze(1)
