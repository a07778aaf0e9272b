"""A trained ``VIModel`` as a ``MixedFit`` (the first task fills the lme4-style fields).

* ``fixef``: the linear-part coefficients ``beta`` of the first task;
  ``vcov``: the ``beta`` block of the inverse Hessian of the negative ELBO in
  ``(beta, mu)`` (for a Gaussian LMM exactly lme4's ``vcov``);
* ``varcorr``: each term's learned prior covariance; ``ranef``: variational
  means with the posterior covariances as conditional variances;
* ``criterion``: ``-2 ELBO`` (for a Gaussian LMM with one term: the ML deviance);
* ``extra["structures"]``: parameters of structured priors (``rho``, ARMA
  coefficients, GP length scale), printed by ``summary()``;
* ``model_state``: config, options, the ``state_dict`` as arrays, history,
  tasks (families, aux values, coefficients) -- everything ``predict`` and
  ``load`` need, as plain data.
"""

from __future__ import annotations


import numpy as np
import torch
from torch import nn

from tabmixr.engines.vi.elbo import negative_elbo
from tabmixr.engines.vi.model import Batch, VIModel
from tabmixr.engines.vi.options import VIOptions
from tabmixr.engines.vi.profiled import is_profiled, profiled_correction
from tabmixr.results.fit import MixedFit, RandomTermFit

#: Largest (beta, mu) dimension for the joint Hessian; above, the beta block alone.
MAX_HESSIAN_DIM = 2500
#: Version of the ``model_state`` layout.
STATE_VERSION = 1


class _Objective(nn.Module):
    """``n * (-ELBO / n)`` as a module, so ``functional_call`` can swap parameters."""

    def __init__(self, model: VIModel):
        super().__init__()
        self.model = model

    def forward(self, batch: Batch, opts: VIOptions) -> torch.Tensor:
        return batch.n * negative_elbo(self.model, batch, batch.n, 1.0, opts.quadrature,
                                       max(opts.n_samples, 32))


def beta_vcov(model: VIModel, batch: Batch, opts: VIOptions) -> tuple[np.ndarray, str | None]:
    """Covariance of the first task's ``beta`` from the Hessian of the negative ELBO.

    Returns:
        ``(vcov, note)``; ``note`` says when a fallback was used.
    """
    objective = _Objective(model)
    names = ["model.heads.0.gamma"] + [f"model.posteriors.0.{t}.mu_raw"
                                      for t, post in enumerate(model.posteriors[0])
                                      if not is_profiled(post)]
    params = dict(objective.named_parameters())
    note = None
    if sum(params[n].numel() for n in names) > MAX_HESSIAN_DIM:
        names, note = names[:1], "vcov from the fixed-effects block of the Hessian only (large model)"
    shapes = [params[n].shape for n in names]
    sizes = [params[n].numel() for n in names]
    start = torch.cat([params[n].detach().reshape(-1) for n in names])

    def f(v):
        pieces = torch.split(v, sizes)
        swap = {n: piece.reshape(shape) for n, piece, shape in zip(names, pieces, shapes)}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return torch.func.functional_call(objective, swap, (batch, opts))

    H = torch.autograd.functional.hessian(f, start).detach().cpu().numpy()
    H = (H + H.T) / 2.0
    p = sizes[0]
    correction = profiled_correction(model, batch, opts.quadrature)  # spde, gp: Schur complement
    if correction is not None:
        H[:p, :p] -= correction
    try:
        inv = np.linalg.inv(H)
        if not np.all(np.isfinite(inv)) or np.any(np.diag(inv)[:p] <= 0):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        inv, note = np.linalg.pinv(H), "Hessian of the ELBO is not positive definite; vcov is a pseudo-inverse"
    n_eta = model.heads[0].gamma.shape[1]
    J = torch.kron(model.beta_map(), torch.eye(n_eta, dtype=start.dtype)).detach().cpu().numpy()
    return J @ inv[:p, :p] @ J.T, note


def state_arrays(model: VIModel) -> dict[str, np.ndarray]:
    """The ``state_dict`` as float64 numpy arrays."""
    return {k: v.detach().cpu().to(torch.float64).numpy() for k, v in model.state_dict().items()}


def expanded_names(names, n_eta: int, levels) -> list[str]:
    """Column names of a multi-predictor task (``name:level`` for levels 2..K)."""
    if n_eta == 1:
        return list(names)
    labels = list(levels[1:]) if len(levels) == n_eta + 1 else [str(k + 1) for k in range(n_eta)]
    return [f"{name}:{lab}" for name in names for lab in labels]


def structure_parameters(design, model: VIModel) -> list[dict]:
    """Fitted parameters of the first task's structured priors beyond ``Sigma``
    (``rho``, ARMA coefficients, GP length scale), one record per such term."""
    out = []
    for term, post in zip(design.terms, model.posteriors[0]):
        parameters = post.prior.extra_parameters()
        if parameters:
            out.append({"group": term.group, "term": term.term.text,
                        "covariance": term.term.covariance, "parameters": parameters})
    return out


def build_fit(design, tasks, model: VIModel, batch: Batch, opts: VIOptions, history: list[dict],
              optimizer: str, seed: int) -> MixedFit:
    """Map the trained model to a ``MixedFit``."""
    first, spec = tasks[0], model.config["tasks"][0]
    n_eta = int(spec["n_eta"])
    with torch.no_grad():
        neg_elbo = float(negative_elbo(model, batch, batch.n, 1.0, opts.quadrature, max(opts.n_samples, 32)))
        eta = model.mean_eta(batch, 0)
        mean = first.family.mean(eta, dict(model.aux[0]))
    vcov, note = beta_vcov(model, batch, opts)
    aux = first.family.describe_aux(dict(model.aux[0]))
    sigma = float(aux["sigma"]) if isinstance(aux.get("sigma"), float) else 1.0
    terms, theta = [], []
    for t, (term, post) in enumerate(zip(design.terms, model.posteriors[0])):
        columns = expanded_names(term.columns, n_eta, spec["levels"])
        terms.append(RandomTermFit(group=term.group, columns=tuple(columns), levels=tuple(term.levels),
                                   cov=post.prior.cov().detach().cpu().numpy(),
                                   b=post.mu.detach().cpu().numpy(), cond_var=model.cond_var(0, t).detach().cpu().numpy(),
                                   X=term.X, codes=term.codes))
        theta.append(post.prior.theta() / (sigma if first.family.name == "gaussian" else 1.0))
    mean = mean.detach().cpu().numpy()
    fitted = mean if mean.ndim == 1 else mean.argmax(axis=1).astype(float)
    y = first.prepared.y.detach().cpu().numpy().astype(float)
    if y.ndim == 2:  # binomial successes and trials: the observed proportion
        y = y[:, 0] / np.maximum(y[:, 1], 1e-300)
    messages = [f"{len(design.dropped_rows)} observation(s) deleted due to missingness"] \
        if len(design.dropped_rows) else []
    messages += list(design.messages) + ([note] if note else [])
    last = history[-1] if history else {}
    state = {"engine": "vi", "version": STATE_VERSION, "config": model.config,
             "options": opts.to_dict(), "state": state_arrays(model), "history": history,
             "seed": seed, "tasks": [dict(model.config["tasks"][k],
                                          aux=task.family.describe_aux(dict(model.aux[k])),
                                          beta=model.beta(k).detach().cpu().numpy())
                                     for k, task in enumerate(tasks)]}
    beta = model.beta(0).detach().cpu().numpy().reshape(-1)
    structures = structure_parameters(design, model)
    return MixedFit(method="vi", family=first.family.name, formula=design.spec.formula,
                    response_name=first.name if len(tasks) > 1 else design.response_name,
                    fixed_names=tuple(expanded_names(design.fixed_names, n_eta, spec["levels"])),
                    beta=beta, vcov_beta=vcov, terms=terms, sigma=sigma,
                    theta=np.concatenate(theta) if theta else np.zeros(0),
                    criterion=2.0 * batch.n * neg_elbo, reml=False, nobs=design.n, y=y, X=design.X,
                    weights=design.weights, offset=design.offset, fitted=fitted,
                    encoding=design.encoding,
                    optimizer={"optimizer": optimizer, "epochs": len(history),
                               "objective": last.get("objective"), "neg_elbo": neg_elbo,
                               "seed": seed},
                    singular=False, messages=messages,
                    extra={"aux": aux, **({"structures": structures} if structures else {})},
                    model_state=state)
