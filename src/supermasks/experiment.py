"""Run one config: check it, build data, model and method, loop over tasks, evaluate, save."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from supermasks import metrics
from supermasks.analysis.study import overlap_report
from supermasks.checkpoints import save_task_checkpoint
from supermasks.config import ConfigError, ExperimentConfig, to_dict
from supermasks.data import Dataset, Task, list_benchmarks, list_sources, load_source, make_benchmark
from supermasks.methods import get_method, list_methods
from supermasks.models import MASK_RULES, ARCHITECTURES, build_model
from supermasks.runs import collect_meta, now, read_meta, run_directory, write_csv, write_json, write_yaml
from supermasks.training import OPTIMIZERS, accuracy

Log = Callable[[str], None]


@dataclass
class BenchmarkResult:
    """What one benchmark of a run produced."""

    benchmark: str
    directory: Path
    accuracy: np.ndarray  # R, (T, T), NaN for tasks not yet learned
    untrained: np.ndarray  # b, (T,)
    metrics: dict[str, float]
    overlap_summary: pd.DataFrame | None = None


@dataclass
class RunResult:
    directory: Path
    benchmarks: list[BenchmarkResult] = field(default_factory=list)
    skipped: bool = False  # True when the run had already finished and was not re-run


def validate(config: ExperimentConfig) -> None:
    """Check names, ranges and combinations before any work starts (one clear error)."""
    def one_of(key: str, value: str, valid) -> None:
        if value not in valid:
            raise ConfigError(f"{key}: unknown value {value!r}; choose one of {', '.join(valid)}")

    for name in config.benchmark:
        one_of("benchmark", name, list_benchmarks())
    if len(set(config.benchmark)) != len(config.benchmark):
        raise ConfigError(f"benchmark: {config.benchmark} names a benchmark twice")
    one_of("source", config.source, [s.name for s in list_sources()])
    one_of("method", config.method, list_methods())
    one_of("model", config.model, ARCHITECTURES)
    one_of("mask_rule", config.mask_rule, MASK_RULES)
    one_of("optimizer", config.optimizer, OPTIMIZERS)
    one_of("label_mode", config.label_mode, ("remap", "keep"))
    positive = {"num_tasks": config.num_tasks, "output_size": config.output_size, "lr": config.lr,
                "batch_size": config.batch_size, "steps_per_task": config.steps_per_task,
                "eval_batch_size": config.eval_batch_size}
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key} must be positive, got {value}")
    if config.classes_per_task < 2:
        raise ConfigError(f"classes_per_task must be at least 2, got {config.classes_per_task}")
    if not 0.0 < config.density <= 1.0:
        raise ConfigError(f"density must be in (0, 1], got {config.density}")
    if config.data_dir is not None and not Path(config.data_dir).is_dir():
        raise ConfigError(f"data_dir {config.data_dir} is not a directory")


def build_tasks(config: ExperimentConfig, benchmark: str, dataset: Dataset) -> list[Task]:
    tasks = make_benchmark(benchmark, dataset, num_tasks=config.num_tasks, seed=config.seed,
                           classes_per_task=config.classes_per_task, label_mode=config.label_mode)
    needed = max(t.num_classes for t in tasks)
    if config.output_size < needed:
        raise ConfigError(f"output_size {config.output_size} is smaller than the {needed} classes of {benchmark}")
    return tasks


def run_benchmark(config: ExperimentConfig, benchmark: str, tasks: list[Task], directory: Path, *,
                  progress: bool = True, log: Log = print) -> BenchmarkResult:
    """Train the method on the task sequence, filling R after each task, then analyse the masks."""
    torch.manual_seed(config.seed)
    model = build_model(config.model, output_size=config.output_size, rule=config.mask_rule,
                        density=config.density, batch_norm=config.batch_norm, seed=config.seed)
    method = get_method(config.method, model=model, optimizer=config.optimizer, lr=config.lr,
                        batch_size=config.batch_size, steps_per_task=config.steps_per_task, seed=config.seed)
    n = len(tasks)
    r = np.full((n, n), np.nan)
    b = np.full(n, np.nan)
    rows = []

    def acc(task: Task) -> float:
        return accuracy(lambda x: method.predict(x, task.task_id), task.x_test, task.y_test,
                        config.eval_batch_size)

    for task in tasks:
        method.begin_task(task)
        b[task.task_id] = acc(task)
        start = time.perf_counter()
        fitted = method.learn(task, progress=progress)
        seconds = time.perf_counter() - start
        for earlier in tasks[:task.task_id + 1]:
            r[task.task_id, earlier.task_id] = acc(earlier)
        size = save_task_checkpoint(directory / "checkpoints" / f"task_{task.task_id:03d}.safetensors",
                                    model, task.task_id)
        rows.append({"task": task.task_id, "name": task.name, "accuracy": r[task.task_id, task.task_id],
                     "untrained_accuracy": b[task.task_id], "steps": fitted.steps,
                     "final_loss": fitted.losses[-1] if fitted.losses else float("nan"),
                     "seconds": seconds, "samples_per_second": fitted.samples_per_second,
                     "bytes_per_task": method.bytes_per_task(), "checkpoint_bytes": size})
        log(f"  {benchmark} task {task.task_id} ({task.name}): accuracy {r[task.task_id, task.task_id]:.2%}"
            f" in {seconds:.1f} s")

    labels = [f"task_{t.task_id}" for t in tasks]
    write_csv(directory / "accuracy.csv", pd.DataFrame(r, columns=labels).assign(after=labels)
              .set_index("after").reset_index())
    write_csv(directory / "tasks.csv", pd.DataFrame(rows))
    # SupSup never evaluates a task before allocating it, so R's upper triangle is empty and FWT
    # cannot be computed from it; the untrained (random-mask) accuracies are saved in tasks.csv.
    scores = metrics.summarize(np.nan_to_num(np.tril(r)), None) if n else {}
    summary = {**scores, "definitions": {k: metrics.DEFINITIONS[k] for k in scores},
               "mean_seconds_per_task": float(np.mean([row["seconds"] for row in rows])),
               "bytes_per_task": method.bytes_per_task(),
               "mean_samples_per_second": float(np.mean([row["samples_per_second"] for row in rows]))}
    write_json(directory / "metrics.json", summary)

    overlap_summary = None
    if config.overlap and n >= 2:
        masks = {t.task_id: method.masks(t.task_id) for t in tasks}
        overlap_summary = overlap_report(masks, directory, figures=config.figures,
                                         title=f"{benchmark} ({config.source})")
    return BenchmarkResult(benchmark, directory, r, b, scores, overlap_summary)


def run(config: ExperimentConfig, *, force: bool = False, progress: bool = True,
        log: Log = print) -> RunResult:
    """Run every benchmark of `config` into its run directory; skip a finished run unless `force`."""
    validate(config)
    directory = run_directory(config)
    meta = read_meta(directory)
    if meta and meta.get("status") == "finished" and not force:
        log(f"{directory} has already finished; pass --force to run it again")
        return RunResult(directory, skipped=True)
    dataset = load_source(config.source, Path(config.data_dir) if config.data_dir else None)
    all_tasks = {name: build_tasks(config, name, dataset) for name in config.benchmark}

    write_yaml(directory / "config.yaml", to_dict(config))
    meta = collect_meta(config) | {"source": dataset.name, "source_is_subset": dataset.is_subset,
                                   "source_description": dataset.description}
    write_json(directory / "meta.json", meta)
    result = RunResult(directory)
    for name, tasks in all_tasks.items():
        log(f"{name}: {len(tasks)} tasks from {dataset.description}, method {config.method}")
        result.benchmarks.append(run_benchmark(config, name, tasks, directory / name,
                                               progress=progress, log=log))
    frames = [br.overlap_summary.assign(benchmark=br.benchmark) for br in result.benchmarks
              if br.overlap_summary is not None]
    if frames:
        write_csv(directory / "overlap_summary.csv", pd.concat(frames, ignore_index=True))
    write_json(directory / "meta.json", meta | {"status": "finished", "finished": now()})
    return result
