"""The unit a benchmark yields: one task's train and test tensors and its classes."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .augment import Augment
from .images import Images


@dataclass(frozen=True)
class Task:
    """One task of a continual-learning benchmark.

    Images are float32, normalised, shaped (N, C, H, W) (C = 1 for the MNIST family): either a tensor, or a `TaskImages`
    (what `make_benchmark` gives) that computes them batch by batch when indexed; `x[idx]` with
    a slice or an int64 index tensor gives a float tensor either way, and
    `data.images.materialize(x)` the whole set. Labels are int64 (N,).
    `classes` are the original class ids this task draws from (before any remapping), and
    `num_classes` the number of distinct labels its `y_*` tensors use.

    How the task was made, where a benchmark made it (what `data.relatedness` compares):
    `benchmark` the benchmark's name ("permuted", "rotated", "split", "pair"; None for a task
    built by hand), `angle` a rotated task's rotation in degrees anticlockwise, and `pixel_map`
    a permuted task's int64 (H*W,) map, for each output pixel (row-major) the input pixel it
    copies: the very tensor its `TaskImages` read through, not a copy, so a task holds no more
    than before.

    `augment`, where the benchmark asks for it (splitcifar100, splitimagenet), makes each training
    batch from `x_train` and the batch's positions (`data.augment.Augment`): the methods draw
    their training batches through it (`training.iterate_batches`); test images are never
    augmented. None: training batches are `x_train[idx]` as they are.
    """

    task_id: int
    name: str
    x_train: Images  # (N, C, H, W) float32
    y_train: torch.Tensor  # (N,) int64
    x_test: Images  # (M, C, H, W) float32
    y_test: torch.Tensor  # (M,) int64
    classes: tuple[int, ...]
    num_classes: int
    benchmark: str | None = None
    angle: float | None = None
    pixel_map: torch.Tensor | None = None  # (H*W,) int64
    augment: Augment | None = None

    def __post_init__(self) -> None:
        if len(self.x_train) != len(self.y_train) or len(self.x_test) != len(self.y_test):
            raise ValueError(f"task {self.task_id}: images and labels differ in count")
