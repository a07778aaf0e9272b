"""Options of the neural engine (``tabmix(..., method="vi", **options)``), checked up front."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

from tabmixr.errors import EngineError

BACKBONES = ("linear", "mlp", "gsem", "manifold")
#: Options only the ``gsem`` backbone reads.
GSEM_OPTIONS = ("lambda_l1", "h_tol", "rho_max", "dag_threshold", "max_outer")
#: Options only the ``manifold`` backbone reads.
MANIFOLD_OPTIONS = ("coords", "time", "field_channels", "field_ranges", "nodes", "time_knots")
OPTIMIZERS = ("auto", "adam", "lbfgs")
NEW_LEVELS = ("zero", "learned")
POSTERIORS = ("auto", "mean_field", "joint")
ACTIVATIONS = ("relu", "gelu", "tanh", "elu", "silu")


@dataclass
class VIOptions:
    """Every knob of ``method="vi"``; unknown names and bad values raise ``EngineError``.

    Attributes:
        backbone: ``"linear"`` (a GLMM linear predictor), ``"mlp"`` or ``"gsem"``
            (a linear SEM among the fixed-effect columns under a NOTEARS DAG
            constraint, with GLMM heads; see ``gsem.py``).
        hidden: Widths of the MLP's hidden layers.
        activation: MLP activation (``"relu"``, ``"gelu"``, ``"tanh"``, ``"elu"``, ``"silu"``).
        dropout: Dropout probability after each hidden layer.
        group_embeddings: Also add a learned per-level embedding of every
            random-effect term to the first hidden layer (TabMixNN's
            ``H_fixed + Z u``); MLP backbone only.
        batch_size: Rows per Adam step; ``None`` picks full batch when
            ``n <= full_batch_max`` and 256 (the paper's default) otherwise.
        full_batch_max: Largest ``n`` fitted full batch when ``batch_size`` is None.
        optimizer: ``"adam"``, ``"lbfgs"`` (full batch only) or ``"auto"``
            (L-BFGS for full-batch deterministic objectives, else Adam).
        lr: Adam learning rate (halved on plateaus).
        max_epochs: Upper limit on passes over the data.
        tol: Stop when the relative change of the objective stays below this.
        patience: Epochs without improvement before the learning rate is
            halved (Adam) or training stops (validation early stopping).
        kl_weight: Weight of the KL term (1 is the ELBO).
        kl_anneal_epochs: Ramp the KL weight linearly from 0 over this many epochs.
        validation_split: Fraction of rows held out for early stopping (0: none).
        posterior: ``"mean_field"`` (one Gaussian per term and level),
            ``"joint"`` (one Gaussian over all effects of a task's terms) or
            ``"auto"``: a ``gp``, ``ar1`` or ``arma`` term (up to 5000 effects) gets the dense
            posterior held at its optimum (``tabmixr.engines.vi.dense_posterior``;
            its task is then never joint), an ``spde`` term its sparse
            one and a ``kin`` term on a pedigree the sparse one over all the
            pedigree's animals (``tabmixr.engines.vi.kin_posterior``, any
            size); otherwise joint when a task has several terms and at most
            ``joint_max_dim`` effects in all; otherwise a term whose prior
            couples its levels (``ar1``, ``arma``, ``kin``) gets the
            structured posterior of ``tabmixr.engines.vi.structured``
            (both exact for a Gaussian response), the others one per level.
        joint_max_dim: Size limit of the joint posterior under ``"auto"``.
        n_samples: Monte Carlo samples of the random effects per step where
            the expectation has no quadrature (embeddings, multi-column eta).
        quadrature: Gauss-Hermite nodes for the expected log-likelihood.
        weight_decay: L2 penalty on the network weights (not on beta).
        seed: Seed for initialization, batches and samples (None: random).
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:K"``.
        dtype: ``"float64"`` or ``"float32"``.
        new_level_net: Train the small network behind ``new_levels="learned"``.
        num_threads: CPU threads for training; ``None``: one thread for
            batches of at most 4096 rows (``tabmixr.engines.vi.threads``),
            torch's setting otherwise.
        verbose: Show a tqdm progress bar.
        lambda_l1: ``gsem``: L1 weight on the adjacency ``B`` per row, in units of the
            SEM's learned noise variance (NOTEARS' lambda for unit-variance noise);
            0.03 recovered 10-node, 18-edge Gaussian DAGs from 2000 rows best.
        h_tol: ``gsem``: stop the augmented Lagrangian once ``h(B) <= h_tol``.
        rho_max: ``gsem``: largest penalty weight ``rho`` of ``h(B)^2``.
        dag_threshold: ``gsem``: smallest absolute weight reported as an edge.
        max_outer: ``gsem``: most augmented-Lagrangian (multiplier) updates.
        coords: ``manifold``: names of the two fixed-effect columns holding the
            rows' coordinates (x, y).
        time: ``manifold``: name of a fixed-effect time column (None: space only);
            the fields' AR(1) correlation between time knots is fixed
            (``engines.vi.manifold.FIXED_RHO``).  Experimental: in our
            trial it matched space only and did not improve on it.
        field_channels: ``manifold``: number of latent fields fed to the MLP.
        field_ranges: ``manifold``: their practical ranges in coordinate units
            (None: a ladder from 3 grid spacings doubling per channel; see
            ``engines.vi.manifold``).
        nodes: ``manifold``: grid nodes along the longer side (None: 1.5 sqrt(sites)
            within [30, 150], as ``spde()``).
        time_knots: ``manifold``: most time knots (equally spaced over the time range).
    """

    backbone: str = "linear"
    hidden: tuple[int, ...] = (64, 32)
    activation: str = "relu"
    dropout: float = 0.0
    group_embeddings: bool = False
    batch_size: int | None = None
    full_batch_max: int = 5000
    optimizer: str = "auto"
    lr: float = 0.02
    max_epochs: int = 2000
    tol: float = 1e-9
    patience: int = 20
    kl_weight: float = 1.0
    kl_anneal_epochs: int = 0
    validation_split: float = 0.0
    posterior: str = "auto"
    joint_max_dim: int = 1500
    n_samples: int = 4
    quadrature: int = 20
    weight_decay: float = 1e-4
    seed: int | None = 0
    device: str = "cpu"
    dtype: str = "float64"
    new_level_net: bool = True
    num_threads: int | None = None
    verbose: bool = False
    lambda_l1: float = 0.03
    h_tol: float = 1e-9
    rho_max: float = 1e16
    dag_threshold: float = 0.3
    max_outer: int = 100
    coords: tuple[str, str] | None = None
    time: str | None = None
    field_channels: int = 4
    field_ranges: tuple[float, ...] | None = None
    nodes: int | None = None
    time_knots: int = 12

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "VIOptions":
        """Build and check options from keyword arguments.

        Raises:
            EngineError: an unknown option or a bad value (the message names it).
        """
        known = {f.name for f in fields(cls)}
        unknown = [k for k in options if k not in known]
        if unknown:
            raise EngineError(f"unknown option(s) for method 'vi': {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known))}")
        stray = [k for k in GSEM_OPTIONS if k in options and options.get("backbone") != "gsem"]
        if stray:
            raise EngineError(f"option(s) {', '.join(stray)} belong to backbone='gsem'; "
                              f"got backbone={options.get('backbone', 'linear')!r}")
        stray = [k for k in MANIFOLD_OPTIONS if k in options
                 and options.get("backbone") != "manifold"]
        if stray:
            raise EngineError(f"option(s) {', '.join(stray)} belong to backbone='manifold'; "
                              f"got backbone={options.get('backbone', 'linear')!r}")
        opts = cls(**options)
        opts.check()
        return opts

    def check(self) -> None:
        """Validate every value.

        Raises:
            EngineError: the first bad value, named.
        """
        _choice("backbone", self.backbone, BACKBONES)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("activation", self.activation, ACTIVATIONS)
        _choice("dtype", self.dtype, ("float64", "float32"))
        _choice("posterior", self.posterior, POSTERIORS)
        if isinstance(self.hidden, int):
            self.hidden = (self.hidden,)
        self.hidden = tuple(self.hidden)
        if not self.hidden or any(not isinstance(h, int) or h < 1 for h in self.hidden):
            raise EngineError(f"hidden must be positive integer widths, got {self.hidden!r}")
        _range("dropout", self.dropout, 0.0, 1.0, hi_open=True)
        _range("validation_split", self.validation_split, 0.0, 0.9)
        _range("kl_weight", self.kl_weight, 0.0, float("inf"))
        _range("weight_decay", self.weight_decay, 0.0, float("inf"))
        for name in ("lr", "tol"):
            _range(name, getattr(self, name), 0.0, float("inf"), lo_open=True)
        for name in ("max_epochs", "patience", "n_samples", "quadrature", "full_batch_max",
                     "joint_max_dim", "max_outer", "field_channels"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise EngineError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.kl_anneal_epochs, int) or self.kl_anneal_epochs < 0:
            raise EngineError(f"kl_anneal_epochs must be a non-negative integer, got {self.kl_anneal_epochs!r}")
        if self.batch_size is not None and (not isinstance(self.batch_size, int) or self.batch_size < 1):
            raise EngineError(f"batch_size must be a positive integer or None, got {self.batch_size!r}")
        if self.num_threads is not None and (not isinstance(self.num_threads, int)
                                             or isinstance(self.num_threads, bool)
                                             or self.num_threads < 1):
            raise EngineError(f"num_threads must be a positive integer or None, got {self.num_threads!r}")
        if self.seed is not None and not isinstance(self.seed, int):
            raise EngineError(f"seed must be an integer or None, got {self.seed!r}")
        _range("lambda_l1", self.lambda_l1, 0.0, float("inf"))
        _range("dag_threshold", self.dag_threshold, 0.0, float("inf"))
        _range("h_tol", self.h_tol, 0.0, float("inf"), lo_open=True)
        _range("rho_max", self.rho_max, 1.0, float("inf"), lo_open=True, hi_open=True)
        if self.group_embeddings and self.backbone != "mlp":
            raise EngineError("group_embeddings=True needs backbone='mlp' (the linear backbone "
                              "has no hidden features to add them to)")
        if not isinstance(self.time_knots, int) or isinstance(self.time_knots, bool) \
                or self.time_knots < 2:
            raise EngineError(f"time_knots must be an integer >= 2, got {self.time_knots!r}")
        if self.nodes is not None and (not isinstance(self.nodes, int) or self.nodes < 4):
            raise EngineError(f"nodes must be an integer >= 4 or None, got {self.nodes!r}")
        if self.coords is not None and not isinstance(self.coords, str):
            self.coords = tuple(self.coords)
        self.torch_device()

    def torch_device(self) -> torch.device:
        """The ``torch.device``; raises when it does not exist on this machine.

        Raises:
            EngineError: malformed device or CUDA not available.
        """
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError):
            raise EngineError(f"device must be 'cpu' or 'cuda[:K]', got {self.device!r}") from None
        if device.type == "cuda":
            if not torch.cuda.is_available():
                raise EngineError(f"device {self.device!r} asked for but CUDA is not available "
                                  "on this machine; use device='cpu'")
            if device.index is not None and device.index >= torch.cuda.device_count():
                raise EngineError(f"device {self.device!r}: only {torch.cuda.device_count()} "
                                  "CUDA device(s) present")
        elif device.type != "cpu":
            raise EngineError(f"device must be 'cpu' or 'cuda[:K]', got {self.device!r}")
        return device

    def torch_dtype(self) -> torch.dtype:
        """``torch.float64`` or ``torch.float32``."""
        return torch.float64 if self.dtype == "float64" else torch.float32

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise EngineError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def _range(name: str, value: Any, lo: float, hi: float, lo_open: bool = False,
           hi_open: bool = False) -> None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise EngineError(f"{name} must be a number, got {value!r}") from None
    bad = v < lo or v > hi or (lo_open and v == lo) or (hi_open and v == hi) or v != v
    if bad or isinstance(value, bool):
        raise EngineError(f"{name} must lie in {'(' if lo_open else '['}{lo}, {hi}"
                          f"{')' if hi_open else ']'}, got {value!r}")
