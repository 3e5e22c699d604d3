"""Joint training: each task trains one dense network on the union of all tasks seen so far.

An upper bound for one network that learns every task; the SupSup study's "upper bound" is one
network per task (`methods.upper_bound`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from supermasks.data.images import materialize
from supermasks.data.task import Task
from supermasks.methods import _dense
from supermasks.methods._state import check_header, header, load_generator, owned
from supermasks.methods.base import MethodSpec
from supermasks.models import DenseNetwork, parameter_bytes
from supermasks.training import FitResult, Probe, TrainingSettings
from supermasks.seeds import streams

if TYPE_CHECKING:
    from supermasks.methods.base import MethodConfig


class Joint:
    """Trains on tasks 0..t shuffled together when learning task t; keeps every seen task's data.

    `steps_per_task` steps per task, whatever the size of the union, so the compute per task
    matches the other baselines. In the task scenario each sample goes through its own task's head.
    """

    name = "joint"
    HYPERPARAMETERS = ("scenario", "seed")  # besides the training settings (`_state.RECORDED_TRAINING`)

    def __init__(self, model: DenseNetwork, *, training: TrainingSettings = TrainingSettings(), scenario: str = "task",
                 seed: int = 0) -> None:
        self.model = model
        self.training = training
        self.scenario = scenario
        self.seed = seed
        self.batch_generator_ = torch.Generator().manual_seed(streams(seed).batches)
        # task id -> (images, labels) of its training set: the Task's own tensors, shared, not copied
        # (images a Task computes per batch are computed in full once).
        self.seen_: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def begin_task(self, task: Task) -> None:
        _dense.begin_task(self.model, self.scenario, task, self.seed)

    def learn(self, task: Task, *, progress: bool = True, probe: Probe | None = None) -> FitResult:
        self.seen_[task.task_id] = (materialize(task.x_train), task.y_train)
        # train_task samples from one tensor, so the union is concatenated for this call only;
        # between tasks the method holds nothing but the references in `seen_`.
        x = torch.cat([x for x, _ in self.seen_.values()])
        y = torch.cat([y for _, y in self.seen_.values()])
        head_ids = torch.cat([torch.full((len(y),), _dense.head_of(self.model, self.scenario, task_id),
                                         dtype=torch.int64) for task_id, (_, y) in self.seen_.items()])
        return _dense.train_task(self.model, self.scenario, task, x, y, params=list(self.model.parameters()),
                                 training=self.training,
                                 generator=self.batch_generator_, name=self.name, progress=progress, probe=probe,
                                 head_ids=head_ids)

    def can_predict(self, task_id: int | None) -> bool:
        return _dense.can_predict(self.model, self.scenario, task_id)

    def predict(self, x: torch.Tensor, task_id: int | None) -> torch.Tensor:
        return _dense.predict(self.model, self.scenario, x, task_id)

    def data_bytes(self) -> int:
        """Bytes of the stored training images and labels; a tensor shared by two tasks counts once."""
        tensors = {(t.data_ptr(), t.nbytes): t for pair in self.seen_.values() for t in pair}
        return sum(t.nbytes for t in tensors.values())

    def memory_bytes(self) -> int:
        return parameter_bytes(self.model) + self.data_bytes()

    def state_dict(self) -> dict[str, Any]:
        """The network, the batch stream, and the data of every task seen (each distinct tensor once)."""
        data: list[torch.Tensor] = []
        index: dict[tuple[int, int], int] = {}  # (address, bytes) -> position in `data`: shared images stay shared

        def ref(t: torch.Tensor) -> int:
            key = (t.data_ptr(), t.nbytes)
            if key not in index:
                index[key] = len(data)
                data.append(t)
            return index[key]

        seen = [[task_id, ref(x), ref(y)] for task_id, (x, y) in self.seen_.items()]
        return {**header(self, self.HYPERPARAMETERS), "network": _dense.network_state(self.model),
                "batch_generator": self.batch_generator_.get_state(), "seen": seen, "data": data}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_header(self, self.HYPERPARAMETERS, state)
        _dense.load_network_state(self.model, state["network"])
        load_generator(self.batch_generator_, state["batch_generator"])
        data = [owned(t) for t in state["data"]]
        self.seen_ = {task_id: (data[x], data[y]) for task_id, x, y in state["seen"]}


@dataclass(frozen=True)
class JointSettings:
    """Joint training has no settings of its own (training and model sections only)."""


def from_config(config: "MethodConfig") -> Joint:
    return Joint(_dense.build_network(config), training=config.training, scenario=config.scenario.name, seed=config.seed)


SPEC = MethodSpec(from_config, "one dense network trained on the union of all tasks seen so far (upper bound for one network)",
                  frozenset({"task", "domain", "class"}), settings=JointSettings,
                  keeps_task_images=True, check=_dense.own_network_check("joint"), own_network=True)
