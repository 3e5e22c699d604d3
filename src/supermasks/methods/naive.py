"""Naive fine-tuning: one dense network trained task after task (the lower bound).

In the task scenario (`scenario.name=task`) each task gets its own output head on the one trunk,
which every task fine-tunes in turn: the "Lower Bound" of the SupSup study (Wortsman, Ramanujan
et al., NeurIPS 2020, Figure 2 right), one dense trunk fine-tuned with per-task heads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from supermasks.data.task import Task
from supermasks.methods import _dense
from supermasks.methods._state import check_header, header, load_generator
from supermasks.methods.base import MethodSpec
from supermasks.models import DenseNetwork, parameter_bytes
from supermasks.training import FitResult, Probe, TrainingSettings
from supermasks.seeds import streams

if TYPE_CHECKING:
    from supermasks.methods.base import MethodConfig


class Naive:
    """Fine-tunes every weight on each new task with nothing to protect earlier ones."""

    name = "naive"
    HYPERPARAMETERS = ("scenario", "seed")  # besides the training settings (`_state.RECORDED_TRAINING`)

    def __init__(self, model: DenseNetwork, *, training: TrainingSettings = TrainingSettings(), scenario: str = "task",
                 seed: int = 0) -> None:
        self.model = model
        self.training = training
        self.scenario = scenario
        self.seed = seed
        self.batch_generator_ = torch.Generator().manual_seed(streams(seed).batches)

    def begin_task(self, task: Task) -> None:
        _dense.begin_task(self.model, self.scenario, task, self.seed)

    def learn(self, task: Task, *, progress: bool = True, probe: Probe | None = None) -> FitResult:
        return _dense.train_task(self.model, self.scenario, task, task.x_train, task.y_train,
                                 params=list(self.model.parameters()), training=self.training,
                                 generator=self.batch_generator_, name=self.name, progress=progress, probe=probe)

    def can_predict(self, task_id: int | None) -> bool:
        return _dense.can_predict(self.model, self.scenario, task_id)

    def predict(self, x: torch.Tensor, task_id: int | None) -> torch.Tensor:
        return _dense.predict(self.model, self.scenario, x, task_id)

    def memory_bytes(self) -> int:
        return parameter_bytes(self.model)

    def state_dict(self) -> dict[str, Any]:
        return {**header(self, self.HYPERPARAMETERS), "network": _dense.network_state(self.model),
                "batch_generator": self.batch_generator_.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_header(self, self.HYPERPARAMETERS, state)
        _dense.load_network_state(self.model, state["network"])
        load_generator(self.batch_generator_, state["batch_generator"])


@dataclass(frozen=True)
class NaiveSettings:
    """Naive fine-tuning has no settings of its own (training and model sections only)."""


def from_config(config: "MethodConfig") -> Naive:
    return Naive(_dense.build_network(config), training=config.training, scenario=config.scenario.name, seed=config.seed)


SPEC = MethodSpec(from_config, "naive fine-tuning of one dense network, task after task (lower bound; in the task "
                  "scenario one head per task on the shared fine-tuned trunk)",
                  frozenset({"task", "domain", "class"}), settings=NaiveSettings,
                  check=_dense.own_network_check("naive"), own_network=True)
