"""SupSup with the task given (GG): one binary mask per task over a fixed random network.

Wortsman, Ramanujan et al., "Supermasks in Superposition", NeurIPS 2020. Each task gets fresh
scores; only the current task's scores are handed to the optimiser, so earlier masks, and their
per-task BatchNorm statistics, never change.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from supermasks.data.task import Task
from supermasks.methods.base import MethodSpec
from supermasks.models import (MaskedMLP, add_task, build_model, export_masks, masked_layers, norm_layers,
                               num_tasks, set_task, task_scores)
from supermasks.training import FitResult, Probe, fit, iterate_batches, make_optimizer

if TYPE_CHECKING:
    from supermasks.config import ExperimentConfig


class SupSup:
    """SupSup in the GG scenario. Defaults: RMSprop lr 1e-4, batch 128, 1000 steps per task."""

    name = "supsup"

    def __init__(self, model: MaskedMLP, *, optimizer: str = "rmsprop", lr: float = 1e-4,
                 batch_size: int = 128, steps_per_task: int = 1000, seed: int = 0) -> None:
        self.model = model
        self.optimizer = optimizer
        self.lr = lr
        self.batch_size = batch_size
        self.steps_per_task = steps_per_task
        self.seed = seed
        # Separate streams for score init and batch order, so changing one never shifts the other.
        self.score_generator_ = torch.Generator().manual_seed(seed + 1)
        self.batch_generator_ = torch.Generator().manual_seed(seed + 2)

    def begin_task(self, task: Task) -> None:
        task_id = add_task(self.model, self.score_generator_)
        if task_id != task.task_id:
            raise ValueError(f"tasks must arrive in order: got task {task.task_id}, expected {task_id}")

    def learn(self, task: Task, *, progress: bool = True, probe: Probe | None = None) -> FitResult:
        if task.task_id >= num_tasks(self.model):
            self.begin_task(task)
        set_task(self.model, task.task_id)
        self.model.train()
        optimizer = make_optimizer(self.optimizer, task_scores(self.model, task.task_id), self.lr)
        batches = iterate_batches(task.x_train, task.y_train, self.batch_size, self.steps_per_task,
                                  self.batch_generator_)

        def forward(x: torch.Tensor) -> torch.Tensor:
            # A probe may have switched the task or to eval mode: restore both on every step.
            set_task(self.model, task.task_id)
            self.model.train()
            return self.model(x)

        return fit(forward, optimizer, batches, total=self.steps_per_task,
                   description=f"{self.name} task {task.task_id}", progress=progress, probe=probe)

    def can_predict(self, task_id: int | None) -> bool:
        """Only tasks whose mask exists, and only with the task id (GG)."""
        return task_id is not None and 0 <= task_id < num_tasks(self.model)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, task_id: int | None) -> torch.Tensor:
        if task_id is None:
            raise ValueError("SupSup GG needs the task id at test time")
        set_task(self.model, task_id)
        self.model.eval()
        return self.model(x)

    def masks(self, task_id: int) -> dict[str, np.ndarray]:
        """The task's binary masks per layer name."""
        return export_masks(self.model, task_id)

    def bytes_per_task(self) -> int:
        """At rest: one bit per weight (bit-packed masks) plus float32 BN running mean and variance."""
        mask_bytes = sum(math.ceil(m.weight.numel() / 8) for m in masked_layers(self.model).values())
        bn_bytes = sum(2 * 4 * bn.num_features for bn in norm_layers(self.model).values())
        return mask_bytes + bn_bytes

    def memory_bytes(self) -> int:
        """The fixed float32 weights (rebuildable from the seed, but held in memory) plus every task's masks."""
        weights = sum(m.weight.numel() * 4 for m in masked_layers(self.model).values())
        return weights + num_tasks(self.model) * self.bytes_per_task()


def from_config(config: "ExperimentConfig", num_tasks: int) -> SupSup:
    model = build_model(config.model, output_size=config.output_size, rule=config.mask_rule,
                        density=config.density, batch_norm=config.batch_norm, seed=config.seed)
    return SupSup(model, optimizer=config.optimizer, lr=config.lr, batch_size=config.batch_size,
                  steps_per_task=config.steps_per_task, seed=config.seed)


SPEC = MethodSpec(from_config, "SupSup (GG): one learned binary mask per task over fixed random weights",
                  frozenset({"task"}))
