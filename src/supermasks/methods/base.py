"""The contract between the runner and a method: the `Method` Protocol, its optional capabilities, the registry entry.

Every method follows `Method`. What only some methods can do is declared as a small
runtime-checkable Protocol below; the runner asks `isinstance(method, Masked)` and never probes
attributes or compares method names. A class takes part in a capability simply by having its
members, as with any Protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import torch

from supermasks.data.task import Task
from supermasks.training import FitResult, Probe

if TYPE_CHECKING:
    from supermasks.models.settings import ModelSettings
    from supermasks.scenarios import ScenarioSettings
    from supermasks.training import TrainingSettings


class RunView(Protocol):
    """The runner's settings a method reads: where it computes, whether its masks are analysed, its test batches."""

    @property
    def device(self) -> str: ...

    @property
    def overlap(self) -> bool | None: ...

    @property
    def eval_batch_size(self) -> int | None: ...


class MethodConfig(Protocol):
    """What a method's builder and checks read of an experiment config (`supermasks.config.ExperimentConfig`
    follows it): the seed, the methods compared, the model, training and scenario sections, a few run settings,
    each method's own section (`settings(name)`), and a copy with one method's section replaced (`with_settings`).

    Methods take the config through this Protocol, so they never import the configuration package, which imports
    the method registry to find each method's settings.
    """

    @property
    def seed(self) -> int: ...

    @property
    def method(self) -> list[str]: ...

    @property
    def model(self) -> ModelSettings: ...

    @property
    def training(self) -> TrainingSettings: ...

    @property
    def scenario(self) -> ScenarioSettings: ...

    @property
    def run(self) -> RunView: ...

    def settings(self, method: str) -> Any:
        """The settings of `method` (one of `method`): its section of the config."""
        ...

    def with_settings(self, method: str, settings: Any) -> MethodConfig:
        """This config with `settings` (a frozen settings dataclass) as the section of `method`."""
        ...


@runtime_checkable
class Method(Protocol):
    """A learner of a sequence of tasks.

    The runner calls, for each task in order: `begin_task` (allocate the task's state, so its
    untrained accuracy can be read), `learn` (train on it), then `predict` on every task it
    `can_predict`. `task_id` is None where the scenario gives no task id at test time.

    `state_dict()` returns everything the method needs to go on training after the tasks it
    has learned (tensors, numbers, strings, and lists and dicts of them; the PyTorch
    convention); `load_state_dict(state)` puts it into a method freshly built from the same
    settings, which then continues exactly as the saved one would have.
    """

    name: str

    def begin_task(self, task: Task) -> None: ...

    def learn(self, task: Task, *, progress: bool = True, probe: Probe | None = None) -> FitResult: ...

    def predict(self, x: torch.Tensor, task_id: int | None) -> torch.Tensor: ...

    def can_predict(self, task_id: int | None) -> bool: ...

    def memory_bytes(self) -> int:
        """Bytes of everything the method keeps: weights, masks, heads, buffers, Fisher terms."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class Masked(Protocol):
    """A method that learns one binary mask per task over a fixed network (SupSup and its relatives)."""

    model: torch.nn.Module  # its masked layers hold every task's mask (and per-task BatchNorm)

    def masks(self, task_id: int) -> dict[str, np.ndarray]:
        """The task's binary masks, per masked layer name."""
        ...

    def bytes_per_task(self) -> int:
        """What one more task costs at rest (bit-packed mask, per-task statistics)."""
        ...


@runtime_checkable
class KnowsInitialMasks(Protocol):
    """A masked method that recorded the mask each task started from (learned changes, docs/algorithms.md section 2)."""

    def initial_masks(self, task_id: int) -> dict[str, np.ndarray]:
        """The task's initial binary masks (before any training), per masked layer name, like `Masked.masks`.

        ValueError when they were not recorded.
        """
        ...


@runtime_checkable
class SharesInitialScores(Protocol):
    """A masked method whose tasks may all start from one initial score s0 (the stratified learned-change chance)."""

    def initial_score_margins(self) -> dict[str, np.ndarray] | None:
        """Per masked layer name, each weight's distance from s0 to where its mask bit flips (float, the
        weight's shape); None where the tasks do not share one s0 (`analysis.changes`)."""
        ...


@runtime_checkable
class InfersTasks(Protocol):
    """A method that can say which learned task a test batch belongs to (scenarios GNs and GNu)."""

    def infer_task(self, x: torch.Tensor) -> int: ...


@runtime_checkable
class InfersPerImage(Protocol):
    """A method that infers one task per image for many images at once (single-image inference)."""

    def infer_task_per_image(self, x: torch.Tensor) -> torch.Tensor:
        """(batch,) long: the task inferred for each image of `x` as if it came alone."""
        ...


@runtime_checkable
class StoresForLaterTasks(Protocol):
    """A method that, after learning a task, stores what only later tasks use (replay samples, Fisher terms).

    Told how many tasks the sequence has, it stores nothing after the last one: nothing follows
    it, so those bytes would only inflate what a finished run keeps. Not told (None, the
    default), it stores after every task, as a learner of an open-ended stream must.
    """

    def expect_tasks(self, num_tasks: int | None) -> None: ...


@dataclass(frozen=True)
class TaskStart:
    """Where a method's two random streams (SupSup's) stand when a task begins: the score and batch generators' states."""

    scores: torch.Tensor  # torch.Generator.get_state() of the score stream
    batches: torch.Tensor  # ... and of the batch-order stream


@dataclass(frozen=True)
class LearnedTask:
    """One task as another copy of the method, built from the same config, learned it (`learn_alone`): what evaluating it needs.

    `masks`: bit-packed mask per masked layer (uint8, 1 bit per weight); `norms`: BN statistics per
    per-task BN layer; `fit`: the training's steps, samples, seconds and losses.
    """

    task_id: int
    masks: dict[str, torch.Tensor]
    norms: dict[str, dict[str, torch.Tensor]]
    fit: FitResult


@runtime_checkable
class LearnsTasksApart(Protocol):
    """A method whose tasks can be learned apart, each by a fresh copy, and installed in order (`run.parallel_tasks`).

    `task_starts` replays where the method's random streams stand at each task's start (and after
    the last); a fresh copy learns one task from its start (`learn_alone`); the method running the
    sequence, having begun the task, takes the result (`learned_apart`) and is then as `learn` leaves it. A worker
    builds the fresh copy from the config by the method's `name` (`MethodSpec.tasks_apart` says where it can).
    """

    name: str

    def task_starts(self, tasks: list[Task]) -> list[TaskStart]: ...

    def learn_alone(self, task: Task, start: TaskStart, *, progress: bool = False) -> LearnedTask: ...

    def learned_apart(self, task: Task, learned: LearnedTask, after: TaskStart) -> None: ...


@dataclass
class MethodReport:
    """What a method adds to its run directory: numbers for metrics.json and tables by file stem."""

    metrics: dict[str, float] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


@runtime_checkable
class Reports(Protocol):
    """A method with analysis of its own (SupSup's transfer alphas, HopSupSup's Hopfield recovery)."""

    def report(self) -> MethodReport: ...


@dataclass(frozen=True)
class MethodSpec:
    """A registry entry: how to build a method from a config, its settings, and where it can run.

    `settings` is the frozen dataclass of the method's own section of the config (`ewc: {...}`);
    it checks its own values. `check` refuses combinations with other sections (ConfigError).
    """

    build: Callable[["MethodConfig"], Method]  # config -> method
    description: str
    scenarios: frozenset[str]
    settings: type
    check: Callable[["MethodConfig"], None] = lambda config: None  # raise ConfigError on bad combinations
    # Refuses a task sequence the configured method cannot learn (ConfigError), before any training.
    check_tasks: Callable[["MethodConfig", list[Task]], None] = lambda config, tasks: None
    # When set, the runner builds the method with this instead, from the whole task sequence:
    # SupSup's two-pass transfer trains a reference run on every task before the real one starts.
    build_for_tasks: Callable[["MethodConfig", list[Task], bool], Method] | None = None  # (config, tasks, progress)
    # Bits per network weight that each task adds to the method's memory under a config (SupSup: 1 for
    # a finished task's packed mask, 32 where float scores are kept): the runner's memory estimate.
    task_bits: Callable[["MethodConfig"], int] = lambda config: 0
    # Keeps every task's training images as float32 (joint training on the union of the tasks): the
    # runner's memory estimate counts them, since tasks themselves compute their images per batch.
    keeps_task_images: bool = False
    # Where its tasks can be learned apart, each by a fresh copy built from the config (its method follows
    # `LearnsTasksApart`; `run.parallel_tasks`): why a config's tasks still depend on each other (one line with
    # the fix), or None where they do not. None here: the method learns each task on top of the earlier ones.
    tasks_apart: Callable[["MethodConfig"], str | None] | None = None
    # Learns one binary mask per task (its method follows `Masked`): the mask-overlap analysis (`run.overlap`)
    # and the mask rule (`model.mask_rule`) apply to it; the config reads this before any method is built.
    masks: bool = False
    # Under its settings (its config section), whether all its tasks start from one shared initial score: the
    # chance of the overlap of learned changes is then stratified by that score, which a run's identity records.
    shared_initial_scores: Callable[[Any], bool] = lambda settings: False
    # Trains a user's own network (`model.arch` an import path or a network given to `runner.run`, `models.user`):
    # SupSup masks the network as it is; a dense baseline trains its dense twin, whose output is one head shared by
    # every task (`models.user_dense`, `_dense.build_network`).
    own_network: bool = False
    # Where `own_network` is False, why (a clause for the error that refuses a config asking for it).
    own_network_refusal: str = "it builds a network of a registered architecture"
