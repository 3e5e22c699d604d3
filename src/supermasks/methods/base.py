"""The small Protocol every continual-learning method follows."""

from __future__ import annotations

from typing import Protocol

import torch

from supermasks.data.task import Task
from supermasks.training import FitResult


class Method(Protocol):
    """A learner of a sequence of tasks.

    `begin_task` prepares for a task (allocates its state) so the untrained accuracy can be read,
    `learn` trains on it, `predict` returns logits for a task already begun.
    """

    name: str

    def begin_task(self, task: Task) -> None: ...

    def learn(self, task: Task, *, progress: bool = True) -> FitResult: ...

    def predict(self, x: torch.Tensor, task_id: int) -> torch.Tensor: ...

    def bytes_per_task(self) -> int: ...
