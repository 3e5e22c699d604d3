"""Separate heads: a shared dense trunk (trained on task 0 only, or never) and one output head per task.

A baseline of the SupSup study (Wortsman, Ramanujan et al., NeurIPS 2020, "Separate Heads" and
"Separate Heads - Rand W"). Only the current task's head (and, on task 0, the trunk) is handed
to the optimiser, so every finished task's function stays exactly as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch

from supermasks.data.task import Task
from supermasks.methods import _dense
from supermasks.methods._state import check_header, header, load_generator
from supermasks.methods.base import MethodSpec
from supermasks.models import MultiHeadMLP, parameter_bytes
from supermasks.training import FitResult, Probe, TrainingSettings
from supermasks.seeds import streams

if TYPE_CHECKING:
    from supermasks.methods.base import MethodConfig

TRUNK_MODES: dict[str, str] = {
    "task0": "the trunk is trained with head 0 on task 0, then frozen",
    "random": "the trunk keeps its random initialisation and only heads learn, as in Rand W",
}
# The method needs the task id to choose a head, so it runs in the task-incremental scenario only.
_SCENARIO = "task"


class SeparateHeads:
    """One frozen trunk shared by all tasks, one trained linear head per task."""

    name = "separate_heads"
    HYPERPARAMETERS = ("trunk", "seed")  # besides the training settings (`_state.RECORDED_TRAINING`)

    def __init__(self, model: MultiHeadMLP, *, training: TrainingSettings = TrainingSettings(), trunk: str = "task0",
                 seed: int = 0) -> None:
        if trunk not in TRUNK_MODES:
            raise ValueError(f"unknown trunk mode {trunk!r}; choose one of {', '.join(TRUNK_MODES)}")
        self.model = model
        self.training = training
        self.trunk = trunk
        self.seed = seed
        self.batch_generator_ = torch.Generator().manual_seed(streams(seed).batches)

    def trains_trunk(self, task_id: int) -> bool:
        """Whether learning `task_id` updates the shared trunk (only task 0 in "task0" mode)."""
        return self.trunk == "task0" and task_id == 0

    def begin_task(self, task: Task) -> None:
        _dense.begin_task(self.model, _SCENARIO, task, self.seed)

    def learn(self, task: Task, *, progress: bool = True, probe: Probe | None = None) -> FitResult:
        if task.task_id >= len(self.model.heads):
            self.begin_task(task)
        trunk_trained = self.trains_trunk(task.task_id)
        # A frozen trunk needs no gradients at all: this also keeps stale .grad tensors off it.
        self.model.trunk.requires_grad_(trunk_trained)
        params = list(self.model.heads[task.task_id].parameters())
        if trunk_trained:
            params += list(self.model.trunk.parameters())
        return _dense.train_task(self.model, _SCENARIO, task, task.x_train, task.y_train, params=params,
                                 training=self.training,
                                 generator=self.batch_generator_, name=self.name, progress=progress, probe=probe)

    def can_predict(self, task_id: int | None) -> bool:
        return _dense.can_predict(self.model, _SCENARIO, task_id)

    def predict(self, x: torch.Tensor, task_id: int | None) -> torch.Tensor:
        return _dense.predict(self.model, _SCENARIO, x, task_id)

    def memory_bytes(self) -> int:
        """The trunk plus every task's head: grows by one head per task."""
        return parameter_bytes(self.model)

    def state_dict(self) -> dict[str, Any]:
        return {**header(self, self.HYPERPARAMETERS), "network": _dense.network_state(self.model),
                "batch_generator": self.batch_generator_.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_header(self, self.HYPERPARAMETERS, state)
        _dense.load_network_state(self.model, state["network"])
        load_generator(self.batch_generator_, state["batch_generator"])


@dataclass(frozen=True)
class SeparateHeadsSettings:
    """The `separate_heads` section: how the shared trunk is trained (see TRUNK_MODES)."""

    trunk: Literal["task0", "random"] = "task0"


def from_config(config: "MethodConfig") -> SeparateHeads:
    settings: SeparateHeadsSettings = config.settings("separate_heads")
    return SeparateHeads(_dense.build_multihead_network(config), training=config.training, trunk=settings.trunk,
                         seed=config.seed)


SPEC = MethodSpec(from_config, "separate heads: one head per task on a trunk trained on task 0 (or random)",
                  frozenset({_SCENARIO}), settings=SeparateHeadsSettings,
                  own_network_refusal="it freezes a trunk under per-task heads, and a module of yours has no "
                  "separable trunk and head")
