"""A user's own tasks: `tasks_from` checks train and test sets and makes the library's `Task`s of them; a config
names such tasks by an import path or as given in memory.

`data.source` names them in one of two ways besides the registered sources (with `data.benchmark: own`):
- an import path `package.module:function`: the function (imported once) returns a list of `Task`s, or a pair
  `(train_sets, test_sets)` that `tasks_from` takes;
- `<given tasks FINGERPRINT>`: tasks handed to `runner.run(config, tasks=...)`, held in this process by their
  fingerprint (`give_tasks`), which is what the run's hash sees.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset as TorchDataset

from supermasks.errors import ConfigError, DataError
from supermasks.imports import is_import_path, load_target

from .task import Task

OWN_BENCHMARK = "own"  # the data.benchmark of a user's own tasks: they are used as they are given
_GIVEN_NAME = re.compile(r"<given tasks ([0-9a-f]{16})>")
_GIVEN: dict[str, list[Task]] = {}  # `<given tasks FP>` -> the tasks, for the runs of this process
_LOADED: dict[str, list[Task]] = {}  # import path -> the tasks its function gave


@dataclass(frozen=True)
class OwnTasks:
    """A user's tasks as a run's source: what a run records of its source, and the tasks themselves."""

    name: str
    tasks: list[Task]
    is_subset: bool = False

    @property
    def description(self) -> str:
        return f"{len(self.tasks)} tasks of the user's own data ({self.name})"


def tasks_from(train_sets: Sequence[Any], test_sets: Sequence[Any], *, num_classes: int | None = None) -> list[Task]:
    """One `Task` per entry of `train_sets` and `test_sets` (the same number of each): an `(x, y)` pair of tensors
    or a `torch.utils.data.Dataset` whose items are `(x, y)` pairs.

    Inputs must be floating point (they become float32) and of one shape in every set; labels integers in
    `[0, num_classes)` (None: up to the largest label found). ConfigError or DataError, saying which task and set,
    for anything else.
    """
    if isinstance(train_sets, (torch.Tensor, TorchDataset)) or not isinstance(train_sets, Sequence):
        raise ConfigError("train_sets must be a list with one entry per task (an (x, y) pair or a Dataset)")
    if isinstance(test_sets, (torch.Tensor, TorchDataset)) or not isinstance(test_sets, Sequence):
        raise ConfigError("test_sets must be a list with one entry per task (an (x, y) pair or a Dataset)")
    if len(train_sets) != len(test_sets):
        raise ConfigError(f"{len(train_sets)} training sets but {len(test_sets)} test sets: give one of each per task")
    if not train_sets:
        raise ConfigError("no task given: train_sets and test_sets are empty")
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)
                                    or num_classes < 1):
        raise ConfigError(f"num_classes must be a positive int, got {num_classes!r}")
    pairs = [(_pair(train, f"task {i}'s training set"), _pair(test, f"task {i}'s test set"))
             for i, (train, test) in enumerate(zip(train_sets, test_sets))]
    shape = tuple(pairs[0][0][0].shape[1:])
    for i, sets in enumerate(pairs):
        for (x, _), split in zip(sets, ("training", "test")):
            if tuple(x.shape[1:]) != shape:
                raise DataError(f"task {i}'s {split} inputs are of shape {tuple(x.shape[1:])}, task 0's training "
                                f"inputs of {shape}: every input must have one shape")
    largest = max(int(y.max()) for sets in pairs for _, y in sets)
    width = largest + 1 if num_classes is None else num_classes
    for i, sets in enumerate(pairs):
        for (_, y), split in zip(sets, ("training", "test")):
            low, high = int(y.min()), int(y.max())
            if low < 0 or high >= width:
                raise DataError(f"task {i}'s {split} labels run from {low} to {high}, outside [0, {width}) "
                                f"(num_classes={width}): labels must be class indices 0..{width - 1}")
    return [Task(i, f"task-{i}", x_train, y_train, x_test, y_test,
                 classes=tuple(int(c) for c in torch.unique(torch.cat([y_train, y_test]))), num_classes=width)
            for i, ((x_train, y_train), (x_test, y_test)) in enumerate(pairs)]


def _pair(entry: Any, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(x float32, y int64) of one set, checked."""
    if isinstance(entry, (tuple, list)) and len(entry) == 2 and all(isinstance(t, torch.Tensor) for t in entry):
        x, y = entry
    elif isinstance(entry, TorchDataset):
        x, y = _stacked(entry, what)
    else:
        raise ConfigError(f"{what} is a {type(entry).__name__}: give an (x, y) pair of tensors or a "
                          "torch.utils.data.Dataset of (x, y) items")
    if x.dim() < 2:
        raise DataError(f"{what}: inputs of shape {tuple(x.shape)}; give them as (N, ...) with one row per example")
    if not x.is_floating_point():
        raise DataError(f"{what}: inputs are {x.dtype}, not floating point: convert them (images: x.float() / 255)")
    if y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
        raise DataError(f"{what}: labels are {y.dtype}; they must be integer class indices (y.long())")
    if y.dim() != 1 or len(y) != len(x):
        raise DataError(f"{what}: {len(x)} inputs but labels of shape {tuple(y.shape)}; give one label per input")
    if len(x) == 0:
        raise DataError(f"{what} is empty")
    x = x.detach().to(torch.float32).contiguous()
    if not torch.isfinite(x).all():
        raise DataError(f"{what}: inputs hold NaN or infinite values")
    return x, y.detach().to(torch.int64).contiguous()


def _stacked(dataset: TorchDataset, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        size = len(dataset)  # type: ignore[arg-type]
    except TypeError:
        raise ConfigError(f"{what}: the Dataset has no length (an IterableDataset?): give a map-style Dataset or "
                          "an (x, y) pair of tensors") from None
    xs, ys = [], []
    for index in range(size):
        item = dataset[index]
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise DataError(f"{what}: item {index} is a {type(item).__name__}, not an (x, y) pair")
        x, y = (torch.as_tensor(v) for v in item)
        if xs and x.shape != xs[0].shape:
            raise DataError(f"{what}: item {index} has inputs of shape {tuple(x.shape)}, item 0 of "
                            f"{tuple(xs[0].shape)}: every input must have one shape")
        if y.dim() != 0:
            raise DataError(f"{what}: item {index}'s label has shape {tuple(y.shape)}; give one int per item")
        xs.append(x)
        ys.append(y)
    if not xs:
        raise DataError(f"{what} is empty")
    return torch.stack(xs), torch.stack(ys)


def tasks_fingerprint(tasks: Sequence[Task]) -> str:
    """16 hex digits of SHA-256 over every task's name, classes and tensors (shapes, dtypes, values)."""
    digest = hashlib.sha256()
    for task in tasks:
        digest.update(f"{task.task_id}|{task.name}|{task.num_classes}|{task.classes}\n".encode())
        for tensor in (task.x_train, task.y_train, task.x_test, task.y_test):
            if not isinstance(tensor, torch.Tensor):
                raise ConfigError(f"task {task.task_id} ({task.name}) computes its images per batch: give its "
                                  "images as tensors (tasks_from)")
            value = tensor.detach().cpu().contiguous()
            digest.update(f"{value.dtype}|{tuple(value.shape)}\n".encode())
            digest.update(value.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def is_own_source(name: str | None) -> bool:
    """Whether `data.source` names a user's tasks: an import path, or tasks given in memory."""
    return isinstance(name, str) and (is_import_path(name) or _GIVEN_NAME.fullmatch(name) is not None)


def is_given_source(name: str | None) -> bool:
    """Whether `data.source` names tasks given in memory to `runner.run` (`give_tasks`)."""
    return isinstance(name, str) and _GIVEN_NAME.fullmatch(name) is not None


def give_tasks(tasks: Sequence[Task]) -> str:
    """Hold `tasks` for this process's runs and return the `data.source` that names them (with their fingerprint)."""
    tasks = _checked(tasks, "tasks")
    name = f"<given tasks {tasks_fingerprint(tasks)}>"
    _GIVEN.setdefault(name, tasks)
    return name


def _checked(tasks: Any, what: str) -> list[Task]:
    if (isinstance(tasks, (tuple, list)) and len(tasks) == 2
            and all(isinstance(sets, (tuple, list)) and not isinstance(sets, Task) for sets in tasks)
            and not any(isinstance(t, Task) for t in tasks)):
        return tasks_from(*tasks)
    if not isinstance(tasks, (tuple, list)) or not tasks or not all(isinstance(t, Task) for t in tasks):
        raise ConfigError(f"{what} must be a non-empty list of Tasks (supermasks.tasks_from) or a pair "
                          f"(train_sets, test_sets), got {type(tasks).__name__}")
    ids = [t.task_id for t in tasks]
    if ids != list(range(len(tasks))):
        raise ConfigError(f"{what}: task ids are {ids}; they must be 0, 1, ... in order")
    return list(tasks)


def own_tasks(name: str) -> list[Task]:
    """The tasks `data.source` names; ConfigError where they cannot be had."""
    if _GIVEN_NAME.fullmatch(name):
        if name not in _GIVEN:
            raise ConfigError(f"data.source {name} names tasks given to runner.run(config, tasks=...) in another "
                              "process: pass them again, or name them by an import path package.module:function")
        return _GIVEN[name]
    if name not in _LOADED:
        function = load_target(name, "data.source")
        try:
            value = function()
        except (ConfigError, DataError):
            raise
        except Exception as error:
            raise ConfigError(f"data.source {name}: calling it failed: {type(error).__name__}: {error}") from None
        _LOADED[name] = _checked(value, f"data.source {name} (what it returned)")
    return _LOADED[name]


def own_source(name: str, num_tasks: int) -> OwnTasks:
    """The first `num_tasks` tasks `data.source` names, as a run's source; ConfigError when it has fewer."""
    tasks = own_tasks(name)
    if num_tasks > len(tasks):
        raise ConfigError(f"data.num_tasks={num_tasks}, but data.source {name} gives {len(tasks)} tasks: set "
                          f"data.num_tasks={len(tasks)} or fewer")
    return OwnTasks(name, tasks[:num_tasks])


def own_source_fingerprint(name: str, num_tasks: int) -> str:
    """The fingerprint of the tasks a run of `data.source` `name` learns."""
    return tasks_fingerprint(own_source(name, num_tasks).tasks)


__all__ = ["OWN_BENCHMARK", "OwnTasks", "give_tasks", "is_given_source", "is_own_source", "own_source", "own_source_fingerprint",
           "own_tasks", "tasks_fingerprint", "tasks_from"]
