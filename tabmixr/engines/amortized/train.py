"""Train the amortized posterior: ``python -m tabmixr.engines.amortized.train``.

Every step simulates a fresh batch (``simulator.py``), standardizes it and
minimizes the flow's negative log-density of the true standardized
parameters, ``-log q(phi_true | data, prior)`` (forward KL, amortized over
the simulator).  Adam with linear warm-up and a cosine decay over a fixed
``schedule_steps`` (independent of ``--steps``, so that a run stopped and
resumed follows the same schedule), gradient norm clipped.

Reproducible from ``--seed``: the simulator's generator, the weight
initialization and the optimizer state are all checkpointed, so resuming a
run that stopped after ``k`` steps gives bit-identical weights to an
uninterrupted run (same device, same thread count).  Data are simulated on
the training device (a GPU keeps itself fed); every device kind has its own
random stream, so resume on the device kind that wrote the checkpoint.  Checkpoints are
written atomically to ``<checkpoint-dir>/checkpoint.pt``.

The default model reads each group only through its exact cross-products
(``--local-depth 0``, ``networks/model.py``), so a step simulates its rows
packed, without padding, and reduces them to per-group summaries
(``summaries.py``): on 2 CPU cores a step of 32 data sets costs about a
second instead of a minute.  A model with a learned row encoder
(``--local-depth 1`` or more) trains on padded batches; ``--pool k`` then
draws ``k`` batches at a time grouped by size (``Simulator.sample_bucketed``)
so that a batch pads to its own largest group.

Example (a GPU session)::

    python -m tabmixr.engines.amortized.train --seed 1 --steps 200000 \
        --checkpoint-dir runs/v1 --device cuda --batch-size 64
"""

from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import asdict, dataclass, field

import torch

from tabmixr.engines.amortized.networks.model import AmortizedModel, ModelConfig
from tabmixr.engines.amortized.parameters import params_to_phi
from tabmixr.engines.amortized.simulator import Batch, Simulator, SimulatorConfig
from tabmixr.engines.amortized.standardize import Standardization, fit_standardization, standardize_batch
from tabmixr.engines.amortized.summaries import SummaryBatch, sample_summaries

CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainConfig:
    """Optimization settings (saved in every checkpoint)."""

    seed: int = 0
    batch_size: int = 32
    lr: float = 3e-4
    warmup: int = 500
    schedule_steps: int = 200_000
    clip: float = 1.0
    checkpoint_every: int = 1000
    pool: int = 1
    model: ModelConfig = field(default_factory=ModelConfig)
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Warm-up then cosine decay to 5% over ``schedule_steps``."""
    warm = min(1.0, (step + 1) / max(cfg.warmup, 1))
    t = min(step / cfg.schedule_steps, 1.0)
    return cfg.lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


def batch_loss(model: AmortizedModel, batch: Batch | tuple[SummaryBatch, Standardization]) -> torch.Tensor:
    """Mean ``-log q(phi_true)`` over the batch (standardized parameters).

    Args:
        model: The model.
        batch: A padded ``Batch`` on the data scale, or ``(SummaryBatch,
            Standardization)`` from ``summaries.sample_summaries``.
    """
    if isinstance(batch, Batch):
        st = fit_standardization(batch)
        std = standardize_batch(batch, st)
    else:
        std, st = batch
    phi = params_to_phi(std.params, std.fixed_mask, std.re_mask)
    q = model(std, st)
    return -q.log_prob(phi.to(model.dtype)).mean()


def next_batches(model: AmortizedModel, simulator: Simulator, cfg: TrainConfig) -> list:
    """The next training batches: packed summaries, or padded (bucketed) rows for a row encoder."""
    if model.local is None:
        return [sample_summaries(simulator, cfg.batch_size)]
    if cfg.pool > 1:
        return simulator.sample_bucketed(cfg.batch_size, cfg.pool)
    return [simulator.sample(cfg.batch_size)]


def save_checkpoint(path: str, model, optimizer, simulator, step: int, cfg: TrainConfig) -> None:
    """Write a checkpoint atomically (temporary file + rename)."""
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "simulator_state": simulator.get_state(), "step": step,
             "train_config": {k: v for k, v in asdict(cfg).items() if k not in ("model", "simulator")},
             "model_config": asdict(cfg.model), "simulator_config": asdict(cfg.simulator)}
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def train(cfg: TrainConfig, steps: int, checkpoint_dir: str | None = None, resume: bool = False,
          device: str = "cpu", log=print) -> AmortizedModel:
    """Run (or resume) training up to ``steps`` optimizer steps in total.

    Args:
        cfg: Settings; on resume the checkpoint's model/simulator settings win.
        steps: Total number of steps to reach.
        checkpoint_dir: Where checkpoints go (``None``: none written).
        resume: Continue from ``checkpoint_dir``'s checkpoint when present.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (the GPU when present).
        log: Progress printer.

    Returns:
        The trained model (on ``device``).
    """
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    path = os.path.join(checkpoint_dir, CHECKPOINT) if checkpoint_dir else None
    state = torch.load(path, map_location=device, weights_only=False) \
        if resume and path and os.path.exists(path) else None
    if state is not None:
        cfg.model = ModelConfig(**state["model_config"])
        sim_cfg = state["simulator_config"]
        cfg.simulator = SimulatorConfig(**{k: tuple(v) if isinstance(v, list) else v
                                           for k, v in sim_cfg.items()})
    torch.manual_seed(cfg.seed)
    model = AmortizedModel(cfg.model).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    simulator = Simulator(cfg.simulator, seed=cfg.seed, device=device)
    step = 0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        simulator.set_state(state["simulator_state"].cpu())
        step = int(state["step"])
        log(f"resumed from {path} at step {step}")
    if checkpoint_dir:
        os.makedirs(checkpoint_dir, exist_ok=True)
    if model.local is not None and cfg.checkpoint_every % max(cfg.pool, 1):
        raise ValueError(f"checkpoint_every={cfg.checkpoint_every} must be a multiple of pool={cfg.pool} "
                         "(a checkpoint must fall between pools for an exact resume)")
    t0 = time.perf_counter()
    queue: list = []
    while step < steps:
        if not queue:
            queue = next_batches(model, simulator, cfg)
        batch = queue.pop(0)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(cfg, step)
        loss = batch_loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        if torch.isfinite(loss):
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            optimizer.step()
        else:                                   # never let one bad batch poison the weights
            log(f"step {step + 1}: non-finite loss, batch skipped")
        step += 1
        if step % max(1, cfg.checkpoint_every // 10) == 0 or step == steps:
            log(f"step {step:>7d}  loss {loss.item():9.4f}  {time.perf_counter() - t0:7.1f}s")
        if path and (step % cfg.checkpoint_every == 0 or step == steps):
            save_checkpoint(path, model, optimizer, simulator, step, cfg)
    return model


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options (see module docstring)."""
    ap = argparse.ArgumentParser(prog="python -m tabmixr.engines.amortized.train",
                                 description="Train the amortized Bayesian LMM posterior.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, required=True, help="total optimizer steps to reach")
    ap.add_argument("--checkpoint-dir", default=None)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--device", default="auto", help="cpu, cuda or auto")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--checkpoint-every", type=int, default=1000)
    ap.add_argument("--schedule-steps", type=int, default=200_000, help="length of the cosine decay")
    ap.add_argument("--warmup", type=int, default=None, help="linear warm-up steps")
    ap.add_argument("--max-groups", type=int, default=200)
    ap.add_argument("--max-size", type=int, default=200)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--couplings", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--local-depth", type=int, default=0, help="0: group moments only, no row encoder")
    ap.add_argument("--pool", type=int, default=1, help="batches drawn together and grouped by size")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    return ap.parse_args(argv)


def main(argv=None) -> AmortizedModel:
    """CLI entry point."""
    a = parse_args(argv)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    cfg = TrainConfig(seed=a.seed, batch_size=a.batch_size, lr=a.lr, checkpoint_every=a.checkpoint_every,
                      pool=a.pool, schedule_steps=a.schedule_steps,
                      model=ModelConfig(dim=a.dim, couplings=a.couplings, hidden=a.hidden,
                                        local_depth=a.local_depth),
                      simulator=SimulatorConfig(groups_range=(2, a.max_groups), size_range=(1, a.max_size)))
    if a.warmup is not None:
        cfg.warmup = a.warmup
    return train(cfg, a.steps, a.checkpoint_dir, a.resume, a.device)


if __name__ == "__main__":
    main()
