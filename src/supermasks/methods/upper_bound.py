"""Upper bound: one dense network per task, each starting from the previous task's trained network.

The "Upper Bound" baseline of the SupSup study (Wortsman, Ramanujan et al., NeurIPS 2020,
Figure 2 right): an independent model per task, so no task ever interferes with another. Task
0's network starts from the configured initialisation; task t's starts as a copy of task t-1's
trained network (trunk and head) and then trains on task t alone. A finished task's network is
never trained again, so its accuracy stays exactly as it was when it finished. It stores a full
network per task: T times the parameter bytes of one (the right end of the accuracy-against-bytes
figure). Task-incremental only: the task id chooses the network.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from supermasks.data.task import Task
from supermasks.compute.devices import module_device, to_device
from supermasks.methods import _dense
from supermasks.methods._state import check_header, header, load_generator
from supermasks.methods.base import MethodSpec
from supermasks.models import DenseNetwork, parameter_bytes
from supermasks.seeds import streams
from supermasks.training import FitResult, Probe, TrainingSettings

if TYPE_CHECKING:
    from supermasks.methods.base import MethodConfig

# The task id chooses the network, so the method runs in the task-incremental scenario only.
_SCENARIO = "task"


class UpperBound:
    """`networks[t]` serves task t; only the network of the task being learned is trained."""

    name = "upper_bound"
    HYPERPARAMETERS = ("seed",)  # besides the training settings (`_state.RECORDED_TRAINING`)

    def __init__(self, model: DenseNetwork, *, training: TrainingSettings = TrainingSettings(), seed: int = 0) -> None:
        self.networks = nn.ModuleList([model])  # task 0's network; each later task appends a copy of its predecessor
        self.training = training
        self.seed = seed
        self.batch_generator_ = torch.Generator().manual_seed(streams(seed).batches)

    def begin_task(self, task: Task) -> None:
        """Give task t its network: a copy of task t-1's as it stands (trained), task 0 the initial one."""
        if task.task_id == len(self.networks):
            self.networks.append(copy.deepcopy(self.networks[-1]))
        elif task.task_id > len(self.networks):
            raise ValueError(f"tasks must arrive in order: got task {task.task_id}, expected {len(self.networks)}")

    def learn(self, task: Task, *, progress: bool = True, probe: Probe | None = None) -> FitResult:
        self.begin_task(task)
        network = self.networks[task.task_id]
        for other in self.networks:  # finished networks take no gradients (no stale .grad either)
            other.requires_grad_(other is network)
        head_ids = torch.zeros(len(task.x_train), dtype=torch.int64)  # each network has a single head
        return _dense.train_task(network, _SCENARIO, task, task.x_train, task.y_train,
                                 params=list(network.parameters()), head_ids=head_ids,
                                 training=self.training, generator=self.batch_generator_,
                                 name=self.name, progress=progress, probe=probe)

    def can_predict(self, task_id: int | None) -> bool:
        return task_id is not None and 0 <= task_id < len(self.networks)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, task_id: int | None) -> torch.Tensor:
        if task_id is None:
            raise ValueError("the upper bound needs the task id: it keeps one network per task")
        if not 0 <= task_id < len(self.networks):
            raise IndexError(f"task {task_id} has no network; there are {len(self.networks)}")
        network = self.networks[task_id]
        network.eval()
        return network(to_device(x, module_device(network)), 0)

    def bytes_per_task(self) -> int:
        """What one more task costs: a full network (parameters and buffers)."""
        return parameter_bytes(self.networks[0])

    def memory_bytes(self) -> int:
        """Every task's network: the number of networks times `bytes_per_task`."""
        return sum(parameter_bytes(network) for network in self.networks)

    def state_dict(self) -> dict[str, Any]:
        return {**header(self, self.HYPERPARAMETERS), "networks": [_dense.network_state(n) for n in self.networks],
                "batch_generator": self.batch_generator_.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_header(self, self.HYPERPARAMETERS, state)
        saved = state["networks"]
        if len(self.networks) > len(saved):
            raise ValueError(f"the method has {len(self.networks)} networks already, the state {len(saved)}")
        while len(self.networks) < len(saved):
            self.networks.append(copy.deepcopy(self.networks[-1]))  # overwritten below
        for network, network_state in zip(self.networks, saved):
            _dense.load_network_state(network, network_state)
        load_generator(self.batch_generator_, state["batch_generator"])


@dataclass(frozen=True)
class UpperBoundSettings:
    """The upper bound has no settings of its own (training and model sections only)."""


def from_config(config: "MethodConfig") -> UpperBound:
    return UpperBound(_dense.build_network(config), training=config.training, seed=config.seed)


def task_bits(config: "MethodConfig") -> int:
    """Each task keeps a float32 copy of every weight."""
    return 32


SPEC = MethodSpec(from_config, "upper bound: one dense network per task, each starting from the previous task's "
                  "trained network (task id given)", frozenset({_SCENARIO}), settings=UpperBoundSettings,
                  task_bits=task_bits, own_network=True)
