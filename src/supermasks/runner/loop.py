"""Run one config: build data and methods, loop over tasks, evaluate, save (checks live in `validation`)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from supermasks import metrics
from supermasks.analysis.curves import learning_curves
from supermasks.analysis.plots import confusion_heatmap, save_figure
from supermasks.studies.overlap import overlap_report
from supermasks.store.masks import save_task_checkpoint
from supermasks.config import ConfigError, ExperimentConfig, to_dict
from supermasks.data import Dataset, Task, load_source, make_benchmark
from supermasks.methods import Method, method_spec, supsup
from supermasks.store.checkpoints import (CheckpointWarning, ResumePoint, clear_state_checkpoints, load_latest_state,
                               save_state_checkpoint)
from supermasks.store.rundir import collect_meta, now, read_meta, run_directory
from supermasks.store.lock import run_lock
from supermasks.store.files import write_csv, write_json, write_yaml
from supermasks.inference import NNsLearner
from supermasks.scenarios import INFERRED, scenario_of_stream, task_id_at_test
from supermasks.runner.stream import run_stream
from supermasks.training import Probe, accuracy
from supermasks.runner.checks import check_free_space, validate

Log = Callable[[str], None]


@dataclass
class MethodResult:
    """What one method produced on one benchmark."""

    benchmark: str
    method: str
    directory: Path
    accuracy: np.ndarray  # R, (T, T); NaN where a task could not be evaluated yet
    untrained: np.ndarray  # b, (T,)
    metrics: dict[str, float]
    overlap_summary: pd.DataFrame | None = None


@dataclass
class RunResult:
    directory: Path
    results: list[MethodResult] = field(default_factory=list)
    skipped: bool = False  # True when the run had already finished and was not re-run

    def comparison(self) -> pd.DataFrame:
        """One row per (benchmark, method): the metrics table of `supermasks compare`."""
        return comparison_table(self.results)


COMPARISON_COLUMNS = ("ACC", "BWT", "FWT", "forgetting", "task_inference_accuracy", "inference_ms", "num_tasks_found",
                      "memory_per_task_bytes",
                      "memory_total_bytes", "seconds_per_task", "samples_per_second")


def comparison_table(results: list[MethodResult]) -> pd.DataFrame:
    rows = [{"benchmark": r.benchmark, "method": r.method, **{k: r.metrics.get(k, np.nan) for k in COMPARISON_COLUMNS}}
            for r in results]
    return pd.DataFrame(rows, columns=["benchmark", "method", *COMPARISON_COLUMNS])


def build_tasks(config: ExperimentConfig, benchmark: str, dataset: Dataset) -> list[Task]:
    second = None
    if benchmark == "pair":
        second = load_source(config.data.pair_source, None)
    tasks = make_benchmark(benchmark, dataset, num_tasks=config.data.num_tasks, seed=config.seed,
                           classes_per_task=config.data.classes_per_task, label_mode=config.data.label_mode, second=second,
                           rotation_step=config.data.rotation_step)
    needed = max(t.num_classes for t in tasks)
    if config.model.output_size < needed:
        raise ConfigError(f"output_size {config.model.output_size} is smaller than the {needed} classes of {benchmark}")
    if (config.scenario.name in INFERRED and "supsup" in config.method
            and config.settings("supsup").inference_objective == "G" and config.model.output_size <= needed):
        raise ConfigError(f"inference_objective G needs extra output neurons: output_size ({config.model.output_size}) "
                          f"must exceed the {needed} classes of {benchmark}")
    return tasks


def build_method(config: ExperimentConfig, method_name: str, tasks: list[Task], *, progress: bool = True,
                 log: Log = print) -> Method:
    """The method of `method_name` for `tasks`; SupSup's two-pass transfer first trains its reference run.

    Two-pass (the similarity study's protocol, ALGORITHMS.md section 3): a SupSup with random init
    learns every task first, and its per-task BN signatures guide the transfer of the real run.
    """
    if method_name == "supsup" and supsup.needs_reference(config):
        log(f"  two-pass transfer: training the reference run (random init) on all {len(tasks)} tasks first")
        reference = supsup.from_config(supsup.reference_config(config))
        for task in tasks:
            reference.begin_task(task)
            reference.learn(task, progress=progress)
        return supsup.from_config(config, reference_signatures=reference.signatures_)
    return method_spec(method_name).build(config)


def write_transfer_tables(method: object, directory: Path) -> None:
    """SupSup's transfer: the alphas each task started from and the similarities behind them, per layer."""
    alphas = getattr(method, "alphas_", None)
    if not alphas or not any(alphas):
        return
    rows = [{"task": t, "layer": layer, "source_task": s, "alpha": float(a)}
            for t, per_layer in enumerate(alphas) for layer, values in per_layer.items() for s, a in enumerate(values)]
    write_csv(directory / "alphas.csv", pd.DataFrame(rows))
    sims = [{"task": t, "layer": layer, "source_task": s, "similarity": float(v)}
            for t, per_layer in enumerate(getattr(method, "similarities_", [])) for layer, values in per_layer.items()
            for s, v in enumerate(values)]
    if sims:
        write_csv(directory / "transfer_similarity.csv", pd.DataFrame(sims))


def run_method(config: ExperimentConfig, benchmark: str, method_name: str, tasks: list[Task], directory: Path, *,
               progress: bool = True, log: Log = print, resume: bool = True) -> MethodResult:
    """Train one method on the task sequence, filling R after each task, then analyse what it learned.

    After every task the method's full state and the results so far are saved under `state/`
    (`supermasks.store.checkpoints`); with `resume`, a directory holding such a checkpoint continues after
    its last finished task, and the results equal those of an uninterrupted run.
    """
    method = build_method(config, method_name, tasks, progress=progress, log=log)
    if scenario_of_stream(config.scenario.name):
        return run_stream_method(config, benchmark, method_name, method, tasks, directory, progress=progress, log=log,
                                 resume=resume)
    # In GNs/GNu the task id is given while training, so b and the curves use it; R does not.
    inferred = config.scenario.name in INFERRED
    given = task_id_at_test(config.scenario.name) or inferred
    n = len(tasks)
    r = np.full((n, n), np.nan)
    b = np.full(n, np.nan)
    inference = np.full((n, n), np.nan)  # task-inference accuracy, GNs/GNu only
    confusion = np.zeros((n, n), dtype=np.int64)  # after the last task: true task x inferred task
    rows: list[dict] = []
    curve: list[dict] = []

    def test_id(task: Task) -> int | None:
        return task.task_id if given else None

    def acc(task: Task) -> float:
        return accuracy(lambda x: method.predict(x, test_id(task)), task.x_test, task.y_test, config.run.eval_batch_size)

    def evaluate(after: Task) -> None:
        """Fill row `after` of R (and of the task-inference matrix) for every task that can be evaluated."""
        for other in tasks:
            if inferred and other.task_id <= after.task_id:
                guesses: list[int] = []
                start = time.perf_counter()
                r[after.task_id, other.task_id], inference[after.task_id, other.task_id] = infer_and_classify(
                    method, other, config.scenario.inference_batch_size, unshared=config.scenario.name == "gnu", guesses=guesses)
                if after.task_id == n - 1:
                    np.add.at(confusion[other.task_id], guesses, 1)
                    inference_cost.append((time.perf_counter() - start, len(guesses)))
            elif not inferred and method.can_predict(test_id(other)):
                r[after.task_id, other.task_id] = acc(other)

    inference_cost: list[tuple[float, int]] = []  # after the last task: (seconds, inferences) per task
    state_dir = directory / "state"
    point = load_run_state(state_dir, method, tasks, log) if resume else None
    if point is None:
        clear_run_state(state_dir)
        # b: every task the untrained method can already evaluate; the rest right after begin_task.
        for task in tasks:
            if method.can_predict(test_id(task)):
                b[task.task_id] = acc(task)
        memory_before = method.memory_bytes()
        first = 0
    else:
        saved = point.extra
        r[:], b[:], inference[:] = (np.array(saved[k], dtype=float) for k in ("r", "b", "inference"))
        confusion[:] = np.array(saved["confusion"], dtype=np.int64)
        rows, curve, memory_before = saved["rows"], saved["curve"], saved["memory_before"]
        first = point.task_id + 1
        log(f"  {benchmark}/{method_name}: resuming after task {point.task_id} from {point.path.name}")
    for task in tasks[first:]:
        method.begin_task(task)
        if np.isnan(b[task.task_id]):
            b[task.task_id] = acc(task)
        probe = None
        if config.run.eval_every:
            def record(step: int, trained: int = task.task_id) -> None:
                for seen in tasks[:trained + 1]:
                    curve.append({"trained_task": trained, "step": step, "task": seen.task_id, "accuracy": acc(seen)})
            probe = Probe(config.run.eval_every, record)
        start = time.perf_counter()
        try:
            fitted = method.learn(task, progress=progress, probe=probe)
        except FloatingPointError as exc:
            raise TrainingDiverged(f"{benchmark}/{method_name} task {task.task_id} ({task.name}): {exc}. "
                                   f"Results of tasks before it are kept in {directory}") from None
        seconds = time.perf_counter() - start
        if config.run.evaluate == "each" or task.task_id == n - 1:
            evaluate(task)
        checkpoint_bytes = None
        if hasattr(method, "model") and hasattr(method, "masks"):  # a masked network: keep its masks
            checkpoint_bytes = save_task_checkpoint(directory / "checkpoints" / f"task_{task.task_id:03d}.safetensors",
                                                    method.model, task.task_id)
        rows.append({"task": task.task_id, "name": task.name, "accuracy": r[task.task_id, task.task_id],
                     "task_inference_accuracy": inference[task.task_id, task.task_id],
                     "untrained_accuracy": b[task.task_id], "steps": fitted.steps,
                     "final_loss": fitted.losses[-1] if fitted.losses else float("nan"),
                     "seconds": seconds, "train_seconds": fitted.seconds,
                     "samples_per_second": fitted.samples_per_second,
                     "memory_bytes": method.memory_bytes(), "checkpoint_bytes": checkpoint_bytes})
        write_progress(directory, tasks, r, rows)
        if config.run.checkpoint_state:
            save_state_checkpoint(state_dir, task.task_id, method, {
                "r": r.tolist(), "b": b.tolist(), "inference": inference.tolist(), "confusion": confusion.tolist(),
                "rows": rows, "curve": curve, "memory_before": memory_before}, tasks=tasks)
        own = r[task.task_id, task.task_id]
        log(f"  {benchmark}/{method_name} task {task.task_id} ({task.name}): "
            + (f"accuracy {own:.2%} in {seconds:.1f} s" if np.isfinite(own) else f"trained in {seconds:.1f} s"))

    labels = [f"task_{t.task_id}" for t in tasks]
    write_progress(directory, tasks, r, rows)
    if curve:
        write_csv(directory / "curves.csv", pd.DataFrame(curve))
    scores = metrics.summarize(r, b)
    if inferred:
        write_csv(directory / "task_inference.csv", pd.DataFrame(inference, columns=labels).assign(after=labels)
                  .set_index("after").reset_index())
        # After the last task: the fraction of test batches whose task was inferred correctly.
        scores["task_inference_accuracy"] = float(np.mean(inference[-1]))
        # Inference and classification of one test batch (or image), after the last task.
        seconds, count = map(sum, zip(*inference_cost)) if inference_cost else (np.nan, 1)
        scores["inference_ms"] = 1000 * seconds / count
        write_csv(directory / "task_confusion.csv", pd.DataFrame(confusion, columns=[f"inferred_{t}" for t in range(n)])
                  .assign(task=range(n)).set_index("task").reset_index())
        if config.run.figures:
            save_figure(confusion_heatmap(confusion, [str(t.task_id) for t in tasks],
                                          f"{benchmark}: inferred task of each test batch ({config.scenario.name})"),
                        directory / "figures", "task_confusion")
    memory_total = method.memory_bytes()
    # Growth per task after the first: the first task often reuses what the untrained method
    # already held (a dense net's first head), later ones show what each new task costs.
    start = rows[0]["memory_bytes"] if n > 1 else memory_before
    summary = {**scores, "definitions": dict(metrics.DEFINITIONS),
               "memory_total_bytes": memory_total,
               "memory_per_task_bytes": (memory_total - start) / max(n - 1, 1),
               "seconds_per_task": float(np.mean([row["train_seconds"] for row in rows])),
               "samples_per_second": float(np.mean([row["samples_per_second"] for row in rows])),
               "scenario": config.scenario.name}
    report = getattr(method, "write_report", None)
    if report is not None:  # a method's own analysis (HopSupSup: Hopfield recovery and storage)
        summary |= report(directory)
    write_json(directory / "metrics.json", summary)
    write_transfer_tables(method, directory)

    overlap_summary = None
    if config.run.overlap and n >= 2 and hasattr(method, "masks"):
        masks = {t.task_id: method.masks(t.task_id) for t in tasks}
        overlap_summary = overlap_report(masks, directory, figures=config.run.figures,
                                         title=f"{benchmark} ({config.data.source})")
    return MethodResult(benchmark, method_name, directory, r, b, summary, overlap_summary)


# tasks.csv, in this order (rows read back from a checkpoint's JSON have their keys sorted).
TASK_COLUMNS = ("task", "name", "accuracy", "task_inference_accuracy", "untrained_accuracy", "steps", "final_loss",
                "seconds", "train_seconds", "samples_per_second", "memory_bytes", "checkpoint_bytes")


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run: what finished is saved; the message says how to resume."""


class TrainingDiverged(FloatingPointError):
    """A non-finite loss stopped training; the message names the task and step."""


def write_progress(directory: Path, tasks: list[Task], r: np.ndarray, rows: list[dict]) -> None:
    """R and the per-task table as they stand: after every task, so a stopped run keeps what it finished."""
    labels = [f"task_{t.task_id}" for t in tasks]
    write_csv(directory / "accuracy.csv", pd.DataFrame(r, columns=labels).assign(after=labels)
              .set_index("after").reset_index())
    write_csv(directory / "tasks.csv", pd.DataFrame(rows, columns=list(TASK_COLUMNS)))


def load_run_state(state_dir: Path, method: Method, tasks: list[Task], log: Log) -> ResumePoint | None:
    """The newest good checkpoint restored into `method`, or None (no checkpoint); skipped files are reported."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CheckpointWarning)  # the same lines come back in point.warnings
        point = load_latest_state(state_dir, method, tasks=tasks)
    for line in point.warnings if point else []:
        log(f"  warning: {line}")
    return point


def clear_run_state(state_dir: Path) -> None:
    """Forget the checkpoints of an earlier attempt (a fresh start must not resume from them later)."""

    clear_state_checkpoints(state_dir)


def run_stream_method(config: ExperimentConfig, benchmark: str, method_name: str, method: Method,
                      tasks: list[Task], directory: Path, *, progress: bool, log: Log,
                      resume: bool = False) -> MethodResult:
    """NNs: the method's masked network learns one unsegmented stream and finds the tasks itself."""
    learner = NNsLearner(method.model, optimizer=config.training.optimizer, lr=config.training.lr,  # type: ignore[attr-defined]
                         check_every=config.scenario.nns.check_every, min_candidates=config.scenario.nns.candidates,
                         margin=config.scenario.nns.margin, warmup=config.scenario.nns.warmup, seed=config.seed)
    start = time.perf_counter()
    r, b, summary = run_stream(learner, tasks, directory, batch_size=config.training.batch_size,
                               steps_per_task=config.training.steps_per_task, eval_batch_size=config.scenario.inference_batch_size,
                               seed=config.seed, label=f"{benchmark}/{method_name}", progress=progress, log=log,
                               checkpoint=config.run.checkpoint_state, resume=resume)
    seconds = time.perf_counter() - start
    for mask in range(learner.num_tasks):
        save_task_checkpoint(directory / "checkpoints" / f"mask_{mask:03d}.safetensors", learner.model, mask)
    summary |= {"memory_total_bytes": method.memory_bytes(), "memory_per_task_bytes": method.bytes_per_task(),  # type: ignore[attr-defined]
                "seconds_per_task": seconds / len(tasks),
                "samples_per_second": len(tasks) * config.training.steps_per_task * config.training.batch_size / seconds,
                "scenario": config.scenario.name}
    write_json(directory / "metrics.json", summary)
    log(f"  {benchmark}/{method_name}: {summary['num_tasks_found']} task(s) found for {len(tasks)} true; "
        f"{summary['boundaries_detected']} of {len(tasks)} boundaries detected, {summary['false_alarms']} false alarm(s)")
    overlap_summary = None
    if config.run.overlap and learner.num_tasks >= 2:
        masks = {m: method.masks(m) for m in range(learner.num_tasks)}  # type: ignore[attr-defined]
        overlap_summary = overlap_report(masks, directory, figures=config.run.figures, title=f"{benchmark} ({config.data.source}, NNs masks)")
    return MethodResult(benchmark, method_name, directory, r, b, summary, overlap_summary)


def infer_and_classify(method: Method, task: Task, batch_size: int, *, unshared: bool,
                       guesses: list[int] | None = None) -> tuple[float, float]:
    """GNs/GNu evaluation of `task`: infer the task of each test batch, classify it with that mask.

    Returns (accuracy, task-inference accuracy over batches); each batch's inferred task is
    appended to `guesses` when given. With unshared labels (GNu) a batch whose task was inferred
    wrongly counts as all wrong, as in the SupSup paper.
    """
    correct, right_task, batches = 0, 0, 0
    per_image = None
    if batch_size == 1 and getattr(method, "task_inference", None) in ("oneshot", "signature"):
        # Single-image inference: every image's own gradient, computed for many images at once.
        per_image = torch.cat([method.infer_task_per_image(chunk) for chunk in task.x_test.split(256)]).tolist()
    for i in range(0, len(task.y_test), batch_size):
        xb, yb = task.x_test[i:i + batch_size], task.y_test[i:i + batch_size]
        guess = per_image[i] if per_image is not None else method.infer_task(xb)
        if guesses is not None:
            guesses.append(guess)
        hits = method.predict(xb, guess).argmax(dim=1) == yb
        if guess == task.task_id:
            right_task += 1
        elif unshared:
            hits = torch.zeros_like(hits)
        correct += int(hits.sum())
        batches += 1
    return correct / len(task.y_test), right_task / batches


def write_benchmark_summary(config: ExperimentConfig, benchmark: str, tasks: list[Task],
                            results: list[MethodResult], directory: Path) -> None:
    """Per benchmark: final accuracy of every method on every task, and the learning curves."""
    final = pd.DataFrame([{"method": r.method, **{t.name: r.accuracy[-1, t.task_id] for t in tasks},
                           "ACC": r.metrics["ACC"]} for r in results])
    write_csv(directory / "final_accuracy.csv", final)
    curves = {r.method: pd.read_csv(r.directory / "curves.csv") for r in results
              if (r.directory / "curves.csv").is_file()}
    if curves and config.run.figures:
        save_figure(learning_curves(curves, f"{benchmark} ({config.scenario.name}-incremental): accuracy during training"),
                    directory / "figures", "learning_curves")


def run(config: ExperimentConfig, *, force: bool = False, progress: bool = True, log: Log = print) -> RunResult:
    """Run every (benchmark, method) of `config` into its run directory; skip a finished run unless `force`."""
    validate(config)
    directory = run_directory(config)
    meta = read_meta(directory)
    if meta and meta.get("status") == "finished" and not force:
        log(f"{directory} has already finished; pass --force to run it again")
        return RunResult(directory, skipped=True)
    dataset = load_source(config.data.source, Path(config.data.data_dir) if config.data.data_dir else None)
    all_tasks = {name: build_tasks(config, name, dataset) for name in config.data.benchmark}

    check_free_space(config, directory)
    with run_lock(directory, log):
        return _run_locked(config, directory, read_meta(directory), all_tasks, dataset, force=force,
                           progress=progress, log=log)


def _run_locked(config: ExperimentConfig, directory: Path, meta: dict | None, all_tasks: dict[str, list[Task]],
                dataset: Dataset, *, force: bool, progress: bool, log: Log) -> RunResult:
    if meta and meta.get("status") == "finished" and not force:  # finished while this process waited
        log(f"{directory} has already finished; pass --force to run it again")
        return RunResult(directory, skipped=True)
    resume = not force and meta is not None and meta.get("status") in ("running", "interrupted")
    if resume:
        log(f"{directory} did not finish ({meta['status']}): resuming from its last finished task")
    write_yaml(directory / "config.yaml", to_dict(config))
    meta = collect_meta(config) | {"source": dataset.name, "source_is_subset": dataset.is_subset,
                                   "source_description": dataset.description, "status": "running"}
    write_json(directory / "meta.json", meta)
    result = RunResult(directory)
    try:
        for bench, tasks in all_tasks.items():
            per_bench = []
            for method_name in config.method:
                log(f"{bench}/{method_name}: {len(tasks)} tasks from {dataset.description}")
                per_bench.append(run_method(config, bench, method_name, tasks, directory / bench / method_name,
                                            progress=progress, log=log, resume=resume))
            write_benchmark_summary(config, bench, tasks, per_bench, directory / bench)
            result.results.extend(per_bench)
    except KeyboardInterrupt:
        write_json(directory / "meta.json", meta | {"status": "interrupted", "interrupted": now()})
        raise RunInterrupted(f"interrupted; every finished task is saved in {directory}. Run the same command "
                             f"again to resume after the last finished task") from None
    except FloatingPointError:
        write_json(directory / "meta.json", meta | {"status": "diverged", "stopped": now()})
        raise
    write_csv(directory / "comparison.csv", result.comparison())
    frames = [r.overlap_summary.assign(benchmark=r.benchmark, method=r.method) for r in result.results
              if r.overlap_summary is not None]
    if frames:
        write_csv(directory / "overlap_summary.csv", pd.concat(frames, ignore_index=True))
    write_json(directory / "meta.json", meta | {"status": "finished", "finished": now()})
    return result
