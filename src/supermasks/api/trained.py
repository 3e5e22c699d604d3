"""A finished run loaded back as a model ready to predict: `load(run_dir)`.

The method is built from the run's stored config and its newest training state (`state/`, written after every
task with `run.checkpoint_state`, the default) is restored into it, so it predicts exactly as the run evaluated.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from supermasks.config import ExperimentConfig, from_stored, read_yaml, updated
from supermasks.config.records import run_directory
from supermasks.errors import ConfigError
from supermasks.methods import InfersTasks, Method, method_spec
from supermasks.store.checkpoints import CheckpointWarning, load_latest_state
from supermasks.training import predict as predict_classes

CONFIG_FILE = "config.yaml"


@dataclass
class Trained:
    """One method of a finished run, with the state it had after its last task.

    `predict(x, task_id=t)` gives task t's predicted classes for the inputs `x` (a batch shaped as the run's
    images); `task_id=None` infers the task from `x` first (a method that can: SupSup), or uses the shared head of
    a scenario without task ids. `logits` gives the outputs themselves.
    """

    method: Method
    config: ExperimentConfig
    benchmark: str
    directory: Path  # the run directory
    tasks_learned: int

    @property
    def name(self) -> str:
        return self.method.name

    def infer_task(self, x: torch.Tensor) -> int:
        """The task the batch `x` belongs to, as the method infers it (ConfigError for a method that cannot)."""
        if not isinstance(self.method, InfersTasks):
            raise ConfigError(f"method {self.name} cannot infer a task from its inputs: give task_id")
        with torch.no_grad():
            return int(self.method.infer_task(x))

    def _task(self, x: torch.Tensor, task_id: int | None) -> int | None:
        if task_id is not None:
            if not 0 <= task_id < self.tasks_learned:
                raise ConfigError(f"task_id {task_id}: this run learned tasks 0 to {self.tasks_learned - 1}")
            return task_id
        if self.method.can_predict(None):  # one shared head: no task id needed
            return None
        return self.infer_task(x)

    def logits(self, x: torch.Tensor, task_id: int | None = None) -> torch.Tensor:
        """The outputs for the batch `x` under task `task_id` (None: inferred from `x`, or the shared head)."""
        task = self._task(x, task_id)
        with torch.no_grad():
            return self.method.predict(x, task)

    def predict(self, x: torch.Tensor, task_id: int | None = None, *, batch_size: int = 1024) -> torch.Tensor:
        """Predicted class ids for `x` under task `task_id` (None: inferred from the whole of `x`, or the shared
        head), in batches of `batch_size`."""
        task = self._task(x, task_id)
        return predict_classes(lambda batch: self.method.predict(batch, task), x, batch_size)


def load(run_dir: Path | str, *, method: str | None = None, benchmark: str | None = None,
         device: str = "cpu") -> Trained:
    """The trained `method` of `benchmark` in the run directory `run_dir` (either may be left out where the run has
    one), on `device`. ConfigError when the directory is not a run directory, names no such method or benchmark,
    or kept no training state (`run.checkpoint_state=false`)."""
    directory = Path(run_dir)
    if not (directory / CONFIG_FILE).is_file():
        raise ConfigError(f"{directory} is not a run directory (no {CONFIG_FILE}): give the directory `supermasks "
                          f"run` printed, such as runs/supsup-1a2b3c4d")
    config = updated(from_stored(read_yaml(directory / CONFIG_FILE)), {"run.device": device})
    benchmark = _choose("benchmark", benchmark, list(config.data.benchmark), directory)
    name = _choose("method", method, list(config.method), directory)
    built = method_spec(name).build(config)
    state_dir = directory / benchmark / name / "state"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CheckpointWarning)
        point = load_latest_state(state_dir, built, global_rng=False)
    if point is None:
        raise ConfigError(f"{state_dir}: no training state was kept (run.checkpoint_state=false), so the trained "
                          f"{name} cannot be loaded; run it again with run.checkpoint_state=true")
    if run_directory(config).name != directory.name:
        warnings.warn(f"{directory.name} is not the name its config hashes to ({run_directory(config).name}): "
                      "it was renamed or written by another version", stacklevel=2)
    return Trained(built, config, benchmark, directory, point.task_id + 1)


def _choose(what: str, given: str | None, choices: list[str], directory: Path) -> str:
    if given is None:
        if len(choices) != 1:
            raise ConfigError(f"{directory} holds {what}s {', '.join(choices)}: give {what}=... to choose one")
        return choices[0]
    if given not in choices:
        raise ConfigError(f"{what} {given!r} is not in {directory}; it holds {', '.join(choices)}")
    return given


__all__ = ["Trained", "load"]
