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
from supermasks.inference import OBJECTIVES, MaskBank, infer_per_image, infer_task, infer_task_binary
from supermasks.methods.base import MethodSpec
from supermasks.models import (MaskedMLP, add_task, build_model, export_masks, masked_layers, norm_layers,
                               num_tasks, set_task, task_scores)
from supermasks.training import FitResult, Probe, fit, iterate_batches, make_optimizer

if TYPE_CHECKING:
    from supermasks.config import ExperimentConfig

TASK_INFERENCE = ("oneshot", "binary")


class SupSup:
    """SupSup in the GG scenario. Defaults: RMSprop lr 1e-4, batch 128, 1000 steps per task."""

    name = "supsup"

    def __init__(self, model: MaskedMLP, *, optimizer: str = "rmsprop", lr: float = 1e-4,
                 batch_size: int = 128, steps_per_task: int = 1000, seed: int = 0,
                 task_inference: str = "oneshot", inference_objective: str = "H") -> None:
        if task_inference not in TASK_INFERENCE:
            raise ValueError(f"unknown task inference {task_inference!r}; choose one of {', '.join(TASK_INFERENCE)}")
        if inference_objective not in OBJECTIVES:
            raise ValueError(f"unknown inference objective {inference_objective!r}; choose one of {', '.join(OBJECTIVES)}")
        self.model = model
        self.task_inference = task_inference
        self.inference_objective = inference_objective
        self.optimizer = optimizer
        self.lr = lr
        self.batch_size = batch_size
        self.steps_per_task = steps_per_task
        self.seed = seed
        # Separate streams for score init and batch order, so changing one never shifts the other.
        self.score_generator_ = torch.Generator().manual_seed(seed + 1)
        self.batch_generator_ = torch.Generator().manual_seed(seed + 2)
        # Learned tasks' masks, bit-packed, for task inference (filled as tasks finish).
        self.bank_ = MaskBank({name: tuple(m.weight.shape) for name, m in masked_layers(model).items()})
        self.num_classes_ = 0  # the most labels any task used: G's gradient skips these outputs

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

        result = fit(forward, optimizer, batches, total=self.steps_per_task,
                     description=f"{self.name} task {task.task_id}", progress=progress, probe=probe)
        if self.bank_.num_tasks == task.task_id:  # learned once: its mask joins the bank
            self.bank_.add({name: m.mask(task.task_id) for name, m in masked_layers(self.model).items()})
        self.num_classes_ = max(self.num_classes_, task.num_classes)
        return result

    @torch.no_grad()
    def infer_task(self, x: torch.Tensor) -> int:
        """The learned task that task inference picks for the batch `x` (GNs/GNu)."""
        if self.bank_.num_tasks == 0:
            raise ValueError("no task has been learned yet, so there is nothing to infer")
        self.model.eval()
        infer = infer_task if self.task_inference == "oneshot" else infer_task_binary
        with torch.enable_grad():  # the inference gradient is taken with respect to the mixing weights
            return infer(self.model, self.bank_, x, self.inference_objective,
                         self.num_classes_ if self.inference_objective == "G" else None)

    @torch.no_grad()
    def infer_task_per_image(self, x: torch.Tensor) -> torch.Tensor:
        """One inferred task per image of `x` (one-shot single-image inference, batched): (batch,) long."""
        if self.bank_.num_tasks == 0:
            raise ValueError("no task has been learned yet, so there is nothing to infer")
        self.model.eval()
        with torch.enable_grad():
            return infer_per_image(self.model, self.bank_, x, self.inference_objective,
                                   self.num_classes_ if self.inference_objective == "G" else None)

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
                  steps_per_task=config.steps_per_task, seed=config.seed, task_inference=config.task_inference,
                  inference_objective=config.inference_objective)


def check(config: "ExperimentConfig") -> None:
    """Task-inference settings that cannot work, refused before training."""
    from supermasks.config import ConfigError

    if config.task_inference not in TASK_INFERENCE:
        raise ConfigError(f"task_inference: unknown value {config.task_inference!r}; choose one of "
                          f"{', '.join(TASK_INFERENCE)}")
    if config.inference_objective not in OBJECTIVES:
        raise ConfigError(f"inference_objective: unknown value {config.inference_objective!r}; choose one of "
                          f"{', '.join(OBJECTIVES)}")
    if config.inference_batch_size < 1:
        raise ConfigError(f"inference_batch_size must be positive, got {config.inference_batch_size}")
    if config.batch_norm and config.scenario in ("gns", "gnu"):
        raise ConfigError("task inference superposes masks, which per-task BatchNorm statistics do not allow: "
                          "set batch_norm=false for the gns/gnu scenarios")


SPEC = MethodSpec(from_config, "SupSup: one learned binary mask per task over fixed random weights; "
                  "task given (GG) or inferred (GNs, GNu)", frozenset({"task", "gns", "gnu"}), check=check)
