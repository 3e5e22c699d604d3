"""How every method trains a task from the run's one `TrainingSettings`: its steps, rate schedule and optimiser."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from supermasks.data.task import Task
from supermasks.training import StepOptimizer, TrainingSettings, make_optimizer, task_training


def task_schedule(training: TrainingSettings, task: Task) -> tuple[int, Callable[[int], float] | None]:
    """(steps, rates for `fit`) of `task`: `steps_per_task`, or `epochs` over its training set, and the schedule."""
    return task_training(training.steps_per_task, training.epochs, training.schedule, len(task.x_train),
                         training.batch_size)


def task_optimizer(training: TrainingSettings, params: Iterable[torch.Tensor]) -> StepOptimizer:
    """The configured optimiser over `params`, at the configured rate and weight decay."""
    return make_optimizer(training.optimizer, params, training.lr, weight_decay=training.weight_decay)
