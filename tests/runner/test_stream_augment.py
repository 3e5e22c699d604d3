"""The NNs stream draws training batches as every other training path does, augmentation included."""

from __future__ import annotations

import dataclasses

import torch

from supermasks.data import load_source, make_benchmark
from supermasks.runner.stream import task_stream
from supermasks.training import iterate_batches
from tests.conftest import make_tasks


def expected_parts(tasks, batch_size: int, steps: int, seed: int) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
    """Per task, in order from one generator: the positions of each batch, then the batch made from them
    (`augment(x_train, idx, step)` with the step counted within the task, or `x_train[idx]`)."""
    generator = torch.Generator().manual_seed(seed)
    parts = []
    for task in tasks:
        part = []
        positions = torch.arange(len(task.y_train))
        for step, (idx, y) in enumerate(iterate_batches(positions, task.y_train, batch_size, steps, generator)):
            x = task.x_train[idx] if task.augment is None else task.augment(task.x_train, idx, step)
            part.append((x, y))
        parts.append(part)
    return parts


def test_stream_batches_of_an_augmented_benchmark_are_the_tasks_augmentation() -> None:
    tasks = make_benchmark("splitcifar100", load_source("synthetic-cifar"), num_tasks=2, seed=0)
    assert all(task.augment is not None for task in tasks)
    parts, boundaries = task_stream(tasks, batch_size=16, steps_per_task=6, generator=torch.Generator().manual_seed(3))
    assert boundaries == [0, 6]
    expected = expected_parts(tasks, 16, 6, seed=3)
    for part, want in zip(parts, expected, strict=True):
        assert len(part) == len(want) == 6
        for (x, y), (x_want, y_want) in zip(part, want, strict=True):
            assert torch.equal(y, y_want) and torch.equal(x, x_want)
    # augmented indeed: not the stored images of those positions
    plain = expected_parts([dataclasses.replace(task, augment=None) for task in tasks], 16, 6, seed=3)
    for part, plain_part in zip(parts, plain, strict=True):
        assert all(not torch.equal(x, x_plain) for (x, _), (x_plain, _) in zip(part, plain_part, strict=True))


def test_stream_batches_without_augmentation_are_the_stored_images() -> None:
    tasks = make_tasks(num_tasks=3, n_train=64)
    assert all(task.augment is None for task in tasks)
    parts, _ = task_stream(tasks, batch_size=16, steps_per_task=5, generator=torch.Generator().manual_seed(0))
    for part, want in zip(parts, expected_parts(tasks, 16, 5, seed=0), strict=True):
        for (x, y), (x_want, y_want) in zip(part, want, strict=True):
            assert torch.equal(x, x_want) and torch.equal(y, y_want)
