"""Predictions of a ``method="vi"`` fit through its trained network.

The network is rebuilt from ``fit.model_state`` (config + state dict, no
pickled code) once per fit object and cached on it.  New grouping levels
get, by ``new_levels``:

* ``"conditional"`` (the default once new levels are allowed): the prior's
  conditional mean given the fitted levels' effects -- zero for IID terms,
  kriging for ``gp``, interpolation along time for ``ar1``/``arma``, from
  the new level's time or coordinates in ``newdata``; for a ``kin()`` term
  on a pedigree, a new animal's mean through its relatives (one outside the
  pedigree: the population mean, with a warning);
* ``"zero"``: no random effect (the population prediction) for every term;
* ``"learned"``: effects predicted by the new-level network from their rows
  in ``newdata`` for IID terms, the conditional mean for structured ones.
"""

from __future__ import annotations

import numpy as np
import torch

from tabmixr.design.level_data import new_level_data
from tabmixr.engines.vi.data import new_batch, to_tensor
from tabmixr.engines.vi.model import Batch, VIModel
from tabmixr.engines.vi.newlevels import level_summaries
from tabmixr.engines.vi.tasks import resolve_family
from tabmixr.errors import NewLevelError, SerializationError
from tabmixr.results.errors import ArgumentError, UnavailableError
from tabmixr.results.predict import register_predictor
from tabmixr.results.reform import select_columns

_CACHE_KEY = "_vi_model"


def load_model(state: dict) -> VIModel:
    """Rebuild the trained ``VIModel`` (on the CPU) from a fit's ``model_state``.

    Raises:
        SerializationError: unknown state version or weights that do not fit the config.
    """
    if state.get("version") != 1:
        raise SerializationError(f"unknown vi model_state version {state.get('version')!r}")
    config = state["config"]
    dtype = torch.float64 if config.get("dtype", "float64") == "float64" else torch.float32
    model = VIModel(config).to(dtype=dtype)
    weights = {k: torch.as_tensor(np.asarray(v), dtype=dtype) for k, v in state["state"].items()}
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        raise SerializationError(f"saved vi weights do not match their config: {err}") from None
    model.families = [resolve_family(t["family"], link=t.get("link")) for t in config["tasks"]]
    model.eval()
    return model


def cached_model(fit) -> VIModel:
    """The fit's rebuilt model, built on first use."""
    model = fit.__dict__.get(_CACHE_KEY)
    if model is None:
        model = load_model(fit.model_state)
        fit.__dict__[_CACHE_KEY] = model
    return model


def fitted_batch(fit, model: VIModel) -> Batch:
    """The fitted rows as a batch."""
    dtype = model.x_center.dtype
    return Batch(X=to_tensor(fit.X, dtype, "cpu"), term_X=[to_tensor(t.X, dtype, "cpu") for t in fit.terms],
                 codes=[torch.as_tensor(np.asarray(t.codes), dtype=torch.long) for t in fit.terms],
                 offset=to_tensor(fit.offset, dtype, "cpu"))


def learned_effects(fit, model: VIModel, task: int, batch: Batch, newdata) -> list[torch.Tensor]:
    """Per term, effects of the fitted levels followed by those the network predicts
    for the new levels of ``newdata``; new rows' codes are pointed at them (in place)."""
    n_terms = len(model.posteriors[task])
    if len(model.new_level_nets) == 0:
        raise UnavailableError("new_levels='learned' needs the new-level network; refit with "
                               "new_level_net=True")
    Xs = (batch.X - model.x_center) / model.x_scale
    out = []
    for t, post in enumerate(model.posteriors[task]):
        codes = batch.codes[t]
        new_rows = np.flatnonzero(codes.numpy() < 0)
        if len(new_rows) == 0 or kriged(post):  # structured: conditional_effects
            out.append(post.mu)
            continue
        labels = fit.encoding.terms[t].grouping.raw_labels(newdata, new_rows)
        uniq, inverse = np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)
        new_codes = torch.as_tensor(inverse, dtype=torch.long)
        summary = level_summaries(Xs[new_rows], new_codes, len(uniq))
        b_new = model.new_level_nets[task * n_terms + t](summary)
        codes = codes.clone()
        codes[new_rows] = post.n_levels + new_codes
        batch.codes[t] = codes
        out.append(torch.cat([post.mu, b_new], dim=0))
    return out


def kriged(post) -> bool:
    """Whether a term's new levels get the prior's conditional mean (structured terms:
    times or coordinates in ``newdata``; pedigree ``kin()`` terms: the animals' ids)."""
    return post.prior.level_data is not None or hasattr(post, "conditional_mean_ids")


def new_level_effects(fit, post, t: int, newdata, new_rows: np.ndarray):
    """``(inverse, b_new)``: each new row's index into the new levels, and their effects.

    Raises:
        LevelDataError: The new levels' times or coordinates are unusable.
    """
    if hasattr(post, "conditional_mean_ids"):  # kin() on a pedigree: relatives' information
        raw = fit.encoding.terms[t].grouping.raw_labels(newdata, new_rows)
        labels, inverse = np.unique(np.asarray(raw, dtype=object).astype(str), return_inverse=True)
        return inverse, post.conditional_mean_ids(list(labels))
    _, inverse, data = new_level_data(fit.encoding.terms[t], newdata, new_rows)
    krige = getattr(post, "conditional_mean", None)  # spde: the posterior's own field
    return inverse, krige(data) if krige is not None else post.prior.conditional_mean(post.mu, data)


def conditional_effects(fit, model: VIModel, task: int, batch: Batch, newdata,
                        effects: list[torch.Tensor], masks: list) -> None:
    """Append the prior's conditional means for new levels of structured terms (in place).

    For every term whose prior couples its levels, the new levels' times or
    coordinates are read from ``newdata`` (``tabmixr.design.level_data``),
    their effects are ``E[b_new | b = mu]`` (``conditional_mean``), and the
    new rows' codes are pointed at them.  A ``kin()`` term on a pedigree
    gives a new animal of the pedigree its posterior mean through its
    relatives, ``-P_nn^-1 P_no m_o`` (``KinPosterior.conditional_mean_ids``),
    and one outside the pedigree the population mean (with a warning).  Terms that ``re_form`` leaves out
    (``masks[t] is None``) are skipped.

    Raises:
        LevelDataError: The new levels' times or coordinates are unusable.
    """
    for t, post in enumerate(model.posteriors[task]):
        codes = batch.codes[t]
        new_rows = np.flatnonzero(codes.numpy() < 0)
        if len(new_rows) == 0 or not kriged(post) or masks[t] is None:
            continue
        inverse, b_new = new_level_effects(fit, post, t, newdata, new_rows)
        b_new = b_new.to(effects[t].dtype)
        codes = codes.clone()
        codes[new_rows] = effects[t].shape[0] + torch.as_tensor(inverse, dtype=torch.long)
        batch.codes[t] = codes
        effects[t] = torch.cat([effects[t], b_new], dim=0)


def predict_vi(fit, newdata=None, re_form=None, allow_new_levels: bool = False, *,
               type: str = "link", new_levels: str | None = None, task: int | str = 0) -> np.ndarray:
    """Predictions of a neural fit (lme4's ``predict.merMod`` semantics).

    Args:
        fit: A ``MixedFit`` with a vi ``model_state``.
        newdata: Data frame, or ``None`` for the fitted rows.
        re_form: ``None`` (all terms), ``"NA"``/``"~0"`` (none) or a formula
            naming the terms/columns to keep.
        allow_new_levels: Let unseen grouping levels through (as ``new_levels``
            says; default ``"zero"``).
        type: ``"link"`` (linear predictor, lme4's default) or ``"response"``
            (the family's mean; class probabilities for categorical tasks).
        new_levels: ``"conditional"`` (default), ``"zero"`` or ``"learned"``
            (see the module docstring); setting it allows new levels.
        task: Task index or response name (multitask fits).

    Returns:
        ``(m,)`` array (``(m, n_eta)`` on the link scale and ``(m, K)`` on the
        response scale for categorical tasks).

    Raises:
        ArgumentError: bad ``type``, ``new_levels`` or ``task``.
        NewLevelError: new levels while neither ``allow_new_levels`` nor ``new_levels``.
    """
    if type not in ("link", "response"):
        raise ArgumentError(f"type must be 'link' or 'response', got {type!r}")
    if new_levels not in (None, "conditional", "zero", "learned"):
        raise ArgumentError(f"new_levels must be 'conditional', 'zero' or 'learned', "
                            f"got {new_levels!r}")
    model = cached_model(fit)
    names = [t["name"] for t in model.config["tasks"]]
    if isinstance(task, str):
        if task not in names:
            raise ArgumentError(f"unknown task {task!r}; tasks: {', '.join(names)}")
        task = names.index(task)
    if not 0 <= int(task) < len(names):
        raise ArgumentError(f"task index {task!r} out of range: the fit has {len(names)} task(s)")
    task = int(task)
    masks = select_columns(re_form, fit.terms)
    if newdata is None:
        batch = fitted_batch(fit, model)
    else:
        if fit.encoding is None or not hasattr(fit.encoding, "transform"):
            raise UnavailableError("predict(newdata=...) needs the design encoding, which this fit "
                                   "does not carry")
        new = fit.encoding.transform(newdata, allow_new_levels=True)
        batch = new_batch(new, model.x_center.dtype, "cpu")
        if not (allow_new_levels or new_levels) and any((c < 0).any() for c in batch.codes):
            t = next(k for k, c in enumerate(batch.codes) if (c < 0).any())
            raise NewLevelError(f"newdata has levels of {fit.terms[t].group!r} that the fit has "
                                "not seen; pass new_levels='zero' or 'learned' (or "
                                "allow_new_levels=True)")
    with torch.no_grad():
        posts = model.posteriors[task]
        if newdata is not None and new_levels == "learned":
            effects = learned_effects(fit, model, task, batch, newdata)
        else:
            effects = [post.mu for post in posts]
        if newdata is not None and new_levels != "zero":
            conditional_effects(fit, model, task, batch, newdata, effects, masks)
        for t, (post, mask) in enumerate(zip(posts, masks)):
            keep = torch.zeros(post.dim, dtype=effects[t].dtype)
            if mask is not None:
                keep = torch.as_tensor(np.repeat(np.asarray(mask, dtype=float), post.n_eta),
                                       dtype=effects[t].dtype)
            effects[t] = effects[t] * keep
        eta = model.mean_eta(batch, task, b_override=effects)
        if type == "response":
            out = model.families[task].mean(eta, dict(model.aux[task]))
        else:
            out = eta[:, 0] if eta.shape[1] == 1 else eta
    return out.detach().cpu().numpy()


register_predictor("vi", predict_vi)
