"""Experiment 3 in a study's report: task inference without task ids, one row per part (way of inferring).

A study whose runs infer the task (`configs/experiment3.yaml`: GNu runs beside a run given the task
id) writes `task_inference_accuracy` (the share of test batches whose task was inferred correctly
after the last task) and `inference_ms` (time to infer and classify one batch) into `study.csv`;
each such run also wrote `task_confusion.csv`. The table shows them per part, benchmark and method
(means over seeds where the study has seeds); the confusion matrices are drawn by the function the
runs save theirs with (`analysis.plots.confusion_heatmap`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from supermasks.report.cells import metric_cell, number_cell, text_cell
from supermasks.report.embed import figure_uri
from supermasks.report.model import Figure, Paragraph, Section, Table

INFERRED = "task_inference_accuracy"


def has_task_inference(frame: pd.DataFrame) -> bool:
    """True when some run of the study (`study.csv`) inferred the task at test time."""
    return INFERRED in frame.columns and bool(frame[INFERRED].notna().any())


def _keys(frame: pd.DataFrame) -> list[str]:
    return ["part", *(c for c in frame.columns if c.startswith("grid.")), "benchmark", "method"]


def _means(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per part, grid point, benchmark and method: ACC, task inference and its cost, means over seeds."""
    columns = [c for c in ("ACC", INFERRED, "inference_ms") if c in frame.columns]
    grouped = frame.groupby(_keys(frame), sort=False, dropna=False)
    return grouped[columns].mean().join(grouped.size().rename("seeds")).reset_index()


def _label(row: dict) -> str:
    grid = ", ".join(f"{k.removeprefix('grid.')}={v}" for k, v in row.items() if k.startswith("grid.") and pd.notna(v))
    return f"{row['part']} ({grid})" if grid else str(row["part"])


def inference_study_sentences(frame: pd.DataFrame) -> list[str]:
    """Per benchmark: ACC with the task id given, then the part that inferred most batches (of those that inferred
    as many, the one with the higher ACC; the others named) and the one that inferred fewest, with the ACC that
    followed (means over seeds)."""
    sentences = []
    for benchmark, group in _means(frame).groupby("benchmark", sort=False):
        rows = group.to_dict("records")
        given = [r for r in rows if pd.isna(r[INFERRED])]
        # most batches inferred first; of parts that infer as many, the higher ACC first
        inferred = sorted((r for r in rows if pd.notna(r[INFERRED])), key=lambda r: (-r[INFERRED], -r["ACC"]))
        if not inferred:
            continue
        text = f"On {benchmark}, "
        if given:
            text += (f"with the task id given (part {_label(given[0])}) ACC is {100 * given[0]['ACC']:.1f}%; "
                     "without it, ")
        best = inferred[0]
        cost = best.get("inference_ms")
        details = [f"ACC {100 * best['ACC']:.1f}%", *([f"{cost:.1f} ms per batch"] if pd.notna(cost) else [])]
        tied = [_label(r) for r in inferred[1:] if r[INFERRED] == best[INFERRED]]
        if tied:
            details.append(f"{' and '.join(tied)} inferred as many")
        text += f"{_label(best)} inferred the task of {100 * best[INFERRED]:.1f}% of test batches ({'; '.join(details)})"
        if len(inferred) > len(tied) + 1:
            worst = inferred[-1]
            text += f", {_label(worst)} the fewest: {100 * worst[INFERRED]:.1f}% (ACC {100 * worst['ACC']:.1f}%)"
        sentences.append(text + ".")
    return sentences


def _run_directory(study: Path, name: str) -> Path:
    path = Path(name)
    return path if path.is_dir() else Path(study).parent / path.name


def inference_study_section(directory: Path, frame: pd.DataFrame, *, figures: bool) -> Section:
    """The study's task-inference table and, with `figures`, each inferring run's confusion matrix (first seed)."""
    from supermasks.analysis.plots import confusion_heatmap

    means = _means(frame)
    grid = [c for c in means.columns if c.startswith("grid.")]
    rows = [[text_cell(row["part"]), *(text_cell(row[c]) for c in grid), text_cell(row["benchmark"]),
             text_cell(row["method"]), metric_cell("ACC", row["ACC"]), metric_cell(INFERRED, row[INFERRED]),
             number_cell(row.get("inference_ms"), "{:.2f}"), number_cell(row["seeds"], "{:.0f}")]
            for row in means.to_dict("records")]
    section = Section("experiment3", "Experiment 3: task inference without task ids", [
        Paragraph("Each part predicts without the task id in its own way (a part where the task id is given is the "
                  "reference): the task of every test batch is inferred, and the batch is classified with the "
                  "inferred mask; a batch given the wrong task counts as all wrong (GNu)."),
        Table("One row per part, benchmark and method (means over seeds): ACC after the last task (percent), the "
              "share of test batches whose task was inferred correctly (percent; n/a where the task id is given), "
              "and the time to infer and classify one test batch.",
              ["part", *(c.removeprefix("grid.") for c in grid), "benchmark", "method", "ACC %", "task inference %",
               "ms / batch", "seeds"], rows)])
    if not figures:
        return section
    shown = frame[frame["seed"] == frame["seed"].iloc[0]] if "seed" in frame.columns else frame
    for row in shown[shown[INFERRED].notna()].to_dict("records"):
        path = _run_directory(directory, str(row["run_directory"])) / row["benchmark"] / row["method"]
        if not (path / "task_confusion.csv").is_file():
            continue
        counts = pd.read_csv(path / "task_confusion.csv").drop(columns="task").to_numpy()
        title = f"{_label(row)}, {row['benchmark']}/{row['method']}: task inference after the last task"
        section.blocks.append(Figure(
            title, "Rows: the true task of a test batch; columns: the task inferred. Counts on the diagonal are "
            "correct inferences; off-diagonal cells show which tasks are taken for which.",
            figure_uri(confusion_heatmap(counts, [str(t) for t in range(len(counts))], title))))
    return section


__all__ = ["has_task_inference", "inference_study_section", "inference_study_sentences"]
