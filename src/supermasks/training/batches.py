"""Mini-batches drawn from in-memory tensors: shuffled once per epoch, the last partial batch dropped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch

from supermasks.compute.devices import to_device

if TYPE_CHECKING:
    from supermasks.data.augment import Augment


def iterate_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, steps: int,
                    generator: torch.Generator, augment: Augment | None = None,
                    device: torch.device | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """`steps` shuffled mini-batches, reshuffling at each pass over the data (epoch).

    Indexing whole tensors with a permutation keeps the pipeline free of per-sample Python work.
    The last incomplete batch of an epoch is dropped so every step sees `batch_size` samples.
    `augment` (a task's `Task.augment`) makes the images of batch `step` (0, 1, ...) from x and
    the batch's positions; it draws nothing from `generator`, so the batch order is the same
    with or without it. The order comes from the CPU `generator` whatever the device; each
    batch is gathered on the CPU and moved to `device` (None: left where the data is).
    """
    size = min(batch_size, len(x))
    step = 0
    for order, count in _epochs(len(x), batch_size, steps, generator):
        for b in range(count):
            idx = order[b * size:(b + 1) * size]
            images = x[idx] if augment is None else augment(x, idx, step)
            yield to_device(images, device), to_device(y[idx], device)
            step += 1


def skip_batches(n: int, batch_size: int, steps: int, generator: torch.Generator) -> None:
    """Advance `generator` exactly as `iterate_batches` over `n` samples would, drawing no batch.

    What a task's training takes from the batch stream, replayed: one permutation per epoch.
    """
    for _ in _epochs(n, batch_size, steps, generator):
        pass


def _epochs(n: int, batch_size: int, steps: int,
            generator: torch.Generator) -> Iterator[tuple[torch.Tensor, int]]:
    """(a fresh permutation of `n` samples, the number of batches taken from it) per epoch, until `steps` batches."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if n == 0:
        raise ValueError("cannot draw batches from an empty task")
    per_epoch = max(1, n // batch_size)
    done = 0
    while done < steps:
        count = min(per_epoch, steps - done)
        yield torch.randperm(n, generator=generator), count
        done += count
