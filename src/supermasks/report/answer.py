"""What a report on several runs opens with: a study's question, its answer and the one figure that answers it.

Experiment 1 (a study directory with `overlap_study.csv`): the sentences of `studies.overlap_answer`, the
small multiples of overlap / chance against relatedness (`analysis.overlap_panels`, from the study's
`overlap_study_points.csv`), and the per-test numbers as one sortable table. Several methods (seeds,
compare): their ACC with its interval over seeds (`aggregate.figures.interval_plot`). Nothing is
re-estimated here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from supermasks.report.cells import number_cell, text_cell
from supermasks.report.embed import figure_uri
from supermasks.report.model import Cell, Figure, Table

OVERLAP_FIGURE_TITLE = "Mask overlap / chance against task relatedness"
OVERLAP_FIGURE_CAPTION = (
    "Rows: benchmarks; columns: layers; one y axis for every panel (a log axis where the variants lie far apart). "
    "Each colour is a variant of the study: its points are the pairs of tasks of every seed (x: how related the two "
    "tasks are; y: their masks' overlap divided by that of independent masks of the same densities), shifted "
    "slightly sideways so that the variants do not hide each other; its line is a least-squares fit over them with "
    "the line's 95% confidence band, which treats the pairs as independent and so is narrower than the Mantel "
    "test allows (the test is in the table below). The dashed line is chance (1).")
ACC_FIGURE_CAPTION = (
    "ACC per method (one panel per benchmark): the dot is the mean over seeds, the bar its 95% Student t interval "
    "(none with one seed). Bars that do not overlap are a strong hint of a difference; the paired tests say it "
    "for the same seeds.")


def experiment1_figure(directory: Path, table: pd.DataFrame) -> Figure | None:
    """The small multiples of the study's `overlap` measure; None where the study wrote no points file (older)."""
    from supermasks.analysis.overlap_panels import overlap_panels
    from supermasks.studies.overlap import POINTS_FILE
    from supermasks.studies.overlap_answer import MEASURE, variant_labels

    path = Path(directory) / POINTS_FILE
    if not path.is_file():
        return None
    points = pd.read_csv(path)
    measure = MEASURE if (points["measure"] == MEASURE).any() else points["measure"].iloc[0]
    points = points[points["measure"] == measure].reset_index(drop=True)
    points = points.assign(variant=variant_labels(points))
    names = dict(zip(table["benchmark"], table["relatedness"]))
    fig = overlap_panels(points, names, OVERLAP_FIGURE_TITLE, variants=list(pd.unique(variant_labels(table))))
    return Figure(OVERLAP_FIGURE_TITLE, OVERLAP_FIGURE_CAPTION, figure_uri(fig))


def _interval(row: dict, column: str, spec: str) -> Cell:
    """"+0.18 [+0.12, +0.24]" sorting by the estimate; the estimate alone without an interval."""
    value = row.get(column)
    if value is None or not np.isfinite(value):
        return Cell("n/a")
    low, high = row.get(f"{column}_low"), row.get(f"{column}_high")
    text = format(value, spec)
    if low is not None and high is not None and np.isfinite(low) and np.isfinite(high):
        text += f" [{format(low, spec)}, {format(high, spec)}]"
    return Cell(text, float(value))


def _p(row: dict, column: str) -> Cell:
    """"<= 0.0054" where the value is a bound set by the permutation floor."""
    value = row.get(column)
    if value is None or not np.isfinite(value):
        return Cell("n/a")
    bound = bool(row.get(f"{column}_at_floor", False))
    return Cell(f"{'<= ' if bound else ''}{value:.3g}", float(value))


ANSWER_HEADER = ["variant", "benchmark", "layer", "measure", "relatedness", "most - least related (x chance)",
                 "most vs least related", "slope", "Mantel r", "p", "Holm p", "trend", "seeds"]


def answer_table(table: pd.DataFrame) -> Table:
    """Every test of `overlap_study.csv` as one sortable row: effect size, r, p and Holm p with their intervals."""
    from supermasks.studies.overlap_answer import answer_table as rows_of

    rows = []
    for row in rows_of(table).to_dict("records"):
        slope = _interval(row, "slope", "+.3g")
        if slope.value is not None and isinstance(row.get("slope_unit"), str):
            slope = Cell(f"{slope.text} per {row['slope_unit']}", slope.value)
        rows.append([text_cell(row["variant"]), text_cell(row["benchmark"]), text_cell(row["layer"]),
                     text_cell(row["measure"]), text_cell(row["relatedness"]),
                     _interval(row, "ratio_difference", "+.3f"),
                     Cell("n/a") if not np.isfinite(row["relative_percent"]) else
                     Cell(f"{row['relative_percent']:+.1f}%", float(row["relative_percent"])),
                     slope, _interval(row, "mantel_r", "+.2f"), _p(row, "mantel_p"), _p(row, "mantel_p_holm"),
                     Cell("yes" if row["trend"] else "no", int(bool(row["trend"]))),
                     number_cell(row["seeds"], "{:.0f}")])
    return Table("One row per test (variant, benchmark, layer and measure). Effect size: the mean ratio to chance of "
                 "the most related pairs minus that of the least related, and the same as a percentage of the least "
                 "related pairs' overlap; slope per unit of relatedness; Mantel r over the pairs of tasks (mean over "
                 "seeds; 95% intervals over seeds in brackets, none with one seed); p from a permutation test "
                 "stratified by seed and Holm-adjusted over the study's declared family (\"<=\": a bound set by the "
                 "permutation floor); trend: Holm p < 0.05. Sort by any column.", ANSWER_HEADER, rows)


def acc_figure(summary: pd.DataFrame, settings: list[str], title: str = "ACC over seeds") -> Figure:
    """The methods' ACC with its interval over seeds (`summary`: `aggregate.summarize`'s table)."""
    from supermasks.aggregate.figures import interval_plot

    return Figure(title, ACC_FIGURE_CAPTION, figure_uri(interval_plot(summary, "ACC", settings)))


def run_acc_figure(results: list) -> Figure | None:
    """One run of several methods (`MethodResult`s): their ACC side by side (one seed: no interval); None for one."""
    if len({r.method for r in results}) < 2:
        return None
    rows = [{"benchmark": r.benchmark, "method": r.method, "metric": "ACC", "task": np.nan,
             "mean": r.metrics.get("ACC", np.nan), "ci_low": np.nan, "ci_high": np.nan, "n_seeds": 1}
            for r in results]
    return acc_figure(pd.DataFrame(rows), [], "ACC per method")


__all__ = ["acc_figure", "answer_table", "experiment1_figure", "run_acc_figure"]
