"""Sections of a report on several runs (seeds, a sweep, a study): the aggregate's tables and Experiment 1.

The statistics are those of `supermasks aggregate` (`aggregate_runs`: means over seeds with their
95% Student t interval, paired t-tests between methods with Holm-adjusted p-values) and of the
study's `overlap_study.csv` (`studies.overlap`); nothing is recomputed here.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from supermasks.aggregate.build import Aggregate
from supermasks.aggregate.labels import (combination_labels, fixed_by_name, missing, part_prefix, short_names,
                                         value_text)
from supermasks.aggregate.report import COLUMNS, interval_cell
from supermasks.report.cells import number_cell, text_cell
from supermasks.report.embed import figure_uri
from supermasks.report.model import Cell, Definitions, Details, Figure, Paragraph, Section, Table

SHOWN_METRICS = ("ACC", "BWT", "FWT", "forgetting", "task_inference_accuracy", "memory_total_bytes",
                 "seconds_per_task")


OPEN_ROWS = 20  # a longer table of paired comparisons is folded away (the summary counts them)

FIGURE_METRICS = ("BWT", "FWT", "forgetting", "task_inference_accuracy")


def _interval(metric: str, row: dict) -> Cell:
    text = interval_cell(metric, row["mean"], row["ci_low"], row["ci_high"])
    return Cell(text, None if pd.isna(row["mean"]) else float(row["mean"]))


class KeyColumns:
    """A table's key columns made readable: a study's part (`name`) headed "part", without the study's name, and
    standing for the settings it fixes (left out); values written short (`value_text`)."""

    def __init__(self, keys: list[str], rows: list[tuple]) -> None:
        named = "name" in keys
        fixed = fixed_by_name(keys, rows) - {"benchmark", "method", "metric"}
        self.shown = [i for i, k in enumerate(keys) if k not in fixed]
        self.keys = keys
        self.prefix = part_prefix([row[keys.index("name")] for row in rows]) if named else ""
        names = {**short_names(keys), "name": "part"} if named else short_names(keys)
        self.headers = [names[keys[i]] for i in self.shown]

    def cells(self, row: tuple) -> list[Cell]:
        return [self._cell(self.keys[i], row[i]) for i in self.shown]

    def _cell(self, key: str, value: object) -> Cell:
        if missing(value):
            return text_cell(None)
        return text_cell(str(value).removeprefix(self.prefix) if key == "name" else value_text(value))


def seeds_section(result: Aggregate, *, acc_figure: bool = True) -> Section:
    """The summary over seeds (mean ± half-width of the 95% t interval) and its interval figures (ACC's only with
    `acc_figure`: without it, ACC is the page's one figure at the top, `report.answer.acc_figure`)."""
    from supermasks.aggregate.figures import few_seeds_note, interval_plot

    summary = result.summary[result.summary["task"].isna()]
    metrics = [m for m in SHOWN_METRICS if summary.loc[summary["metric"] == m, "mean"].notna().any()]
    keys = [*result.settings, "benchmark", "method"]
    groups = list(summary.groupby(keys, sort=False, dropna=False))
    columns = KeyColumns(keys, [group_keys for group_keys, _ in groups])
    rows = []
    for group_keys, group in groups:
        by_metric = {r["metric"]: r for r in group.to_dict("records")}
        seeds = max((int(r["n_seeds"]) for r in by_metric.values()), default=0)
        rows.append([*columns.cells(group_keys),
                     *(_interval(m, by_metric[m]) if m in by_metric else Cell("n/a") for m in metrics),
                     number_cell(seeds, "{:.0f}")])
    section = Section("seeds", "Results over seeds", [
        Table("One row per setting (a study's part standing for those it fixes), benchmark and method: the mean "
              "over seeds ± the half-width of its 95% Student t interval (the mean alone with one seed). ACC in percent; BWT, FWT and forgetting in points.",
              [*columns.headers, *(COLUMNS.get(m, m) for m in metrics), "seeds"], rows)])
    # ACC, and the other accuracy metrics where the rows differ (supsup's BWT of 0 everywhere says it in the table)
    drawn = [m for m in metrics if (m == "ACC" and acc_figure) or (m in FIGURE_METRICS and
                                                   summary.loc[summary["metric"] == m, "mean"].nunique() > 1)]
    fewest = int(summary["n_seeds"].min()) if len(summary) else 0
    note = f" {few_seeds_note(fewest)[0].upper()}{few_seeds_note(fewest)[1:]}." if few_seeds_note(fewest) else ""
    folded = Details(f"{', '.join(m for m in drawn if m != 'ACC')} over seeds: one figure each")
    for metric in drawn:
        (section.blocks if metric == "ACC" else folded.blocks).append(Figure(
            f"{metric} over seeds", f"{metric} per method (one panel per benchmark): the dot is the mean over "
            "seeds, the bar its 95% Student t interval (none with one seed), cut to the values the metric can "
            "take. Bars that do not overlap are a strong hint of a difference; the paired tests below say it for "
            f"the same seeds.{note}",
            figure_uri(interval_plot(result.summary, metric, result.settings))))
    if folded.blocks:  # the table says them first; a reader who wants the picture opens it
        section.blocks.append(folded)
    return section


def comparisons_section(result: Aggregate) -> Section:
    """Paired t-tests between methods over the same seeds (`aggregate.paired`), Holm-adjusted per metric."""
    table = result.comparisons
    table = table[table["metric"].isin(SHOWN_METRICS[:5])]
    if table.empty:
        return Section("comparisons", "Paired comparisons")
    keys = [c for c in table.columns if c in (*result.settings, "benchmark")]
    columns = KeyColumns(keys, [tuple(row) for row in table[keys].itertuples(index=False, name=None)])
    rows = []
    for row in table.to_dict("records"):
        scale = 100.0 if row["metric"] in ("ACC", "BWT", "FWT", "forgetting", "task_inference_accuracy") else 1.0
        interval = ("n/a" if pd.isna(row["diff_ci_low"])
                    else f"[{scale * row['diff_ci_low']:+.2f}, {scale * row['diff_ci_high']:+.2f}]")
        rows.append([*columns.cells(tuple(row[k] for k in keys)),
                     text_cell(row["metric"]), text_cell(row["a"]),
                     text_cell(row["b"]), number_cell(row["n_pairs"], "{:.0f}"),
                     Cell("n/a" if pd.isna(row["mean_difference"]) else f"{scale * row['mean_difference']:+.2f}",
                          None if pd.isna(row["mean_difference"]) else float(row["mean_difference"])),
                     Cell(interval, None if pd.isna(row["diff_ci_low"]) else float(row["diff_ci_low"])),
                     number_cell(row["p_value"]), number_cell(row["p_holm"])])
    shown = Table("Each pair of methods on the same seeds: the mean of the per-seed differences a - b (points for "
                  "accuracies) with its 95% t interval, the two-sided paired t-test's p, and p Holm-adjusted over "
                  "the comparisons of one metric in one group.",
                  [*columns.headers, "metric", "a", "b", "seeds", "a - b", "95% CI", "p", "p (Holm)"], rows)
    return Section("comparisons", "Paired comparisons", [
        shown if len(rows) <= OPEN_ROWS else Details(f"All {len(rows)} paired comparisons (a sortable table)", [shown]),
        Definitions({"paired t-test": "t = mean(d) / (sd(d) / sqrt(n)) on the per-seed differences d, n - 1 degrees "
                                      "of freedom (Student 1908)",
                     "Holm": "step-down adjustment of a family of p-values (Holm 1979): the k-th smallest times "
                             "(m - k + 1), made monotone"})])


def acc_sentences(result: Aggregate) -> list[str]:
    """Per benchmark, the lowest and highest mean ACC over seeds among the groups (`aggregate.summary`)."""
    rows = result.summary[(result.summary["metric"] == "ACC") & result.summary["task"].isna()]
    sentences = []
    for benchmark, group in rows.groupby("benchmark", sort=False):
        group = group.dropna(subset=["mean"])
        if group.empty:
            continue
        labels = combination_labels(["method", *result.settings],
                                    list(group[["method", *result.settings]].itertuples(index=False, name=None)))
        # "supsup" for the method supsup of a part named supsup, never "supsup, supsup"
        labels = [", ".join(dict.fromkeys(label.removeprefix("method=").split(", "))) for label in labels]
        low, high = int(group["mean"].to_numpy().argmin()), int(group["mean"].to_numpy().argmax())
        seeds = int(group["n_seeds"].max())
        if len(group) == 1:
            sentences.append(f"On {benchmark}, {labels[0]} reached ACC {100 * group['mean'].iloc[0]:.1f}% "
                             f"(mean over {seeds} seed{'s' if seeds != 1 else ''}).")
            continue
        if group["mean"].iloc[low] == group["mean"].iloc[high]:
            mean = 100 * group["mean"].iloc[low]
            sentences.append(f"On {benchmark}, all {len(group)} reached a mean ACC of {mean:.1f}% "
                             f"over {seeds} seed{'s' if seeds != 1 else ''} ({'; '.join(labels)}).")
            continue
        sentences.append(f"On {benchmark}, mean ACC over {seeds} seed{'s' if seeds != 1 else ''} ranges from "
                         f"{100 * group['mean'].iloc[low]:.1f}% ({labels[low]}) to "
                         f"{100 * group['mean'].iloc[high]:.1f}% ({labels[high]}).")
    return sentences


def study_overlap_section(directory: Path) -> Section:
    """Experiment 1 of a study: every test as one sortable table (`report.answer.answer_table`); its answer and
    figure open the page."""
    from supermasks.report.answer import answer_table
    from supermasks.studies.overlap import family_text
    from supermasks.studies.overlap_answer import QUESTION

    path = Path(directory) / "overlap_study.csv"
    section = Section("experiment1", f"{QUESTION} Every test")
    if not path.is_file():
        return section
    table = pd.read_csv(path)
    section.blocks.append(Paragraph(
        "Overlap / chance against relatedness, per variant, benchmark, layer and measure (overlap of the masks; "
        "learned changes: what training switched relative to the initial masks). A trend is called where the "
        f"Holm-adjusted p < 0.05. {family_text(table)} Every column of these tests, with the bins' own means "
        "and intervals, is in the study's overlap_study.csv."))
    section.blocks.append(answer_table(table))
    return section
