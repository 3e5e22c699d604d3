"""The NNs scenario: train on one unsegmented stream of batches, detect tasks, report against the truth.

Wortsman, Ramanujan et al., "Supermasks in Superposition" (NeurIPS 2020), section 3.4: neither task
ids nor task boundaries are given while training or testing. The runner concatenates every task's
`steps_per_task` training batches into one stream and hands it to `NNsLearner` without saying where
one task ends; the learner allocates a mask whenever its entropy test (docs/algorithms.md section 1.3) finds the
data new. Only the runner knows the true boundaries, which it uses to evaluate after each task's
part of the stream and to compare the boundaries the learner found with the true ones.

At test time the learner's own masks are the candidates: each test batch goes to the mask that
one-shot inference picks, and is classified by it. Labels are shared (as in GNs): a batch sent to
another mask still counts whatever it gets right. A mask "belongs" to the true task it trained on
for most of its batches; task-inference accuracy is the fraction of test batches whose chosen mask
belongs to the batch's own task.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from supermasks.analysis import metrics
from supermasks.data import Task
from supermasks.compute.devices import module_device, to_device
from supermasks.inference import MaskBank, NNsLearner, boundary_report, infer_task
from supermasks.methods import Masked
from supermasks.models import set_task
from supermasks.store.checkpoints import load_latest_state, save_state_checkpoint
from supermasks.runner.evaluate import evaluated_part
from supermasks.runner.tables import MethodResult
from supermasks.store.files import write_csv, write_json
from supermasks.models.mask_files import save_task_checkpoint
from supermasks.training import iterate_batches
from supermasks.seeds import streams

if TYPE_CHECKING:
    from supermasks.config import ExperimentConfig

log = logging.getLogger(__name__)


def task_stream(tasks: list[Task], batch_size: int, steps_per_task: int,
                generator: torch.Generator) -> tuple[list[list[tuple[torch.Tensor, torch.Tensor]]], list[int]]:
    """Each task's `steps_per_task` shuffled batches, in task order, and the true boundaries.

    Batches are drawn as every other training path draws them (`training.iterate_batches`): a
    task that declares `Task.augment` gets its batch of step s as `augment(x_train, idx, s)`.
    A boundary is the stream index of the first batch of a task (0 for the first).
    """
    parts = [list(iterate_batches(t.x_train, t.y_train, batch_size, steps_per_task, generator, t.augment))
             for t in tasks]
    boundaries = [i * steps_per_task for i in range(len(tasks))]
    return parts, boundaries


def mask_owners(trained: list[int], boundaries: list[int], num_masks: int) -> list[int]:
    """For each allocated mask, the true task whose part of the stream trained it most (-1: never trained).

    `trained[i]` is the mask batch `i` trained; `boundaries` are the true task starts (sorted).
    Ties go to the earlier task.
    """
    counts = np.zeros((num_masks, len(boundaries)), dtype=np.int64)
    true_task = np.searchsorted(np.asarray(boundaries), np.arange(len(trained)), side="right") - 1
    np.add.at(counts, (np.asarray(trained, dtype=np.int64), true_task), 1)
    return [int(row.argmax()) if row.sum() else -1 for row in counts]


def evaluate_stream_task(learner: NNsLearner, task: Task, batch_size: int, owners: list[int],
                         guesses: list[int] | None = None) -> tuple[float, float]:
    """Accuracy on `task` with each test batch sent to the mask one-shot inference picks.

    Returns (accuracy, task-inference accuracy: fraction of batches whose mask belongs to `task`).
    The chosen mask of each batch is appended to `guesses` when given.
    """
    model = learner.model
    device = module_device(model)
    bank = MaskBank.from_model(model, device=device)
    model.eval()
    correct, right, batches = 0, 0, 0
    for i in range(0, len(task.y_test), batch_size):
        xb, yb = to_device(task.x_test[i:i + batch_size], device), to_device(task.y_test[i:i + batch_size], device)
        with torch.enable_grad():
            guess = infer_task(model, bank, xb, "H") if bank.num_tasks > 1 else 0
        if guesses is not None:
            guesses.append(guess)
        set_task(model, guess)
        with torch.no_grad():
            correct += int((model(xb).argmax(dim=1) == yb).sum())
        right += int(owners[guess] == task.task_id)
        batches += 1
    return correct / len(task.y_test), right / batches


def run_stream(learner: NNsLearner, tasks: list[Task], directory: Path, *, batch_size: int, steps_per_task: int,
               eval_batch_size: int, seed: int, label: str, progress: bool = True,
               checkpoint: bool = True, resume: bool = False) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    """Train `learner` on the unsegmented stream of `tasks`, evaluate after each task's part, save the reports.

    Writes `boundaries.json` (found against true boundaries, see `boundary_report`), `checks.csv`
    (every detection test), `masks.csv` (the owner of each allocated mask), `task_inference.csv` and
    `task_confusion.csv` (true task x chosen mask, after the last task). Returns (R, b, summary).
    With `checkpoint`, the learner's state is saved under `state/` after each task's part of the
    stream; with `resume`, a saved state is restored and the stream goes on after that part.
    """
    n = len(tasks)
    parts, boundaries = task_stream(tasks, batch_size, steps_per_task, torch.Generator().manual_seed(streams(seed).stream_order))
    r = np.full((n, n), np.nan)
    inference = np.full((n, n), np.nan)
    b = np.full(n, np.nan)  # no mask exists before the stream starts: untrained accuracy is not defined
    confusion: dict[tuple[int, int], int] = {}
    found: list[tuple[int, int]] = []
    state_dir = directory / "state"
    first = 0
    point = load_latest_state(state_dir, learner) if resume else None
    if point is not None:
        r[:], inference[:] = np.array(point.extra["r"], dtype=float), np.array(point.extra["inference"], dtype=float)
        found = [(int(i), int(t)) for i, t in point.extra["found"]]
        confusion = {(int(t), int(g)): int(c) for t, g, c in point.extra["confusion"]}
        first = point.task_id + 1
        for line in point.warnings:
            log.warning("  warning: %s", line)
        log.info(f"  {label}: resuming the stream after task {point.task_id}'s part from {point.path.name}")
    elif resume and directory.exists():  # a run that did not finish, but nothing to go on from
        log.info(f"  {label}: starting afresh: no usable checkpoint in {state_dir}")
    bar = tqdm(total=n * steps_per_task, initial=first * steps_per_task, desc=f"{label} stream",
               disable=not progress, leave=False)
    for task, part in list(zip(tasks, parts))[first:]:
        for start in range(0, len(part), 50):  # pieces, so the bar moves; the learner sees one stream
            found += learner.learn_stream(part[start:start + 50])
            bar.update(len(part[start:start + 50]))
        owners = mask_owners(learner.trained_, boundaries[:task.task_id + 1], learner.num_tasks)
        for other in tasks[:task.task_id + 1]:
            guesses: list[int] = []
            r[task.task_id, other.task_id], inference[task.task_id, other.task_id] = evaluate_stream_task(
                learner, evaluated_part(other, None, seed), eval_batch_size, owners, guesses)
            if task.task_id == n - 1:
                for g in guesses:
                    confusion[other.task_id, g] = confusion.get((other.task_id, g), 0) + 1
        if checkpoint:
            save_state_checkpoint(state_dir, task.task_id, learner, {"r": r.tolist(), "inference": inference.tolist(),
                                                                    "found": found, "confusion": [
                                                                        [t, g, c] for (t, g), c in confusion.items()]},
                                  tasks=tasks)
        log.info(f"  {label} after task {task.task_id}: {learner.num_tasks} mask(s) allocated, accuracy on it "
            f"{r[task.task_id, task.task_id]:.2%}")
    bar.close()

    report = boundary_report(found, boundaries, learner.check_every)
    owners = mask_owners(learner.trained_, boundaries, learner.num_tasks)
    labels = [f"task_{t.task_id}" for t in tasks]
    write_csv(directory / "accuracy.csv", pd.DataFrame(r, columns=labels).assign(after=labels)
              .set_index("after").reset_index())
    write_csv(directory / "task_inference.csv", pd.DataFrame(inference, columns=labels).assign(after=labels)
              .set_index("after").reset_index())
    matrix = np.zeros((n, learner.num_tasks), dtype=np.int64)
    for (t, g), count in confusion.items():
        matrix[t, g] = count
    write_csv(directory / "task_confusion.csv", pd.DataFrame(matrix, columns=[f"mask_{m}" for m in range(matrix.shape[1])])
              .assign(task=range(n)).set_index("task").reset_index())
    write_csv(directory / "checks.csv", pd.DataFrame(learner.checks_, columns=["batch", "new_task", "best_mask"]))
    allocated = {task_id: batch for batch, task_id in found}
    write_csv(directory / "masks.csv", pd.DataFrame(
        [{"mask": m, "allocated_at_batch": allocated.get(m, math.nan), "owner_task": owners[m],
          "batches_trained": learner.trained_.count(m)} for m in range(learner.num_tasks)]))
    write_json(directory / "boundaries.json", report | {"check_every": learner.check_every,
                                                        "margin": learner.margin})
    summary = {**metrics.summarize(r, b), "definitions": dict(metrics.DEFINITIONS),
               "task_inference_accuracy": float(np.mean(inference[-1])),
               "num_tasks_found": report["num_tasks_found"], "num_true_tasks": n,
               "boundaries_detected": report["detected_within_interval"],
               "boundaries_missed": len(report["missed"]), "false_alarms": len(report["false_alarms"])}
    return r, b, summary


def run_stream_method(config: "ExperimentConfig", benchmark: str, method_name: str, method: Masked,
                      tasks: list[Task], directory: Path, *, progress: bool, resume: bool = False) -> MethodResult:
    """NNs: the method's masked network learns one unsegmented stream and finds the tasks itself."""
    if not isinstance(method, Masked):
        raise TypeError(f"{method_name} keeps no per-task masks, so it cannot detect tasks on a stream")
    learner = NNsLearner(method.model, optimizer=config.training.optimizer, lr=config.training.lr,
                         check_every=config.scenario.nns.check_every, min_candidates=config.scenario.nns.candidates,
                         margin=config.scenario.nns.margin, warmup=config.scenario.nns.warmup, seed=config.seed)
    start = time.perf_counter()
    r, b, summary = run_stream(learner, tasks, directory, batch_size=config.training.batch_size,
                               steps_per_task=config.training.steps_per_task, eval_batch_size=config.scenario.inference_batch_size,
                               seed=config.seed, label=f"{benchmark}/{method_name}", progress=progress,
                               checkpoint=config.run.checkpoint_state, resume=resume)
    seconds = time.perf_counter() - start
    for mask in range(learner.num_tasks):
        save_task_checkpoint(directory / "checkpoints" / f"mask_{mask:03d}.safetensors", learner.model, mask)
    summary |= {"memory_total_bytes": method.memory_bytes(), "memory_per_task_bytes": method.bytes_per_task(),
                "seconds_per_task": seconds / len(tasks),
                "samples_per_second": len(tasks) * config.training.steps_per_task * config.training.batch_size / seconds,
                "scenario": config.scenario.name}
    write_json(directory / "metrics.json", summary)
    log.info("  %s/%s: %s task(s) found for %d true; %s of %d boundaries detected, %s false alarm(s)", benchmark,
             method_name, summary["num_tasks_found"], len(tasks), summary["boundaries_detected"], len(tasks),
             summary["false_alarms"])
    overlap = None
    if config.run.overlap and learner.num_tasks >= 2:
        from supermasks.runner.overlap import overlap_report

        overlap = overlap_report({m: method.masks(m) for m in range(learner.num_tasks)}, directory,
                                 figures=config.run.figures, figure_formats=config.run.figure_formats,
                                 title=f"{benchmark} ({config.data.source}, NNs masks)")
    return MethodResult(benchmark, method_name, directory, r, b, summary, overlap)
