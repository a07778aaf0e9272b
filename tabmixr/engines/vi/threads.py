"""How many CPU threads training uses.

Torch splits every operation between its intra-op threads.  On a minibatch
of a few hundred rows the operations are so small that the hand-offs cost
more than the arithmetic: one MLP 2 x 64 step at batch 256 took 4 ms on one
thread and 26 ms on two (2 cores, nothing else running; ~70 ms on two
threads of a loaded machine).  So small batches train on one thread unless
``VIOptions.num_threads`` says otherwise; large full batches keep torch's
default.
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
