"""The tables and figures of a run directory: R and the per-task table as they stand, summaries, comparisons."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from supermasks.analysis import metrics
from supermasks.data import Task
from supermasks.methods import MethodReport
from supermasks.runner.evaluate import Results
from supermasks.store.files import write_csv

# tasks.csv, in this order (rows read back from a checkpoint's JSON have their keys sorted).
TASK_COLUMNS = ("task", "name", "accuracy", "task_inference_accuracy", "untrained_accuracy", "steps", "final_loss",
                "seconds", "train_seconds", "samples_per_second", "training_memory_bytes", "memory_bytes",
                "checkpoint_bytes")
COMPARISON_COLUMNS = ("ACC", "BWT", "FWT", "forgetting", "task_inference_accuracy", "inference_ms", "num_tasks_found",
                      "memory_per_task_bytes", "memory_peak_training_bytes", "memory_total_bytes", "seconds_per_task",
                      "samples_per_second")

# The memory figures of tasks.csv, metrics.json and the comparison table. Both count the method's
# state (`Method.memory_bytes`: weights, heads, masks, float scores, replay buffer, Fisher terms),
# not the optimiser's state, activations or transient copies of a batch.
MEMORY_DEFINITIONS = {
    "memory_peak_training_bytes": "max over tasks t of the bytes the method holds while learning task t "
                                  "(its state for t plus all it kept from earlier tasks, the larger of the two "
                                  "measured when t begins and when its learning ends): what it needs to learn",
    "memory_total_bytes": "bytes the method keeps after the last task (a run stores no replay samples or "
                          "Fisher terms for the last task, since no task follows it)",
    "memory_per_task_bytes": "(memory_total_bytes - bytes kept after the first task) / (T - 1): growth per task",
}


@dataclass
class MethodResult:
    """What one method produced on one benchmark."""

    benchmark: str
    method: str
    directory: Path
    accuracy: np.ndarray  # R, (T, T); NaN where a task could not be evaluated yet
    untrained: np.ndarray  # b, (T,)
    metrics: dict[str, float]  # metrics.json as written: the numbers, their `definitions` and notes such as `scenario`
    overlap_summary: pd.DataFrame | None = None

    @property
    def numbers(self) -> dict[str, float]:
        """The metrics that are numbers (ACC, BWT, FWT, forgetting, memory, time...), as floats; NaN where undefined
        (FWT of a method that cannot predict a task before learning it)."""
        return {k: float("nan") if v is None else float(v) for k, v in self.metrics.items()
                if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))}

    @property
    def definitions(self) -> dict[str, str]:
        """What each number means, in words."""
        return dict(self.metrics.get("definitions", {}))

    def accuracy_frame(self) -> pd.DataFrame:
        """R as a DataFrame: row `after task i` (the task just learned), column `task j`; NaN where not evaluated."""
        n = len(self.accuracy)
        return pd.DataFrame(self.accuracy, index=pd.Index([f"after task {i}" for i in range(n)], name="after"),
                            columns=[f"task {j}" for j in range(n)])

    def masks(self, task_id: int) -> dict[str, np.ndarray]:
        """Task `task_id`'s binary masks per masked layer (bool arrays of the weights' shapes), read from its mask
        file; ValueError for a method that learns no masks."""
        from supermasks.models.mask_files import load_task_masks

        path = self.directory / "checkpoints" / f"task_{task_id:03d}.safetensors"
        if not path.is_file():
            raise ValueError(f"{path} does not exist: {self.method} keeps no mask file of task {task_id} "
                             "(a method without masks, or a task it did not learn)")
        return load_task_masks(path)


def comparison_table(results: list[MethodResult]) -> pd.DataFrame:
    """One row per (benchmark, method): the metrics table of `supermasks compare`."""
    rows = [{"benchmark": r.benchmark, "method": r.method, **{k: r.metrics.get(k, np.nan) for k in COMPARISON_COLUMNS}}
            for r in results]
    return pd.DataFrame(rows, columns=["benchmark", "method", *COMPARISON_COLUMNS])


def task_matrix(matrix: np.ndarray, tasks: list[Task]) -> pd.DataFrame:
    """A (T, T) matrix with rows labelled by the task just trained (`after`) and columns by task."""
    labels = [f"task_{t.task_id}" for t in tasks]
    return pd.DataFrame(matrix, columns=labels).assign(after=labels).set_index("after").reset_index()


def write_progress(directory: Path, tasks: list[Task], r: np.ndarray, rows: list[dict]) -> None:
    """R and the per-task table as they stand: after every task, so a stopped run keeps what it finished."""
    write_csv(directory / "accuracy.csv", task_matrix(r, tasks))
    write_csv(directory / "tasks.csv", pd.DataFrame(rows, columns=list(TASK_COLUMNS)))


def write_inference_tables(directory: Path, tasks: list[Task], results: Results) -> dict[str, float]:
    """GNs/GNu: task-inference accuracy after each task and the confusion after the last; returns their summary."""
    n = len(tasks)
    write_csv(directory / "task_inference.csv", task_matrix(results.inference, tasks))
    write_csv(directory / "task_confusion.csv", pd.DataFrame(results.confusion, columns=[f"inferred_{t}" for t in range(n)])
              .assign(task=range(n)).set_index("task").reset_index())
    # After the last task: the fraction of test batches whose task was inferred correctly, and the
    # time to infer and classify one test batch (or image).
    return {"task_inference_accuracy": float(np.mean(results.inference[-1])),
            "inference_ms": 1000 * results.seconds / results.inferences if results.inferences else float("nan")}


def write_report(directory: Path, report: MethodReport) -> None:
    """A method's own tables (`<stem>.csv`); its numbers go into metrics.json with the rest."""
    for stem, frame in report.tables.items():
        write_csv(directory / f"{stem}.csv", frame)


def method_summary(results: Results, rows: list[dict], memory_before: int, memory_total: int) -> dict:
    """metrics.json of one method: the accuracy metrics with their definitions, memory and time per task."""
    n = len(results.b)
    # Growth per task after the first: the first task often reuses what the untrained method
    # already held (a dense net's first head), later ones show what each new task costs.
    start = rows[0]["memory_bytes"] if n > 1 else memory_before
    # Rows saved before training memory was recorded lack it: the peak is then unknown (NaN), not a guess.
    held = [row.get("training_memory_bytes") for row in rows]
    peak = float("nan") if any(h is None for h in held) else max(held)
    return {**metrics.summarize(results.r, results.b), "definitions": {**metrics.DEFINITIONS, **MEMORY_DEFINITIONS},
            "memory_total_bytes": memory_total, "memory_per_task_bytes": (memory_total - start) / max(n - 1, 1),
            "memory_peak_training_bytes": peak,
            "seconds_per_task": float(np.mean([row["train_seconds"] for row in rows])),
            "samples_per_second": float(np.mean([row["samples_per_second"] for row in rows]))}


def write_benchmark_summary(directory: Path, benchmark: str, tasks: list[Task], results: list[MethodResult], *,
                            scenario: str, figures: bool, figure_formats: tuple[str, ...] = ("png",)) -> None:
    """Per benchmark: final accuracy of every method on every task, each method's accuracy matrix as a heat
    map (`accuracy_<method>`, from two tasks), and the learning curves."""
    final = pd.DataFrame([{"method": r.method, **{t.name: r.accuracy[-1, t.task_id] for t in tasks},
                           "ACC": r.metrics["ACC"]} for r in results])
    write_csv(directory / "final_accuracy.csv", final)
    curves = {r.method: pd.read_csv(r.directory / "curves.csv") for r in results
              if (r.directory / "curves.csv").is_file()}
    if not figures or (len(tasks) < 2 and not curves):  # one task: R is one number, nothing to draw
        return
    from supermasks.analysis.curves import accuracy_heatmap, learning_curves
    from supermasks.analysis.plots import save_figure

    for r in results if len(tasks) >= 2 else ():
        save_figure(accuracy_heatmap(r.accuracy, f"{benchmark}/{r.method}: accuracy matrix R"),
                    directory / "figures", f"accuracy_{r.method}", figure_formats)
    if curves:
        save_figure(learning_curves(curves, f"{benchmark} ({scenario}-incremental): accuracy during training"),
                    directory / "figures", "learning_curves", figure_formats)


def write_storage(comparison: pd.DataFrame, directory: Path, *, figures: bool,
                  figure_formats: tuple[str, ...] = ("png",)) -> None:
    """`accuracy_vs_bytes.csv` of a comparison (a row per benchmark and method: ACC and `memory_total_bytes`) and,
    with `figures`, `figures/accuracy_vs_bytes` in `directory`: a colour per method."""
    from supermasks.analysis.storage import run_points, write_accuracy_vs_bytes

    points = run_points(comparison, ["benchmark", "method"])
    several = points["benchmark"].nunique() > 1
    points.insert(2, "label", [f"{m} ({b})" if several else str(m) for b, m in zip(points["benchmark"], points["method"])])
    write_accuracy_vs_bytes(points, directory, figure=figures, formats=figure_formats)
