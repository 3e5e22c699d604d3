"""The task loop of one method: task after task, evaluated as the scenario asks, saved so that it can resume.

Building (`build`), evaluating (`evaluate`), tables (`tables`) and the NNs stream (`stream`) live
beside this module; what is left here is the order of things for one (benchmark, method) and
what is saved after each task so that an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import logging
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import ContextManager

import numpy as np
import pandas as pd

from supermasks.config import ExperimentConfig
from supermasks.data import Task, task_relatedness
from supermasks.loggers import Logger
from supermasks.methods import (KnowsInitialMasks, LearnsTasksApart, Masked, Method, Reports, SharesInitialScores,
                                StoresForLaterTasks)
from supermasks.runner import tables
from supermasks.runner.build import build_method
from supermasks.runner.evaluate import Evaluation, Results, check_sample, evaluation_for
from supermasks.runner.parallel import Cores, Learner, sequential
from supermasks.runner.stream import run_stream_method
from supermasks.runner.tables import MethodResult
from supermasks.scenarios import INFERRED, scenario_of_stream
from supermasks.store.checkpoints import (CheckpointWarning, clear_state_checkpoints, load_latest_state,
                                          save_state_checkpoint)
from supermasks.store.files import write_csv, write_json
from supermasks.models.mask_files import save_task_checkpoint, task_file_problem
from supermasks.training import Probe

log = logging.getLogger(__name__)


class TrainingDiverged(FloatingPointError):
    """A non-finite loss stopped training; the message names the task and step."""


@dataclass
class Progress:
    """Everything a method's run has produced so far besides the method itself (saved with its state)."""

    results: Results
    rows: list[dict] = field(default_factory=list)  # tasks.csv
    curve: list[dict] = field(default_factory=list)  # curves.csv: accuracy during training
    memory_before: int = 0

    def to_json(self) -> dict:
        return {**self.results.to_json(), "rows": self.rows, "curve": self.curve, "memory_before": self.memory_before}


def run_method(config: ExperimentConfig, benchmark: str, method_name: str, tasks: list[Task], directory: Path, *,
               progress: bool = True, resume: bool = True, cores: Cores | None = None,
               loggers: Logger | None = None) -> MethodResult:
    """Train one method on the task sequence, filling R after each task, then analyse what it learned.

    `cores` (`parallel.run_cores`) says where tasks that can train apart do so; None: in this process.
    `loggers` (`supermasks.loggers`), where given, receive each task's losses and R's row after it.

    After every task the method's state and the results so far are saved under `state/`; with
    `resume`, a directory holding such a checkpoint continues after its last finished task, and
    the results equal those of an uninterrupted run.
    """
    sample = config.run.eval_sample  # refused under nns by `validate`
    check_sample(tasks, sample)
    method = build_method(config, method_name, tasks, progress=progress)
    if isinstance(method, StoresForLaterTasks):  # nothing stored for the last task: no task follows it
        method.expect_tasks(len(tasks))
    if scenario_of_stream(config.scenario.name):
        result = run_stream_method(config, benchmark, method_name, method, tasks, directory, progress=progress,
                                   resume=resume)
        if loggers is not None:  # the stream's R is known only at its end
            for task_id, row in enumerate(result.accuracy):
                loggers.log_accuracy(f"{benchmark}/{method_name}", task_id, row.tolist())
        return result
    evaluation = evaluation_for(config.scenario.name, batch_size=config.run.eval_batch_size,
                                inference_batch_size=config.scenario.inference_batch_size, num_tasks=len(tasks),
                                sample=sample, seed=config.seed)
    label = f"{benchmark}/{method_name}"
    done = _resume(directory / "state", method, tasks, label) if resume else None
    if done is not None and isinstance(method, Masked):
        _repair_task_files(directory / "checkpoints", method, done[1])
    if done is None:
        if resume and directory.exists():  # a run that did not finish, but nothing to go on from
            log.info("  %s: starting afresh: no usable checkpoint in %s", label, directory / "state")
        clear_state_checkpoints(directory / "state")  # a fresh start must not resume from them later
        evaluation.untrained(method, tasks)
        done = Progress(evaluation.results, memory_before=method.memory_bytes()), 0
    state, first = done
    evaluation.results = state.results
    with _learner(cores, config, benchmark, method, tasks[first:]) as learn:
        for task in tasks[first:]:
            _learn_task(config, method, task, tasks, evaluation, state, directory, label, progress, learn, loggers)
    return _finish(config, benchmark, method, tasks, state, directory)


def _learner(cores: Cores | None, config: ExperimentConfig, benchmark: str, method: Method,
             tasks: list[Task]) -> ContextManager[Learner]:
    """How the loop learns each task: `method.learn`, or, where `cores` plans it, SupSup's tasks apart (in worker
    processes or as Ray tasks)."""
    if cores is not None and cores.plan.backend != "sequence" and isinstance(method, LearnsTasksApart):
        from supermasks.runner.parallel import parallel_learner

        return parallel_learner(cores, config, benchmark, method, tasks)
    return nullcontext(sequential(method))


def _resume(state_dir: Path, method: Method, tasks: list[Task], label: str) -> tuple[Progress, int] | None:
    """The progress saved with the newest good checkpoint (restored into `method`) and the first task to learn."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CheckpointWarning)  # the same lines come back in point.warnings, logged below
        point = load_latest_state(state_dir, method, tasks=tasks)
    if point is None:
        return None
    for line in point.warnings:
        log.warning("  warning: %s", line)
    saved = point.extra
    log.info("  %s: resuming after task %d from %s", label, point.task_id, point.path.name)
    return Progress(Results.from_json(saved), saved["rows"], saved["curve"], saved["memory_before"]), point.task_id + 1


def _repair_task_files(folder: Path, method: Masked, finished: int) -> None:
    """Check the mask file of every finished task; write a missing or damaged one again from the restored method.

    A finished task's mask and statistics no longer change, so the restored state holds them as
    they were when the file was first written.
    """
    for task_id in range(finished):
        path = folder / _task_file(task_id)
        problem = task_file_problem(path)
        if problem is not None:
            save_task_checkpoint(path, method.model, task_id)
            log.warning("  warning: %s; wrote it again from the restored state", problem)


def _task_file(task_id: int) -> str:
    return f"task_{task_id:03d}.safetensors"


def _learn_task(config: ExperimentConfig, method: Method, task: Task, tasks: list[Task], evaluation: Evaluation,
                state: Progress, directory: Path, label: str, progress: bool, learn: Learner,
                loggers: Logger | None = None) -> None:
    """Learn one task (with `learn`), evaluate, save everything a resumed run needs, and tell the `loggers`."""
    method.begin_task(task)
    # What the method holds while this task trains: its state for the task plus all it kept from earlier
    # ones, at both ends of learning (float scores are dropped at the end; data, samples, Fisher terms added).
    begun_bytes = method.memory_bytes()
    evaluation.begun(method, task)
    probe = None
    if config.run.eval_every:
        def record(step: int, trained: int = task.task_id) -> None:
            state.curve.extend({"trained_task": trained, "step": step, "task": seen.task_id,
                                "accuracy": evaluation.accuracy(method, seen)} for seen in tasks[:trained + 1])
        probe = Probe(config.run.eval_every, record)
    start = time.perf_counter()
    try:
        fitted = learn(task, progress, probe)
    except FloatingPointError as exc:
        raise TrainingDiverged(f"{label} task {task.task_id} ({task.name}): {exc}. "
                               f"Results of tasks before it are kept in {directory}") from None
    seconds = time.perf_counter() - start
    kept_bytes = method.memory_bytes()
    evaluated = config.run.evaluate == "each" or task.task_id == len(tasks) - 1
    if evaluated:
        evaluation.after_task(method, task, tasks)
    checkpoint_bytes = None
    if isinstance(method, Masked):  # a masked network: keep the task's mask, compactly
        checkpoint_bytes = save_task_checkpoint(directory / "checkpoints" / _task_file(task.task_id),
                                                method.model, task.task_id)
    results = state.results
    state.rows.append({"task": task.task_id, "name": task.name, "accuracy": results.r[task.task_id, task.task_id],
                       "task_inference_accuracy": results.inference[task.task_id, task.task_id],
                       "untrained_accuracy": results.b[task.task_id], "steps": fitted.steps,
                       "final_loss": fitted.losses[-1] if fitted.losses else float("nan"),
                       "seconds": seconds, "train_seconds": fitted.seconds,
                       "samples_per_second": fitted.samples_per_second,
                       "training_memory_bytes": max(begun_bytes, kept_bytes), "memory_bytes": kept_bytes,
                       "checkpoint_bytes": checkpoint_bytes})
    if evaluated or not (directory / "accuracy.csv").is_file():
        tables.write_progress(directory, tasks, results.r, state.rows)
    else:  # R is as it was written (run.evaluate: last): rewriting its T x T cells each task costs O(T**3)
        write_csv(directory / "tasks.csv", pd.DataFrame(state.rows, columns=list(tables.TASK_COLUMNS)))
    if config.run.checkpoint_state:
        save_state_checkpoint(directory / "state", task.task_id, method, state.to_json(), tasks=tasks)
    if loggers is not None:  # steps counted over the tasks so far, also those before a resume
        loggers.log_losses(label, sum(row["steps"] for row in state.rows[:-1]), fitted.losses)
        loggers.log_accuracy(label, task.task_id, results.r[task.task_id].tolist())
    own = results.r[task.task_id, task.task_id]
    log.info("  %s task %d (%s): %s", label, task.task_id, task.name,
             f"accuracy {own:.2%} in {seconds:.1f} s" if np.isfinite(own) else f"trained in {seconds:.1f} s")


def _finish(config: ExperimentConfig, benchmark: str, method: Method, tasks: list[Task], state: Progress,
            directory: Path) -> MethodResult:
    """The run's tables, metrics.json, the method's own report and, for masks, the overlap study."""
    tables.write_progress(directory, tasks, state.results.r, state.rows)
    if state.curve:
        write_csv(directory / "curves.csv", pd.DataFrame(state.curve))
    summary = tables.method_summary(state.results, state.rows, state.memory_before, method.memory_bytes())
    if config.scenario.name in INFERRED:
        summary |= tables.write_inference_tables(directory, tasks, state.results)
        if config.run.figures:
            from supermasks.analysis.plots import confusion_heatmap, save_figure

            save_figure(confusion_heatmap(state.results.confusion, [str(t.task_id) for t in tasks],
                                          f"{benchmark}: inferred task of each test batch ({config.scenario.name})"),
                        directory / "figures", "task_confusion", config.run.figure_formats)
    summary["scenario"] = config.scenario.name
    if config.run.eval_sample is not None:  # ACC and the rest on a sample of N test images per task
        summary["eval_sample"] = config.run.eval_sample
    if isinstance(method, Reports):  # the method's own analysis (transfer alphas, Hopfield recovery)
        report = method.report()
        tables.write_report(directory, report)
        summary |= report.metrics
    write_json(directory / "metrics.json", summary)
    overlap = None
    if config.run.overlap and len(tasks) >= 2 and isinstance(method, Masked):
        from supermasks.runner.overlap import overlap_report

        initial = _initial_masks(method, tasks)
        # Under a shared init the learned-change chance is computed within strata of the shared scores.
        margins = method.initial_score_margins() if initial and isinstance(method, SharesInitialScores) else None
        overlap = overlap_report({t.task_id: method.masks(t.task_id) for t in tasks}, directory,
                                 initial=initial, initial_margins=margins, relatedness=task_relatedness(tasks),
                                 figures=config.run.figures, figure_formats=config.run.figure_formats, title=f"{benchmark} ({config.data.source})")
    return MethodResult(benchmark, method.name, directory, state.results.r, state.results.b, summary, overlap)




def _initial_masks(method: Method, tasks: list[Task]) -> dict[int, dict[str, np.ndarray]] | None:
    """Each task's mask before training, where the method recorded them; None otherwise.

    A run resumed from a checkpoint written before initial masks were recorded lacks them for its
    earlier tasks: then the learned-change analysis is left out, with a warning.
    """
    if not isinstance(method, KnowsInitialMasks):
        return None
    try:
        return {t.task_id: method.initial_masks(t.task_id) for t in tasks}
    except ValueError as exc:
        log.warning("  no learned-change analysis: %s", exc)
        return None
