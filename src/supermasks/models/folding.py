"""A task's pixel permutation folded into the first layer, so its images are never permuted per batch.

A permuted task shows the network `x'[:, j] = x[:, src[j]]`. For a first layer reading the
flattened image, `x' W^T = x (W[:, inv])^T` with `inv = argsort(src)`: permuting the columns of the
layer's weight (and of the task's scores, so that its mask moves with them) once per task is the
same computation on the unpermuted images, up to the order in which each product sums its terms.
`folded` permutes them in place for the duration of a task's training and puts them back exactly
afterwards (a permutation moves values, it rounds nothing), so every other task, the stored masks
and checkpoints only ever see the canonical layout.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from supermasks.models.layers import MaskedLinear


def is_permutation(source: torch.Tensor, size: int) -> bool:
    """Whether `source` (int64) is a permutation of `0..size-1`: every input pixel read exactly once."""
    if source.dim() != 1 or len(source) != size or source.dtype != torch.long:
        return False
    return bool(torch.equal(torch.sort(source).values, torch.arange(size, device=source.device)))


@contextmanager
def folded(layer: MaskedLinear, task_id: int, source: torch.Tensor) -> Iterator[None]:
    """While inside, `layer` reads unpermuted inputs: its weight's and task `task_id`'s scores' columns are
    permuted by `argsort(source)`; on leaving (also by an exception) they are put back bit for bit.

    `source[j]` is the input pixel that output pixel j copies (`data.TaskImages.source`), a permutation.
    """
    n = layer.weight.shape[1]
    if not is_permutation(source, n):
        raise ValueError(f"only a permutation of the layer's {n} inputs folds into it")
    source = source.to(layer.weight.device)
    inverse = torch.argsort(source)
    scores = layer.task_scores(task_id)
    with torch.no_grad():
        layer.weight.copy_(layer.weight[:, inverse])
        scores.copy_(scores[:, inverse])
    try:
        yield
    finally:
        with torch.no_grad():
            layer.weight.copy_(layer.weight[:, source])
            layer.task_scores(task_id).copy_(layer.task_scores(task_id)[:, source])


__all__ = ["folded", "is_permutation"]
