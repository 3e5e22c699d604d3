"""SupSup with the task given (GG): one binary mask per task over a fixed random network.

Wortsman, Ramanujan et al., "Supermasks in Superposition", NeurIPS 2020. Each task gets fresh
scores; only the current task's scores are handed to the optimiser, so earlier masks, and their
per-task BatchNorm statistics, never change.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from supermasks.data.task import Task
from supermasks.models import MaskedMLP, add_task, export_masks, masked_layers, norm_layers, num_tasks, set_task, task_scores
from supermasks.training import FitResult, fit, iterate_batches, make_optimizer


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

    def learn(self, task: Task, *, progress: bool = True) -> FitResult:
        if task.task_id >= num_tasks(self.model):
            self.begin_task(task)
        set_task(self.model, task.task_id)
        self.model.train()
        optimizer = make_optimizer(self.optimizer, task_scores(self.model, task.task_id), self.lr)
        batches = iterate_batches(task.x_train, task.y_train, self.batch_size, self.steps_per_task,
                                  self.batch_generator_)
        return fit(self.model, optimizer, batches, total=self.steps_per_task,
                   description=f"{self.name} task {task.task_id}", progress=progress)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, task_id: int) -> torch.Tensor:
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
