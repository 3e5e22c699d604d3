"""Weights & Biases: one wandb run per start of a run, its files under `<run_dir>/wandb/`.

The mode is WANDB_MODE where set (`online` streams to the server), else `offline`: a run never waits on a
login or the network, and `wandb sync <run_dir>/wandb/offline-run-*` uploads it later. The settings are the
wandb run's config; each (benchmark, method) has its own x-axes, `<label>/step` for the loss and `<label>/task`
for R's rows; the final numbers go into the run's summary.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from supermasks.loggers.base import accuracy_tag, finite_cells, loss_tag, metric_tag

DEFAULT_MODE = "offline"


class WandbLogger:
    """A `Logger` sending to the wandb run `run` (what `wandb.init` returned)."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self._labels: set[str] = set()

    def start(self, settings: Mapping[str, Any]) -> None:
        self.run.config.update(dict(settings))

    def _axes(self, label: str) -> None:
        """Declare, once per label, which step metric each of its series is drawn against."""
        if label not in self._labels:
            self._labels.add(label)
            self.run.define_metric(loss_tag(label), step_metric=f"{label}/step")
            self.run.define_metric(f"{label}/accuracy/*", step_metric=f"{label}/task")

    def log_losses(self, label: str, first_step: int, losses: Sequence[float]) -> None:
        self._axes(label)
        tag = loss_tag(label)
        for i, value in enumerate(losses):
            self.run.log({tag: float(value), f"{label}/step": first_step + i})

    def log_accuracy(self, label: str, task_id: int, row: Sequence[float]) -> None:
        self._axes(label)
        self.run.log({accuracy_tag(label, j): value for j, value in finite_cells(row)} | {f"{label}/task": task_id})

    def log_metrics(self, label: str, metrics: Mapping[str, float]) -> None:
        self.run.summary.update({metric_tag(label, key): value for key, value in metrics.items()})

    def close(self) -> None:
        self.run.finish()


def open_logger(directory: Path, *, name: str) -> WandbLogger:
    """A wandb run in the project `name`, named after the run directory, writing under `directory`."""
    import wandb

    directory.mkdir(parents=True, exist_ok=True)
    run = wandb.init(project=name, name=directory.name, dir=str(directory),
                     mode=os.environ.get("WANDB_MODE") or DEFAULT_MODE)
    return WandbLogger(run)
