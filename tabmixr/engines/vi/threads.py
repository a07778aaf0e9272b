"""How training uses the CPU: thread count and denormal flushing.

Torch splits every operation between its intra-op threads.  On a minibatch
of a few hundred rows the operations are so small that the hand-offs cost
more than the arithmetic: one MLP 2 x 64 step at batch 256 took 4 ms on one
thread and 26 ms on two (2 cores, nothing else running; ~70 ms on two
threads of a loaded machine).  So small batches train on one thread unless
``VIOptions.num_threads`` says otherwise; large full batches keep torch's
default.

Denormal floats (below 1e-38 in float32) appear in the weights and their
gradients after a few thousand Adam steps and make the CPU's arithmetic on
them slow: flushing them to zero while training took one epoch of the
10^6-row benchmark (``bench/vi_predictive.py``) from 11.6 s to 10.1 s.
Values that small change no printed digit of a fit.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

#: Batches of at most this many rows train on one CPU thread by default.
ONE_THREAD_MAX_ROWS = 4096


def training_threads(num_threads: int | None, batch_size: int, device: torch.device) -> int | None:
    """Threads to train with (``None``: leave torch's setting alone).

    Args:
        num_threads: The user's ``VIOptions.num_threads`` (``None``: choose).
        batch_size: Rows per optimizer step.
        device: Training device (threads matter on the CPU only).

    Returns:
        A thread count, or ``None``.
    """
    if num_threads is not None:
        return int(num_threads)
    if device.type == "cpu" and batch_size <= ONE_THREAD_MAX_ROWS:
        return 1
    return None


@contextlib.contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)``, restoring the old count after.

    Args:
        n: Thread count, or ``None`` to change nothing.
    """
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def flush_denormals() -> Iterator[None]:
    """Flush denormal floats to zero inside the block (``torch.set_flush_denormal``).

    Torch has no getter for the setting, so it is set back to its default
    (off) afterwards.
    """
    active = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if active:
            torch.set_flush_denormal(False)
