"""Binary-search task inference: halve the candidate tasks by their alpha gradient until one is left.

Wortsman, Ramanujan et al., "Supermasks in Superposition" (NeurIPS 2020), section 3: each round
superposes the remaining tasks with uniform alpha and keeps the half with the smallest gradient,
so at most ceil(log2 k) forward and backward passes are needed.
"""

from __future__ import annotations

import torch
from torch import nn

from supermasks.inference.bank import MaskBank
from supermasks.inference.oneshot import alpha_gradient


def infer_task_binary(model: nn.Module, bank: MaskBank, x: torch.Tensor, objective: str = "H",
                      num_classes: int | None = None) -> int:
    """The learned task (index into the bank) that binary search picks for the batch `x`."""
    remaining = torch.arange(bank.num_tasks)
    if remaining.numel() == 0:
        raise ValueError("the bank holds no tasks")
    while remaining.numel() > 1:
        grad = alpha_gradient(model, bank, x, objective, num_classes, tasks=remaining)  # (len(remaining),)
        keep = (remaining.numel() + 1) // 2  # ceil: an odd set still shrinks every round
        # A stable sort keeps ties in task order, so the result does not depend on the sort's internals.
        remaining = remaining[torch.sort(grad, stable=True).indices[:keep]]
    return int(remaining[0])


def infer_per_image_binary(model: nn.Module, bank: MaskBank, x: torch.Tensor, objective: str = "H",
                           num_classes: int | None = None) -> torch.Tensor:
    """Binary search for each image of `x` on its own: LongTensor of shape (batch,)."""
    return torch.tensor([infer_task_binary(model, bank, x[i:i + 1], objective, num_classes)
                         for i in range(len(x))], dtype=torch.long)
