"""The `Logger` Protocol every backend follows, the tags they share, and `Broadcast`, which sends to several.

The runner hands a logger plain values only: the resolved settings (the dict config.yaml holds), the loss of
each training step, R's row after each task, and the numbers of metrics.json. A `label` names one
(benchmark, method) of the run, `<benchmark>/<method>`; every tag starts with it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Logger(Protocol):
    """One backend, open for one run directory."""

    def start(self, settings: Mapping[str, Any]) -> None:
        """The run's resolved settings (nested, as config.yaml holds them), once, before any training."""

    def log_losses(self, label: str, first_step: int, losses: Sequence[float]) -> None:
        """The training loss of each step of one task; `losses[i]` is step `first_step + i`, counted over every
        task of `label` (a resumed run goes on from the steps of the tasks it had finished)."""

    def log_accuracy(self, label: str, task_id: int, row: Sequence[float]) -> None:
        """R's row after learning task `task_id`: the test accuracy on each task (NaN where not evaluated)."""

    def log_metrics(self, label: str, metrics: Mapping[str, float]) -> None:
        """The final numbers of `label`, as metrics.json holds them (finite numbers only: `numeric_metrics`)."""

    def close(self) -> None:
        """Write out everything held back; called once, also when the run stops with an error."""


def loss_tag(label: str) -> str:
    return f"{label}/loss"


def accuracy_tag(label: str, task_id: int) -> str:
    return f"{label}/accuracy/task_{task_id}"


def metric_tag(label: str, key: str) -> str:
    return f"{label}/metrics/{key}"


def finite_cells(row: Sequence[float]) -> list[tuple[int, float]]:
    """(task, accuracy) for each evaluated cell of R's row (NaN cells were not evaluated)."""
    return [(j, float(value)) for j, value in enumerate(row) if math.isfinite(value)]


def numeric_metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers of a metrics.json dict (words, booleans, lists and NaN left out), as floats."""
    return {key: float(value) for key, value in summary.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}


def flat_settings(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as one level of dotted keys (`training.lr`), the form of an override."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, Mapping):
            out |= flat_settings(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


class Broadcast:
    """Several loggers as one: each call goes to every logger in turn; `close` closes them all."""

    def __init__(self, loggers: Sequence[Logger]) -> None:
        self.loggers = list(loggers)

    def start(self, settings: Mapping[str, Any]) -> None:
        for logger in self.loggers:
            logger.start(settings)

    def log_losses(self, label: str, first_step: int, losses: Sequence[float]) -> None:
        for logger in self.loggers:
            logger.log_losses(label, first_step, losses)

    def log_accuracy(self, label: str, task_id: int, row: Sequence[float]) -> None:
        for logger in self.loggers:
            logger.log_accuracy(label, task_id, row)

    def log_metrics(self, label: str, metrics: Mapping[str, float]) -> None:
        for logger in self.loggers:
            logger.log_metrics(label, metrics)

    def close(self) -> None:
        errors = []
        for logger in self.loggers:  # every one is closed, even after one fails
            try:
                logger.close()
            except Exception as exc:  # noqa: BLE001 (raised again below, after the others are closed)
                errors.append(exc)
        if errors:
            raise errors[0]
