"""How related two tasks of a benchmark are, per pair: what each benchmark's dial sets.

The overlap study (docs/algorithms.md section 2) asks whether related tasks share more of the network.
Each benchmark defines relatedness by how its tasks were made (`Task.benchmark`, `angle`,
`pixel_map`, `classes`):
- rotated: the circular angle difference min(d, 360 - d), d = |a - b| mod 360, in degrees
  (0 for a task with itself); a smaller difference means more related tasks;
- permuted: the fraction of the H*W pixel positions that both tasks leave in place, i.e. read
  from where they are (for a task with itself: the fraction it leaves in place). With independent
  subsets (`permute_subsets: independent`, `permute_fraction` f) each task keeps 1 - f of them, so
  every pair shares about (1 - f)^2: nearly the same for all pairs of a run, nothing to correlate.
  With nested subsets (`permute_subsets: nested`) task t moves the first round(f_t * H*W) positions
  of one shared order, so two tasks share exactly 1 - max(f_i, f_j) (to a pixel's rounding): the
  pairs span the `permute_fraction_range`;
- split: the number of classes both tasks draw from (for a task with itself: its class count).
  The seeded 10-task split of 2-class pairs (more tasks than disjoint pairs) has both pairs of
  tasks that share a class and disjoint pairs; the consecutive groups of 5 tasks are all disjoint.
Pair tasks and tasks built by hand define none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from .task import Task


@dataclass(frozen=True)
class Relatedness:
    """A relatedness value for every pair of tasks.

    name: what the number is ("angle difference (degrees)", ...).
    matrix: float64 (T, T), symmetric, rows and columns in task-id order.
    related_when: "higher" where a larger value means more related tasks, "lower" where a
        smaller one does (an angle difference).
    """

    name: str
    matrix: np.ndarray
    related_when: Literal["higher", "lower"]


def angle_difference(angles: Sequence[float]) -> np.ndarray:
    """(T, T) circular differences of `angles` in degrees, each in [0, 180]."""
    a = np.asarray(angles, dtype=np.float64)
    d = np.abs(a[:, None] - a[None, :]) % 360.0
    return np.minimum(d, 360.0 - d)


def shared_fixed_fraction(pixel_maps: Sequence[torch.Tensor]) -> np.ndarray:
    """(T, T) fraction of the pixel positions that both of two maps leave in place (map[q] == q).

    Counted as a product of 0/1 matrices, exact in float32 for counts below 2^24, so 2,500 tasks
    of 784 pixels take one matrix product rather than 6 million pairwise comparisons.
    """
    stacked = torch.stack([m.detach().to("cpu", torch.long) for m in pixel_maps])
    pixels = stacked.shape[1]
    fixed = (stacked == torch.arange(pixels)).to(torch.float32)
    counts = (fixed @ fixed.T).round().to(torch.float64).numpy()
    return counts / pixels


def shared_classes(classes: Sequence[Sequence[int]]) -> np.ndarray:
    """(T, T) number of classes two tasks both draw from."""
    sets = [frozenset(c) for c in classes]
    return np.array([[len(a & b) for b in sets] for a in sets], dtype=np.float64)


def task_relatedness(tasks: Sequence[Task]) -> Relatedness | None:
    """The relatedness of every pair of `tasks` (module docstring), None where their benchmark
    defines none: pair tasks, tasks built by hand, or tasks of different benchmarks."""
    kinds = {task.benchmark for task in tasks}
    if len(kinds) != 1:
        return None
    kind = kinds.pop()
    ordered = sorted(tasks, key=lambda task: task.task_id)
    if kind == "rotated" and all(task.angle is not None for task in ordered):
        return Relatedness("angle difference (degrees)", angle_difference([t.angle for t in ordered]), "lower")
    if kind == "permuted" and all(task.pixel_map is not None for task in ordered):
        return Relatedness("fraction of pixels both leave in place",
                           shared_fixed_fraction([t.pixel_map for t in ordered]), "higher")
    if kind == "split":
        return Relatedness("shared classes", shared_classes([t.classes for t in ordered]), "higher")
    return None


__all__ = ["Relatedness", "angle_difference", "shared_classes", "shared_fixed_fraction", "task_relatedness"]
