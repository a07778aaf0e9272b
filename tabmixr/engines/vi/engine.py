"""``method="vi"``: the neural mixed model (TabMixNN) on the shared design/results stack.

``fit`` is a short composition: tasks (families, responses) -> model from a
plain config -> starting values (a fixed-effects-only fit, then prior scales)
-> training (``train.py``) -> new-level networks -> ``MixedFit``
(``results.py``).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import torch

from tabmixr.design.design import Design
from tabmixr.engines.base import Engine, register_engine
from tabmixr.engines.vi.backbones import backbone_options as backbone_config
from tabmixr.engines.vi.data import design_batch
from tabmixr.engines.vi.dense_posterior import DENSE_MAX_DIM
from tabmixr.engines.vi.model import Batch, VIModel
from tabmixr.engines.vi.newlevels import level_summaries, train_new_level_net
from tabmixr.engines.vi.options import VIOptions
from tabmixr.engines.vi.results import build_fit
from tabmixr.covariance.spde import grid_for_sites
from tabmixr.engines.vi.structured import STRUCTURED_MAX_DIM, start_structures, structure_warmup
from tabmixr.engines.vi.tasks import Task, make_tasks
from tabmixr.engines.vi.threads import cpu_threads, flush_denormals, training_threads
from tabmixr.engines.vi.train import pick_optimizer, run_training
from tabmixr.errors import EngineError

#: Prior SD at the start, as a fraction of the residual scale over the column's RMS.
START_PRIOR_FRACTION = 0.5
#: Posterior SD at the start, as a fraction of the prior SD.
START_POSTERIOR_FRACTION = 0.3
#: Outer L-BFGS steps of the fixed-effects-only warm start.
WARM_START_STEPS = 30


def model_config(design: Design, tasks: list[Task], opts: VIOptions) -> dict[str, Any]:
    """The plain dict ``VIModel`` is built from (saved with the fit)."""
    terms = [{"q": int(t.q), "n_levels": int(t.n_levels), "covariance": t.term.covariance,
              "text": t.term.text, "group": t.group, "args": structure_args(t)}
             for t in design.terms]
    backbone_options = backbone_config(opts, design)
    task_specs = []
    for task in tasks:
        spec = task.spec()
        spec["aux_init"] = {k: (float(v) if np.ndim(v) == 0 else list(map(float, v)))
                            for k, v in task.family.aux_init(task.prepared).items()}
        task_specs.append(spec)
    joint = [use_joint(design, int(spec["n_eta"]), opts) for spec in task_specs]
    for term, t in zip(terms, design.terms):
        term["posterior"] = term_posterior(t, opts, any(joint), max(int(s["n_eta"]) for s in task_specs))
        if term["posterior"] == "kin":  # the sparse posterior covers every pedigree animal
            term["args"]["animals"] = list(t.relationship.ids)
    return {"version": 1, "p": int(design.p), "backbone": opts.backbone, "joint": joint,
            "backbone_options": backbone_options, "group_embeddings": bool(opts.group_embeddings),
            "new_level_net": bool(opts.new_level_net), "terms": terms, "tasks": task_specs,
            "dtype": opts.dtype}


def structure_args(term) -> dict[str, Any]:
    """A term's wrapper arguments as plain data (``{}`` for IID terms)."""
    args = {k: (list(v) if isinstance(v, tuple) else v)
            for k, v in dict(term.term.covariance_args).items()}
    if term.term.covariance == "spde":  # the grid covering the sites (tabmixr.covariance.spde)
        args["grid"] = grid_for_sites(term.level_data, args.get("nodes"))
    return args


def use_joint(design: Design, n_eta: int, opts: VIOptions) -> bool:
    """Whether a task gets one posterior over all its terms (see ``VIOptions.posterior``)."""
    if any(t.term.covariance == "spde" for t in design.terms):
        return False  # an spde field has its own sparse posterior over the grid
    if opts.posterior != "auto":
        return opts.posterior == "joint" and len(design.terms) > 0
    if any(dense_term(t, opts, n_eta) or sparse_kin_term(t, opts, n_eta) for t in design.terms):
        return False  # a gp or pedigree kin term has its own posterior, held at its optimum
    dim = sum(t.n_levels * t.q * n_eta for t in design.terms)
    return len(design.terms) > 1 and dim <= opts.joint_max_dim


#: Structures whose terms get the dense posterior held at its optimum (``dense_term``).
DENSE_STRUCTURES = ("gp", "ar1", "arma")


def dense_term(term, opts: VIOptions, n_eta: int) -> bool:
    """Whether a term gets the dense posterior held at its optimum
    (``tabmixr.engines.vi.dense_posterior``): a ``gp``, ``ar1`` or ``arma`` term under
    ``posterior="auto"`` with one linear predictor, no group embeddings
    (its expected log-likelihood by quadrature) and at most ``DENSE_MAX_DIM``
    effects."""
    return (getattr(term.term, "covariance", None) in DENSE_STRUCTURES and opts.posterior == "auto"
            and n_eta == 1 and not opts.group_embeddings
            and term.n_levels * term.q <= DENSE_MAX_DIM)


def sparse_kin_term(term, opts: VIOptions, n_eta: int) -> bool:
    """Whether a term gets the sparse posterior over its whole pedigree held at its
    optimum (``tabmixr.engines.vi.kin_posterior``): a ``kin()`` term on a
    pedigree (not a given matrix) under ``posterior="auto"`` with one linear
    predictor and no group embeddings, at any size."""
    relationship = getattr(term, "relationship", None)
    return (getattr(term.term, "covariance", None) == "kin" and opts.posterior == "auto"
            and relationship is not None and relationship.pedigree is not None
            and n_eta == 1 and not opts.group_embeddings)


def term_posterior(term, opts: VIOptions, joint: bool, n_eta: int) -> str:
    """The posterior kind of one term (a key of ``model.POSTERIORS``).

    ``spde`` terms get their sparse posterior over the grid, ``gp``, ``ar1``
    and ``arma`` terms the dense one of ``dense_term`` where it applies, ``kin`` terms on a pedigree
    the sparse one over all its animals (``sparse_kin_term``).  Another term whose prior
    couples its levels (``ar1``, ``arma``, ``kin``, a ``gp`` beyond
    ``dense_term``) gets the structured posterior
    (``tabmixr.engines.vi.structured``) unless a joint posterior covers it,
    ``posterior="mean_field"`` asks for independent levels, or it has more
    than ``STRUCTURED_MAX_DIM`` effects.
    """
    if getattr(term.term, "covariance", None) == "spde":
        return "spde"
    if not joint and dense_term(term, opts, n_eta):
        return "dense"
    if not joint and sparse_kin_term(term, opts, n_eta):
        return "kin"
    coupled = term.level_data is not None or term.relationship is not None  # kin(): relationship
    small = term.n_levels * term.q * n_eta <= STRUCTURED_MAX_DIM
    if coupled and small and not joint and opts.posterior != "mean_field":
        return "structured"
    if coupled and not small and not joint and opts.posterior != "mean_field":
        warnings.warn(f"term {term.term.text!r}: {term.n_levels * term.q * n_eta} effects exceed the "
                      f"structured posterior's limit ({STRUCTURED_MAX_DIM}); its levels get "
                      "independent posteriors, which bias the structure's parameters (a kin() "
                      "variance came out 2.7x too large in a test); for a Gaussian kin() model "
                      "use method='reml'", StructuredPosteriorWarning, stacklevel=4)
    return "levels"


class StructuredPosteriorWarning(UserWarning):
    """A structured term was given a mean-field posterior because it is too large."""


def set_level_data(model: VIModel, design: Design) -> None:
    """Hand every term's prior its per-level data (times, coordinates; ``None`` for IID)."""
    for task in model.posteriors:
        for post, term in zip(task, design.terms):
            post.prior.set_level_data(term.level_data)
            if term.relationship is None:
                continue
            if hasattr(post, "set_relationship"):  # the sparse kin posterior: the whole pedigree
                post.set_relationship(term.relationship)
            else:  # kin() terms' prior over the levels (tabmixr.covariance.kinship)
                post.prior.set_relationship(term.relationship)


def standardize(model: VIModel, X: torch.Tensor) -> None:
    """Store column means and SDs of ``X`` (constant columns: 0, 1) and mark the
    intercept column (constant 1)."""
    with torch.no_grad():
        sd = X.std(0) if X.shape[0] > 1 else torch.ones(X.shape[1], dtype=X.dtype)
        const = sd < 1e-12
        model.x_center.copy_(torch.where(const, torch.zeros_like(sd), X.mean(0)))
        model.x_scale.copy_(torch.where(const, torch.ones_like(sd), sd))
        ones = const & (X[0] == 1.0)
        if bool(ones.any()):
            model.intercept.zero_()
            model.intercept[int(torch.nonzero(ones)[0])] = 1.0
    model.backbone.set_input_scaling(model.x_center, model.x_scale)


def fixed_only_loss(model: VIModel, train: Batch) -> torch.Tensor:
    """Negative log-likelihood per row with every random effect at zero."""
    H = model.features(train)
    total = torch.zeros((), dtype=train.X.dtype, device=train.X.device)
    for k in range(len(model.heads)):
        ll = model.families[k].log_lik(train.ys[k], model.fixed_eta(train, H, k), dict(model.aux[k]))
        if train.weights is not None:
            ll = ll * train.weights
        total = total + ll.sum()
    return -total / train.n


def newton_fixed(model: VIModel, train: Batch, steps: int = WARM_START_STEPS) -> None:
    """Damped Newton on ``(beta, aux)`` of the fixed-effects-only model.

    Newton steps are invariant to the scale of the columns (a height in
    metres or millimetres), which first-order steps are not; a step that
    does not lower the loss is halved until it does.
    """
    params = [h.gamma for h in model.heads] + [p for aux in model.aux for p in aux.values()]
    sizes = [p.numel() for p in params]

    def flat() -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in params])

    def assign(v: torch.Tensor) -> None:
        with torch.no_grad():
            for p, piece in zip(params, torch.split(v, sizes)):
                p.copy_(piece.reshape(p.shape))

    def loss_at(v: torch.Tensor) -> float:
        assign(v)
        with torch.no_grad():
            return float(fixed_only_loss(model, train))

    names = ["model." + n for n, _ in _named(model, params)]
    shapes = [p.shape for p in params]
    wrapper = _FixedLoss(model)

    def f(w: torch.Tensor) -> torch.Tensor:
        swap = {n: q.reshape(shape) for n, q, shape in zip(names, torch.split(w, sizes), shapes)}
        return torch.func.functional_call(wrapper, swap, (train,))

    x = flat()
    current = loss_at(x)
    for _ in range(steps):
        g = torch.autograd.functional.jacobian(f, x)
        H = torch.autograd.functional.hessian(f, x)
        eye = torch.eye(len(x), dtype=x.dtype, device=x.device)
        ridge = 1e-8 * H.diagonal().abs().max().clamp(min=1e-12)
        lowest = torch.linalg.eigvalsh((H + H.T) / 2).min()
        if lowest < ridge:  # far from the optimum (a residual SD 15x too large) H is indefinite:
            ridge = ridge + (ridge - lowest)  # a shifted Newton step still descends
        try:
            step = torch.linalg.solve(H + ridge * eye, g)
        except RuntimeError:
            step = g
        improved = False
        for direction in (step, g / g.abs().max().clamp(min=1e-12)):
            t = 1.0
            for _ in range(30):
                trial = x - t * direction
                value = loss_at(trial)
                if np.isfinite(value) and value <= current:
                    improved = True
                    break
                t *= 0.5
            if improved:
                break
        if not improved:
            assign(x)
            break
        x, change = trial, current - value
        current = value
        if change <= 1e-12 * max(1.0, abs(current)):
            break
    assign(x)


def _named(model: VIModel, params) -> list[tuple[str, torch.Tensor]]:
    ids = {id(p): n for n, p in model.named_parameters()}
    return [(ids[id(p)], p) for p in params]


class _FixedLoss(torch.nn.Module):
    def __init__(self, model: VIModel):
        super().__init__()
        self.model = model

    def forward(self, train: Batch) -> torch.Tensor:
        return fixed_only_loss(self.model, train)


def warm_start(model: VIModel, train: Batch, opts: VIOptions) -> None:
    """Starting values: fixed effects and family parameters of the fixed-effects-only
    model (``newton_fixed``), then prior SDs of ``0.5 * scale / rms(column)`` (scale:
    the residual SD where the family has one, else 1), then the parameters of
    coupled priors from the residuals (``start_structures``)."""
    newton_fixed(model, train)
    for k, task in enumerate(model.posteriors):
        with torch.no_grad():
            values = model.families[k].aux_values(dict(model.aux[k]))
        sigma = values.get("sigma")
        scale = float(sigma) if sigma is not None and sigma.numel() == 1 else 1.0
        sds = []
        for t, post in enumerate(task):
            rms = torch.sqrt((train.term_X[t] ** 2).mean(0)).clamp(min=1e-8).cpu().numpy()
            sd = np.repeat(START_PRIOR_FRACTION * scale / rms, post.n_eta)
            post.start(sd, post_fraction=START_POSTERIOR_FRACTION)
            sds.append(sd * START_POSTERIOR_FRACTION)
        factor = model.joint_factor(k)
        if factor is not None:
            factor.start(sds)
    start_structures(model, train)


def split_rows(n: int, fraction: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Training and validation row indices."""
    if fraction <= 0.0:
        return torch.arange(n), None
    order = torch.randperm(n, generator=generator)
    n_valid = max(1, int(round(fraction * n)))
    return order[n_valid:], order[:n_valid]


def train_new_levels(model: VIModel, batch: Batch) -> None:
    """Fit every new-level network on the fitted levels (targets: posterior means).

    Terms whose prior couples their levels (``ar1``, ``gp``, ...) are skipped:
    their new levels get the prior's conditional mean (``predict.py``), never
    the network's output, and its training cost more than a whole ``gp`` fit.
    """
    Xs = (batch.X - model.x_center) / model.x_scale
    k = 0
    for task in model.posteriors:
        for t, post in enumerate(task):
            if post.prior.level_data is not None or hasattr(post, "conditional_mean_ids"):
                k += 1
                continue
            summary = level_summaries(Xs, batch.codes[t], post.n_levels)
            train_new_level_net(model.new_level_nets[k], summary, post.mu.detach())
            k += 1


@register_engine
class VIEngine(Engine):
    """Variational neural mixed model (linear or MLP backbone, any family, multitask)."""

    methods = ("vi",)
    families = ()
    accepts_family = True

    #: Covariance structures whose prior the engine builds from the design
    #: (those needing per-level data get it from ``term.level_data``).
    structures = ("us", "diag", "scalar", "ar1", "arma", "gp", "kin", "spde")

    def check_design(self, design: Design) -> None:
        """Refuse covariance structures the neural engine has no prior for yet."""
        for term in design.terms:
            if term.term.covariance not in self.structures:
                raise EngineError(f"term {term.term.text!r}: covariance structure "
                                  f"{term.term.covariance!r} is not available in method 'vi' yet; "
                                  f"available: {', '.join(self.structures)}")

    def fit(self, design: Design, method: str = "vi", *, family: Any = "gaussian",
            verbose: bool = False, **options: Any):
        """Fit the neural mixed model.

        Args:
            design: The materialized model.
            method: ``"vi"``.
            family: Family (name, R dict, ``Family``) or a list of them, one
                per response column (multitask).
            verbose: Show a tqdm progress bar.
            **options: ``VIOptions`` fields (backbone, hidden, lr, seed, device, ...).

        Returns:
            A ``MixedFit`` whose ``model_state`` holds the trained network.

        Raises:
            EngineError: unknown or bad options, unavailable device or structure.
            ResponseError: a response outside its family's support.
            ConvergenceError: the objective became non-finite.
        """
        opts = VIOptions.from_options({**options, "verbose": bool(verbose)})
        self.check_design(design)
        t0 = time.perf_counter()
        device, dtype = opts.torch_device(), opts.torch_dtype()
        tasks = make_tasks(design, family)
        config = model_config(design, tasks, opts)
        seed = opts.seed if opts.seed is not None else int(torch.randint(0, 2 ** 31 - 1, ()).item())
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            generator = torch.Generator().manual_seed(seed)
            model = VIModel(config).to(device=device, dtype=dtype)
            model.families = [t.family for t in tasks]
            set_level_data(model, design)
            batch = design_batch(design, tasks, dtype, device)
            train_idx, valid_idx = split_rows(batch.n, opts.validation_split, generator)
            train = batch.rows(train_idx.to(device))
            valid = None if valid_idx is None else batch.rows(valid_idx.to(device))
            standardize(model, train.X)
            warm_start(model, train, opts)
            # An spde field's or a pedigree kin term's posterior is refreshed from all rows at
            # every evaluation anyway, so a linear model with one is fitted full batch (L-BFGS)
            # at any size.
            spde_linear = opts.backbone == "linear" and any(
                t["posterior"] in ("spde", "kin") for t in config["terms"])
            full_batch = opts.batch_size is None and (train.n <= opts.full_batch_max or spde_linear)
            batch_size = train.n if full_batch else (opts.batch_size or 256)
            name = pick_optimizer(model, opts, batch_size >= train.n)
            if name == "lbfgs" and batch_size < train.n:
                raise EngineError("optimizer='lbfgs' needs full batches; leave batch_size=None "
                                  "(n <= full_batch_max) or use optimizer='adam'")
            with cpu_threads(training_threads(opts.num_threads, batch_size, device)), flush_denormals():
                history = structure_warmup(model, train, opts) if name == "lbfgs" else []
                history += run_training(model, train, valid, opts, name, batch_size, generator)
            model.eval()
            if opts.new_level_net:
                with cpu_threads(training_threads(opts.num_threads, 0, device)):  # tiny networks
                    train_new_levels(model, batch)
            fit = build_fit(design, tasks, model, batch, opts, history, name, seed)
            fit.model_state.update(model.backbone.summary() or {})  # e.g. the learned DAG
        fit.fit_time = time.perf_counter() - t0
        return fit
