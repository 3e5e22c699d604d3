"""The small Protocol every continual-learning method follows, and its registry entry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch

from supermasks.data.task import Task
from supermasks.training import FitResult, Probe

if TYPE_CHECKING:
    from supermasks.config import ExperimentConfig


class Method(Protocol):
    """A learner of a sequence of tasks.

    The runner calls, for each task in order: `begin_task` (allocate the task's state, so its
    untrained accuracy can be read), `learn` (train on it), then `predict` on every task it
    `can_predict`. `task_id` is None where the scenario gives no task id at test time.
    """

    name: str

    def begin_task(self, task: Task) -> None: ...

    def learn(self, task: Task, *, progress: bool = True, probe: Probe | None = None) -> FitResult: ...

    def predict(self, x: torch.Tensor, task_id: int | None) -> torch.Tensor: ...

    def can_predict(self, task_id: int | None) -> bool: ...

    def memory_bytes(self) -> int:
        """Bytes of everything the method keeps: weights, masks, heads, buffers, Fisher terms."""
        ...


@dataclass(frozen=True)
class MethodSpec:
    """A registry entry: how to build a method from a config, and where it can run."""

    build: Callable[["ExperimentConfig", int], Method]  # (config, number of tasks) -> method
    description: str
    scenarios: frozenset[str]
    check: Callable[["ExperimentConfig"], None] = lambda config: None  # raise ConfigError on bad values
