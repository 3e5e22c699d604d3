"""The report of an Experiment 2 directory (`studies.transfer`): transfer curves, similarity, task inference.

docs/algorithms.md section 3. Everything shown is read from the files the study wrote: `summary.csv`
and `final.csv` (per benchmark, transfer mode and budget: the mean over seeds of the mean accuracy
of tasks 1.., its 95% Student t interval, and the paired t-test against `random` with Holm's
adjustment over the modes of one budget), `similarity/` (|cos| between BN signatures) with
`relatedness/` (how related the tasks are, `data.task_relatedness`),
`alphas.csv` and `prediction.csv`. Figures are drawn by the functions the study saves its figures
with (`analysis.efficiency`); nothing is re-estimated here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from supermasks.aggregate.report import interval_cell
from supermasks.report.cells import metric_cell, number_cell, text_cell
from supermasks.report.embed import figure_uri
from supermasks.report.model import Cell, Code, Definitions, Figure, Paragraph, Report, Section, Table
from supermasks.report.source import study_name
from supermasks.store.json_files import read_json

ALPHA = 0.05
STUDY_FILE = "study.json"


def is_transfer_directory(path: Path) -> bool:
    """True when `path` holds a finished Experiment 2 study (its `study.json` and `summary.csv`)."""
    return (Path(path) / STUDY_FILE).is_file() and (Path(path) / "summary.csv").is_file()


def _points(value: float) -> str:
    return f"{100 * value:+.1f}"


def _verdict(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "untested: fewer than two seeds, or no spread over seeds"
    return f"Holm p = {p:.3g}, " + ("a difference" if p < ALPHA else "no detectable difference")


def final_sentences(final: pd.DataFrame) -> list[str]:
    """Per benchmark and guided mode, at the largest budget: its mean accuracy and its difference from random."""
    sentences = []
    for row in final[final["transfer"] != "random"].to_dict("records"):
        seeds = int(row["n_seeds"])
        diff = row["mean_difference"]
        against = ("" if diff is None or not np.isfinite(diff) else
                   f", {_points(diff)} points against random; {_verdict(row['p_holm'])}")
        sentences.append(f"On {row['benchmark']} after {int(row['budget'])} steps per task, {row['transfer']} transfer "
                         f"reached {100 * row['mean']:.1f}% (mean accuracy of tasks 1.. over {seeds} "
                         f"seed{'s' if seeds != 1 else ''}){against}.")
    return sentences


def early_sentences(summary: pd.DataFrame) -> list[str]:
    """Per benchmark, at the smallest budget: the mode that differs most from random, and by how much."""
    sentences = []
    for benchmark, group in summary.groupby("benchmark", sort=False):
        first = group[group["budget"] == group["budget"].min()]
        guided = first[(first["transfer"] != "random") & first["mean_difference"].notna()]
        if guided.empty:
            continue
        row = guided.loc[guided["mean_difference"].abs().idxmax()]
        sentences.append(f"On {benchmark} at the smallest budget ({int(row['budget'])} steps), the largest difference "
                         f"from random is {row['transfer']}'s {_points(row['mean_difference'])} points; "
                         f"{_verdict(row['p_holm'])}.")
    return sentences


QUESTION = "Does a new task learn faster when its scores start from earlier tasks'?"


def end_sentences(final: pd.DataFrame) -> list[str]:
    """Per benchmark, at the largest budget: how far the guided modes end from random, and how many differ."""
    sentences = []
    for benchmark, group in final.groupby("benchmark", sort=False):
        guided = group[(group["transfer"] != "random") & group["mean_difference"].notna()]
        if guided.empty:
            continue
        low, high = guided["mean_difference"].min(), guided["mean_difference"].max()
        differ = int((guided["p_holm"] < ALPHA).sum())
        span = _points(low) if low == high else f"{_points(low)} to {_points(high)}"
        sentences.append(f"On {benchmark} after {int(group['budget'].max())} steps, the guided modes end {span} "
                         f"points from random ({differ} of {len(guided)} at Holm p < {ALPHA}).")
    return sentences


def inference_sentences(prediction: pd.DataFrame) -> list[str]:
    """Per benchmark, the share of test batches whose task the BN signatures found (mean over modes, seeds, tasks)."""
    sentences = []
    for benchmark, group in prediction.groupby("benchmark", sort=False):
        by_mode = group.groupby("transfer", sort=False)["task_inference_accuracy"].mean()
        sentences.append(f"On {benchmark}, the nearest BN signature found the task of {100 * by_mode.min():.1f}% to "
                         f"{100 * by_mode.max():.1f}% of test batches (mean over seeds and tasks, per transfer mode).")
    return sentences


def _summary_table(frame: pd.DataFrame, caption: str) -> Table:
    rows = []
    for row in frame.to_dict("records"):
        rows.append([text_cell(row["benchmark"]), text_cell(row["transfer"]), number_cell(row["budget"], "{:.0f}"),
                     Cell(interval_cell("ACC", row["mean"], row["ci_low"], row["ci_high"]),
                          None if pd.isna(row["mean"]) else float(row["mean"])),
                     metric_cell("BWT", row["mean_difference"]), number_cell(row["p_value"]),
                     number_cell(row["p_holm"]), number_cell(row["n_seeds"], "{:.0f}")])
    return Table(caption, ["benchmark", "transfer", "budget", "accuracy %", "vs random", "p", "Holm p", "seeds"], rows)


DEFINITIONS = {
    "accuracy": "per seed, the mean over tasks 1.. of each task's own test accuracy (task id given) after `budget` "
                "steps of its training; task 0 is left out, since every mode trains it from random scores. Shown: "
                "the mean over seeds ± the half-width of its 95% Student t interval",
    "vs random": "mean over seeds of (mode - random) on the same seed, in percentage points",
    "p, Holm p": "two-sided paired t-test over seeds against random; Holm's adjustment over the modes compared at "
                 "one benchmark and budget (empty for random itself, or without spread)",
    "random / mean / similar / soft": "a new task's scores start random, from the mean of earlier tasks' scores "
                                      "(SupSup transfer), from the most similar earlier task per layer, or from a "
                                      "softmax over the similarities (docs/algorithms.md section 3)",
}


def transfer_section(directory: Path, summary: pd.DataFrame, final: pd.DataFrame, *, figures: bool) -> Section:
    """The modes at the largest budget and every budget as tables (their figure opens the page: `curves_figure`)."""
    section = Section("transfer", "Experiment 2: transfer from earlier tasks", [
        Paragraph("How fast does a new task learn when its scores start from earlier tasks? Each task's own accuracy "
                  "is measured after every budget of training steps; the largest budget is the training length."),
        _summary_table(final, "Each benchmark's transfer modes at its largest budget (final.csv)."),
        Definitions(DEFINITIONS)])
    section.blocks.append(_summary_table(summary, "Every benchmark, mode and budget (summary.csv): the curves' "
                                                  "numbers, with the paired tests at each budget."))
    return section


def curves_figure(summary: pd.DataFrame) -> Figure:
    """Accuracy against budget per transfer mode with its band, a panel per benchmark: the page's one figure."""
    from supermasks.analysis.efficiency import efficiency_panels

    return Figure(
        "Accuracy against training budget", "One panel per benchmark, one line per transfer mode: the mean accuracy "
        "of tasks 1.. (percent, mean over seeds) after each training budget, on a log axis; the band is the 95% "
        "interval over seeds. A line above random at small budgets is a head start from earlier tasks; lines that "
        "meet at the right learn as well in the end.", figure_uri(efficiency_panels(summary)))


def _matrices(directory: Path, benchmark: str, seed: int) -> dict[str, np.ndarray]:
    stem = f"{benchmark}-seed{seed}-"
    return {path.stem.removeprefix(stem): pd.read_csv(path).set_index("task").to_numpy(dtype=float)
            for path in sorted((directory / "similarity").glob(f"{stem}*.csv"))}


def similarity_section(directory: Path, study: dict, alphas: pd.DataFrame, *, figures: bool) -> Section:
    """The |cos| similarity of tasks' BN signatures per layer (first seed), as tables and heat maps, against the
    tasks' relatedness where the study wrote it (every seed); the alphas the guided modes chose."""
    from supermasks.analysis.efficiency import alphas_figure, similarity_heatmaps
    from supermasks.studies.transfer_results import similarity_points, similarity_vs_relatedness

    section = Section("similarity", "Task similarity and the alphas it chose")
    seed = int(study["seeds"][0])
    for benchmark in study["benchmarks"]:
        matrices = _matrices(directory, benchmark, seed)
        if not matrices:
            continue
        rows = []
        for layer, matrix in matrices.items():
            upper = matrix[np.triu_indices(len(matrix), k=1)]
            rows.append([text_cell(benchmark), text_cell(layer), number_cell(float(upper.mean()) if upper.size else
                                                                              None),
                         number_cell(float(upper.min()) if upper.size else None),
                         number_cell(float(upper.max()) if upper.size else None)])
        section.blocks.append(Table(
            f"{benchmark}, seed {seed}: per layer, the |cos| between two tasks' BN signatures (their BN-input means) "
            "over the distinct pairs of tasks: 1 is the same direction, 0 orthogonal.",
            ["benchmark", "layer", "mean |cos|", "lowest", "highest"], rows))
        if figures:
            title = f"{benchmark}: |cos| between task signatures (seed {seed})"
            section.blocks.append(Figure(
                title, "One panel per layer; cell (i, j) is the |cos| between the BN signatures of tasks i and j. "
                "Each panel's colours span its distinct pairs (the diagonal is 1); bright cells are the most similar "
                "pairs, those `similar` transfer starts from.", figure_uri(similarity_heatmaps(matrices, title))))
        found = similarity_points(directory, benchmark, [int(s) for s in study["seeds"]]) if figures else None
        for layer, points in (found[0].items() if found else []):
            section.blocks.append(Figure(
                f"{benchmark}, {layer}: signature similarity against relatedness",
                f"One point per pair of distinct tasks and seed (colour): x their {found[1]}, y the |cos| between "
                "their BN signatures in this layer; the line is a least-squares fit over all points. A slope says "
                "the signatures see how related the tasks are (related rotations: a small angle difference).",
                figure_uri(similarity_vs_relatedness(points, found[1], benchmark, layer))))
        for transfer in ("similar", "soft"):
            chosen = alphas[(alphas["benchmark"] == benchmark) & (alphas["transfer"] == transfer)
                            & (alphas["seed"] == seed)]
            if figures and len(chosen):
                section.blocks.append(Figure(
                    f"{benchmark}, {transfer} transfer, seed {seed}: alphas",
                    "One panel per layer: row i is the weights task i gave to each earlier task's scores (columns) "
                    "at its start, 0 to 1; a row sums to 1. `similar` puts all its weight on one task, `soft` "
                    "spreads it by similarity.", figure_uri(alphas_figure(alphas, benchmark, transfer, seed))))
    return section


def prediction_section(prediction: pd.DataFrame) -> Section:
    """Task inference by the nearest BN signature with each mode's masks (prediction.csv), over seeds and tasks."""
    rows = []
    keys = ["benchmark", "transfer"]
    for (benchmark, transfer), group in prediction.groupby(keys, sort=False):
        rows.append([text_cell(benchmark), text_cell(transfer),
                     metric_cell("task_inference_accuracy", group["task_inference_accuracy"].mean()),
                     metric_cell("ACC", group["accuracy"].mean()),
                     number_cell(1000 * group["seconds_per_batch"].mean(), "{:.2f}"),
                     number_cell(group["seed"].nunique(), "{:.0f}")])
    return Section("signature-inference", "Task inference from signatures", [Table(
        "Per benchmark and transfer mode: the share of test batches whose task the nearest BN signature found (GNu "
        "counting: a batch given the wrong task counts as all wrong), the accuracy that follows, and the time to "
        "infer and classify one batch; means over seeds and tasks (prediction.csv).",
        ["benchmark", "transfer", "task inference %", "accuracy %", "ms / batch", "seeds"], rows)])


def provenance_section(directory: Path, study: dict) -> Section:
    """What the study was: modes, budgets, seeds, benchmarks; meta.json where it was written; study.json."""
    from supermasks.report.sections import PROVENANCE_KEYS, duration

    items = {"transfer modes": ", ".join(study["transfers"]), "budgets": ", ".join(map(str, study["budgets"])),
             "seeds": ", ".join(map(str, study["seeds"])), "benchmarks": ", ".join(study["benchmarks"])}
    meta_path = directory / "meta.json"
    meta = read_json(meta_path) if meta_path.is_file() else {}
    items.update({PROVENANCE_KEYS.get(k, k): str(v) for k, v in meta.items() if k in PROVENANCE_KEYS and v is not None})
    if duration(meta):
        items["duration (last invocation)"] = duration(meta)
    return Section("provenance", "Configuration and provenance", [
        Definitions(items),
        Code(f"{STUDY_FILE}: every benchmark and mode's config", json.dumps(study, indent=2))])


def transfer_report(directory: Path, *, figures: bool = True) -> Report:
    """The whole page of an Experiment 2 directory; without `figures`, its tables and sentences only."""
    from datetime import datetime, timezone

    directory = Path(directory)
    study = read_json(directory / STUDY_FILE)
    summary = pd.read_csv(directory / "summary.csv")
    final = pd.read_csv(directory / "final.csv")
    alphas = pd.read_csv(directory / "alphas.csv")
    prediction = pd.read_csv(directory / "prediction.csv")
    answer = [*early_sentences(summary), *end_sentences(final)]  # the head start, then where the modes end
    sentences = [*final_sentences(final), *inference_sentences(prediction)]
    sections = [transfer_section(directory, summary, final, figures=figures),
                similarity_section(directory, study, alphas, figures=figures), prediction_section(prediction),
                provenance_section(directory, study)]
    return Report(f"Study {study_name(directory)}", sentences, sections,
                  datetime.now(timezone.utc).isoformat(timespec="seconds"), QUESTION, answer,
                  curves_figure(summary) if figures else None)


__all__ = ["QUESTION", "curves_figure", "early_sentences", "end_sentences", "final_sentences", "inference_sentences", "is_transfer_directory", "transfer_report"]
