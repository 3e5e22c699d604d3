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


QUESTION = "Can SupSup find a test batch's task without its id, and what does that cost in accuracy?"


def _span(values: list[float], signed: bool = False) -> str:
    """"93.0%" or "93.0% to 99.0%" (signed: "+0.1 to +0.9 points")."""
    low, high = min(values), max(values)
    if signed:
        return f"{100 * low:+.1f} points" if low == high else f"{100 * low:+.1f} to {100 * high:+.1f} points"
    return f"{100 * low:.1f}%" if low == high else f"{100 * low:.1f}% to {100 * high:.1f}%"


def inference_answer(frame: pd.DataFrame) -> list[str]:
    """Two or three sentences (means over seeds): the part that inferred the task best over every benchmark and
    its ACC against that with the task given; the one that inferred worst, where; the hardest benchmark."""
    means = _means(frame)
    means = means.assign(label=[_label(row) for row in means.to_dict("records")])
    given = means[means[INFERRED].isna()].groupby("benchmark", sort=False)["ACC"].first()
    inferred = means[means[INFERRED].notna()]
    if inferred.empty:
        return []
    by_part = inferred.groupby("label", sort=False).agg(inferred=(INFERRED, "mean"), acc=("ACC", "mean"))
    order = by_part.sort_values(["inferred", "acc"], ascending=False, kind="stable").index.tolist()
    benchmarks = inferred["benchmark"].nunique()
    best = inferred[inferred["label"] == order[0]]
    shares = best[INFERRED].tolist()
    where = (f"on {inferred['benchmark'].iloc[0]}" if benchmarks == 1 else
             "on every benchmark" if min(shares) == max(shares) else "across the benchmarks")
    text = f"Without the task id, {order[0]} found the task of the most test batches: {_span(shares)} {where}"
    gaps = [row["ACC"] - given[row["benchmark"]] for row in best.to_dict("records") if row["benchmark"] in given]
    if gaps:
        text += f", its ACC {_span(gaps, signed=True)} from that with the task id given"
    else:
        text += f", ACC {_span(best['ACC'].tolist())}"
    sentences = [text + "."]
    if len(order) > 1:
        worst = inferred[inferred["label"] == order[-1]].sort_values(INFERRED, kind="stable").iloc[0]
        against = (f" against {100 * given[worst['benchmark']]:.1f}% with the task id given"
                   if worst["benchmark"] in given else "")
        sentences.append(f"{order[-1]} found the fewest: {100 * worst[INFERRED]:.1f}% on {worst['benchmark']} (ACC "
                         f"{100 * worst['ACC']:.1f}%{against}).")
    if benchmarks > 1 and len(order) > 1:
        spread = inferred.groupby("benchmark", sort=False)[INFERRED].agg(["min", "max", "mean"])
        hardest = spread["mean"].idxmin()
        easy = [b for b in spread.index if spread.loc[b, "min"] >= 1.0]
        text = (f"The hardest benchmark is {hardest}, where the parts found "
                f"{_span([spread.loc[hardest, 'min'], spread.loc[hardest, 'max']])} of the tasks")
        if easy:
            text += f"; on {' and '.join(easy)} every part found every task"
        sentences.append(text + ".")
    return sentences


def inference_figure(frame: pd.DataFrame) -> Figure:
    """ACC and task-inference accuracy per benchmark and part (means over seeds): the page's one figure."""
    from supermasks.analysis.answer_plots import grouped_bars

    means = _means(frame)
    means = means.assign(label=[_label(row) for row in means.to_dict("records")])
    seeds = int(means["seeds"].max())
    return Figure(
        "ACC and task inference per part", "Left: ACC after the last task (percent); right: the share of test batches "
        "whose task was inferred correctly (percent). A group of bars per benchmark, a bar per part (the same colour "
        "in both panels); a part given the task id (the reference) has no bar on the right. "
        f"Means over {seeds} seed{'s' if seeds != 1 else ''}; the numbers are in the table below.",
        figure_uri(grouped_bars(means, [("ACC", "ACC (%)"), (INFERRED, "task inferred correctly (% of batches)")],
                                "ACC and task inference per part")))


__all__ = ["QUESTION", "has_task_inference", "inference_answer", "inference_figure", "inference_study_section",
           "inference_study_sentences"]
