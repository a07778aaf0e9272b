"""Tensors from a design (or from new data encoded like it)."""

from __future__ import annotations

import numpy as np
import torch

from tabmixr.engines.vi.model import Batch


def to_tensor(a, dtype, device) -> torch.Tensor | None:
    """A float tensor on ``device`` (``None`` passes through)."""
    if a is None:
        return None
    return torch.as_tensor(np.asarray(a, dtype=float), dtype=dtype, device=device)


def design_batch(design, tasks, dtype, device) -> Batch:
    """All rows of a design, with every task's prepared response."""
    ys = []
    for task in tasks:
        y = task.prepared.y
        y = y.to(device=device, dtype=dtype) if y.is_floating_point() else y.to(device)
        ys.append(y)
    return Batch(X=to_tensor(design.X, dtype, device),
                 term_X=[to_tensor(t.X, dtype, device) for t in design.terms],
                 codes=[torch.as_tensor(np.asarray(t.codes), dtype=torch.long, device=device)
                        for t in design.terms],
                 offset=to_tensor(design.offset, dtype, device),
                 weights=to_tensor(design.weights, dtype, device), ys=ys)


def new_batch(new, dtype, device) -> Batch:
    """Rows of a ``NewDesign`` with every term encoded (no responses)."""
    term_X = [to_tensor(t.X, dtype, device) for t in new.terms]
    codes = [torch.as_tensor(np.asarray(t.codes), dtype=torch.long, device=device) for t in new.terms]
    offset = None if new.offset is None else to_tensor(new.offset, dtype, device)
    return Batch(X=to_tensor(new.X, dtype, device), term_X=term_X, codes=codes, offset=offset)
