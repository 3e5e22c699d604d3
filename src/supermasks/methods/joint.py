"""Joint training: each task trains one dense network on the union of all tasks seen so far (upper bound)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from supermasks.data.task import Task
from supermasks.methods import _dense
from supermasks.methods.base import MethodSpec
from supermasks.models import MultiHeadMLP, parameter_bytes
from supermasks.training import FitResult, Probe
from supermasks.seeds import streams

if TYPE_CHECKING:
    from supermasks.config import ExperimentConfig


class Joint:
    """Trains on tasks 0..t shuffled together when learning task t; keeps every seen task's data.

    `steps_per_task` steps per task, whatever the size of the union, so the compute per task
    matches the other baselines. In the task scenario each sample goes through its own task's head.
    """

    name = "joint"

    def __init__(self, model: MultiHeadMLP, *, scenario: str = "task", optimizer: str = "sgd", lr: float = 1e-3,
                 batch_size: int = 32, steps_per_task: int = 1000, seed: int = 0) -> None:
        self.model = model
        self.scenario = scenario
        self.optimizer = optimizer
        self.lr = lr
        self.batch_size = batch_size
        self.steps_per_task = steps_per_task
        self.seed = seed
        self.batch_generator_ = torch.Generator().manual_seed(streams(seed).batches)
        self.seen_: dict[int, Task] = {}  # task id -> the Task itself: its tensors are shared, not copied

    def begin_task(self, task: Task) -> None:
        _dense.begin_task(self.model, self.scenario, task, self.seed)

    def learn(self, task: Task, *, progress: bool = True, probe: Probe | None = None) -> FitResult:
        self.seen_[task.task_id] = task
        tasks = list(self.seen_.values())
        # train_task samples from one tensor, so the union is concatenated for this call only;
        # between tasks the method holds nothing but the references in `seen_`.
        x = torch.cat([t.x_train for t in tasks])
        y = torch.cat([t.y_train for t in tasks])
        head_ids = torch.cat([torch.full((len(t.y_train),), _dense.head_of(self.model, self.scenario, t.task_id),
                                         dtype=torch.int64) for t in tasks])
        return _dense.train_task(self.model, self.scenario, task, x, y, params=list(self.model.parameters()),
                                 optimizer=self.optimizer, lr=self.lr, batch_size=self.batch_size,
                                 steps=self.steps_per_task, generator=self.batch_generator_, name=self.name,
                                 progress=progress, probe=probe, head_ids=head_ids)

    def can_predict(self, task_id: int | None) -> bool:
        return _dense.can_predict(self.model, self.scenario, task_id)

    def predict(self, x: torch.Tensor, task_id: int | None) -> torch.Tensor:
        return _dense.predict(self.model, self.scenario, x, task_id)

    def data_bytes(self) -> int:
        """Bytes of the stored training images and labels; a tensor shared by two tasks counts once."""
        tensors = {(t.data_ptr(), t.nbytes): t for task in self.seen_.values() for t in (task.x_train, task.y_train)}
        return sum(t.nbytes for t in tensors.values())

    def memory_bytes(self) -> int:
        return parameter_bytes(self.model) + self.data_bytes()


@dataclass(frozen=True)
class JointSettings:
    """Joint training has no settings of its own (training and model sections only)."""


def from_config(config: "ExperimentConfig") -> Joint:
    return Joint(_dense.build_network(config), **_dense.training_kwargs(config))


SPEC = MethodSpec(from_config, "one dense network trained on the union of all tasks seen so far (upper bound)",
                  frozenset({"task", "domain", "class"}), settings=JointSettings)
