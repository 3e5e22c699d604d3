"""TensorBoard: event files under `<run_dir>/tensorboard/`, one scalar series per tag, the settings as text.

Written with `torch.utils.tensorboard` where the `tensorboard` package is installed, else with `tensorboardX`.
TensorBoard keeps scalars as 32-bit floats. See it with `tensorboard --logdir <run_dir>/tensorboard`.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from supermasks.loggers.base import accuracy_tag, finite_cells, loss_tag, metric_tag

FOLDER = "tensorboard"


def _summary_writer() -> type:
    if importlib.util.find_spec("tensorboard") is not None:
        from torch.utils.tensorboard import SummaryWriter
    else:
        from tensorboardX import SummaryWriter
    return SummaryWriter


class TensorBoardLogger:
    """A `Logger` writing TensorBoard event files into `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.writer = _summary_writer()(log_dir=str(directory))

    def start(self, settings: Mapping[str, Any]) -> None:
        # Markdown: a code block keeps the JSON's indentation in TensorBoard's text tab.
        text = "```\n" + json.dumps(settings, indent=2, default=str) + "\n```"
        self.writer.add_text("settings", text, global_step=0)

    def log_losses(self, label: str, first_step: int, losses: Sequence[float]) -> None:
        tag = loss_tag(label)
        for i, value in enumerate(losses):
            self.writer.add_scalar(tag, value, global_step=first_step + i)

    def log_accuracy(self, label: str, task_id: int, row: Sequence[float]) -> None:
        for j, value in finite_cells(row):
            self.writer.add_scalar(accuracy_tag(label, j), value, global_step=task_id)
        self.writer.flush()  # once per task, so a dashboard open on the run sees each task as it ends

    def log_metrics(self, label: str, metrics: Mapping[str, float]) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(metric_tag(label, key), value, global_step=0)

    def close(self) -> None:
        self.writer.close()


def open_logger(directory: Path, *, name: str) -> TensorBoardLogger:
    """TensorBoard for the run directory `directory` (the run's `name` is the directory's own)."""
    return TensorBoardLogger(directory / FOLDER)
