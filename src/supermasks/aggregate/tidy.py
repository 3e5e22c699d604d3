"""A finished run as tidy rows: one per (benchmark, method, task, metric), with its seed and settings.

Run-level metrics (metrics.json: ACC, BWT, FWT, forgetting, memory, time, task inference, ...)
have no task (`task` is missing); per-task metrics are read from the accuracy matrix R and the
per-task table: `final_accuracy` R[T-1, j], `accuracy_after_training` R[j, j],
`untrained_accuracy` b[j], and the per-task figures of tasks.csv (`TASK_METRICS`). The mask
overlap summary of Experiment 1, where there is one, adds `overlap.<layer>.<column>`.

Every row carries the run's settings as dotted keys (`training.lr`, `ewc.lambda`), taken from
its `config.yaml`: those of the run's shared sections and of the row's own method, without the
seed (a column of its own), the lists of methods and benchmarks (columns `method`,
`benchmark`), and the settings that change no number (`IGNORED_SETTINGS`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# Columns of the tidy table besides the settings, in this order.
KEY_COLUMNS = ("run_directory", "seed")
ROW_COLUMNS = ("benchmark", "method", "task", "metric", "value")
TASK_METRICS = ("task_inference_accuracy", "final_loss", "train_seconds", "samples_per_second", "memory_bytes")
# metrics.json entries that are settings or text, not measurements.
NOT_METRICS = frozenset({"definitions", "scenario", "eval_sample"})
# Settings that decide where or how output is written, never a number of the tables.
IGNORED_SETTINGS = frozenset({"run.out_dir", "run.checkpoint_state", "run.figures", "run.figure_format",
                              "run.report"})


def run_settings(config: Mapping[str, Any], method: str, methods: list[str]) -> dict[str, Any]:
    """The dotted settings of `config` (a run's config.yaml) that decide the numbers of `method`'s rows.

    Other methods' sections are left out: `ewc.lambda` does not distinguish two runs of `naive`; nor do the
    settings that count only for other methods (`run.overlap`, `model.mask_rule`).
    """
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if key in ("seed", "method") or (key in methods and key != method):
            continue
        _flatten(key, value, flat)
    flat.pop("data.benchmark", None)
    for key in IGNORED_SETTINGS:
        flat.pop(key, None)
    _drop_for_method(flat, method)
    return flat


def method_bound_settings() -> set[str]:
    """The shared settings that count only for some methods (declared to apply only with a method in `method`,
    `run.overlap`, `model.mask_rule`), and those that count only with one of them (`model.density`)."""
    from supermasks.config import conditions

    bound: set[str] = set()
    for key, condition, _ in conditions():  # a condition comes before what depends on it
        if condition == "method" or condition in bound:
            bound.add(key)
    return bound


def _drop_for_method(flat: dict[str, Any], method: str) -> None:
    """Leave out the settings that count only for other methods of the run (`model.mask_rule` in a naive row of a
    run that also runs SupSup), and those that count only with them (`model.density`), as other methods' sections."""
    from supermasks.config import conditions

    dropped: set[str] = set()
    for key, condition, rule in conditions():  # a condition comes before what depends on it
        if key not in flat:
            continue
        if condition == "method":
            counts = rule.applies([method])
        elif condition in dropped:
            counts = rule.applies(None)
        else:
            continue
        if not counts:
            del flat[key]
            dropped.add(key)


def flat_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """Every setting of `config` (a run's config.yaml) as a dotted key; lists as their text."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        _flatten(key, value, flat)
    return flat


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping) and value:
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}", inner, out)
    elif isinstance(value, Mapping):  # an empty section (`naive: {}`): nothing to distinguish
        return
    else:
        out[prefix] = str(value) if isinstance(value, (list, tuple)) else value


def _number(value: Any) -> float | None:
    """`value` as a float when it is a number (not a bool); None otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    return float(value)


def result_rows(benchmark: str, method: str, accuracy: np.ndarray, untrained: np.ndarray,
                metrics: Mapping[str, Any], per_task: pd.DataFrame | None,
                overlap: pd.DataFrame | None) -> list[dict[str, Any]]:
    """The tidy rows (`ROW_COLUMNS`) of one method on one benchmark."""
    rows = []

    def add(task: int | None, metric: str, value: float) -> None:
        rows.append({"benchmark": benchmark, "method": method, "task": task, "metric": metric, "value": value})

    for name, value in metrics.items():
        number = _number(value)
        if name not in NOT_METRICS and number is not None:
            add(None, name, number)
    if overlap is not None:
        for record in overlap.to_dict("records"):
            for column, value in record.items():
                number = _number(value)
                if column not in ("layer", "benchmark", "method") and number is not None:
                    add(None, f"overlap.{record['layer']}.{column}", number)
    r = np.asarray(accuracy, dtype=float)
    last = r.shape[0] - 1
    for task in range(r.shape[1]):
        add(task, "final_accuracy", float(r[last, task]))
        add(task, "accuracy_after_training", float(r[task, task]))
        add(task, "untrained_accuracy", float(untrained[task]))
    if per_task is not None:
        for record in per_task.to_dict("records"):
            for name in TASK_METRICS:
                number = _number(record.get(name))
                if number is not None and not math.isnan(number):
                    add(int(record["task"]), name, number)
    return rows


def read_run(directory: Path) -> tuple[int, list[dict[str, Any]]]:
    """(seed, rows) of the finished run in `directory`; each row with its settings and `ROW_COLUMNS`.

    The results are read by `stored_results`, which checks the checksums recorded when the run
    finished; a missing or changed file raises its StoredResultsError (a ConfigError) naming it,
    as does a config.yaml that this version cannot read.
    """
    from supermasks.config import ConfigError, from_stored, read_yaml, to_dict
    from supermasks.runner.experiment import stored_results

    try:
        config = from_stored(read_yaml(directory / "config.yaml"))
    except ConfigError as error:
        raise ConfigError(f"{directory / 'config.yaml'}: {error}") from None
    resolved = to_dict(config)  # every setting, defaults included, as the run used it
    rows = []
    for result in stored_results(config, directory):
        tasks_csv = result.directory / "tasks.csv"
        per_task = pd.read_csv(tasks_csv) if tasks_csv.is_file() else None
        settings = run_settings(resolved, result.method, list(config.method))
        for row in result_rows(result.benchmark, result.method, result.accuracy, result.untrained, result.metrics,
                               per_task, result.overlap_summary):
            rows.append({**settings, **row})
    return config.seed, rows
