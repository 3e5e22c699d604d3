"""Figures of the summary: a metric per method, as points with their 95% t interval as error bars."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

# Run-level metrics drawn by default (when present); accuracies are shown in percent.
DEFAULT_METRICS = ("ACC", "BWT", "FWT", "forgetting", "task_inference_accuracy")
_PERCENT = frozenset({"ACC", "BWT", "FWT", "forgetting", "task_inference_accuracy"})
# The values a metric can take (as stored: fractions); an interval is drawn inside them.
RANGES = {"ACC": (0.0, 1.0), "task_inference_accuracy": (0.0, 1.0), "forgetting": (-1.0, 1.0),
          "BWT": (-1.0, 1.0), "FWT": (-1.0, 1.0)}
FEW_SEEDS = 3  # under this many seeds the t interval is wide (1 degree of freedom: t = 12.7), and says so
TITLE_CHARACTERS_PER_INCH = 11  # how much of a title fits across one inch of figure at Matplotlib's title size
LEGEND_CHARACTERS_PER_INCH = 13  # and of a legend's label at its "small" size


def clipped_interval(metric: str, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`low`, `high` cut to the values `metric` can take (`RANGES`; unchanged for a metric without a range):
    a 95% t interval of ACC over two seeds, mean +- 12.7 sd, may pass 100% though no accuracy can."""
    if metric not in RANGES:
        return low, high
    bottom, top = RANGES[metric]
    return np.clip(low, bottom, top), np.clip(high, bottom, top)


def few_seeds_note(seeds: int) -> str:
    """Why the bars are so wide with 2 seeds (empty from `FEW_SEEDS` on)."""
    if seeds >= FEW_SEEDS or seeds < 2:
        return ""
    return (f"n = {seeds}: a t interval with {seeds - 1} degree of freedom (mean ± 12.7 standard errors), "
            "hence the wide bars; cut to the possible range")


def wrapped_title(text: str, width_inches: float, per_inch: float = TITLE_CHARACTERS_PER_INCH) -> str:
    """`text` broken into lines that fit a figure `width_inches` wide (a long title or legend label is never cut
    off); `per_inch`: how many of its characters fit across an inch at its size."""
    import textwrap

    return "\n".join(textwrap.wrap(text, max(20, int(per_inch * width_inches))))


def interval_plot(summary: pd.DataFrame, metric: str, settings: Sequence[str] = ()) -> Figure:
    """`metric` per method, one panel per benchmark, one series per combination of `settings`.

    `summary`: rows of `summarize` for run-level metrics (task missing). Each point is the mean
    over seeds; its bar spans `ci_low..ci_high` (none with a single seed).
    """
    from supermasks.aggregate.labels import combination_labels

    rows = summary[(summary["metric"] == metric) & summary["task"].isna()]
    benchmarks = list(pd.unique(rows["benchmark"]))
    keys = ([k if isinstance(k, tuple) else (k,) for k, _ in rows.groupby(list(settings), sort=False, dropna=False)]
            if settings else [])
    num_series = max(1, len(keys)) if settings else 1
    width = max(4.0, 1.1 * rows["method"].nunique() + 2.0) * len(benchmarks)
    # One legend for the figure, below the panels (long setting labels inside a panel squeeze it to nothing),
    # its labels wrapped to the figure's width and its height made for their lines.
    lines = sum(wrapped_title(label, width, LEGEND_CHARACTERS_PER_INCH).count("\n") + 1
                for label in combination_labels(settings, keys)) if settings else 0
    legend_height = 0.2 * lines + 0.1 if num_series > 1 else 0.0
    fig = Figure(figsize=(width, 4.0 + legend_height), layout="constrained")
    axes = fig.subplots(1, len(benchmarks), squeeze=False)[0]
    scale = 100.0 if metric in _PERCENT else 1.0
    for ax, benchmark in zip(axes, benchmarks):
        part = rows[rows["benchmark"] == benchmark]
        methods = list(pd.unique(part["method"]))
        series = list(part.groupby(list(settings), sort=False, dropna=False)) if settings else [((), part)]
        step = 0.7 / len(series)
        labels = [wrapped_title(label, width, LEGEND_CHARACTERS_PER_INCH) for label in
                  combination_labels(settings, [k if isinstance(k, tuple) else (k,) for k, _ in series])]
        for k, ((_, group), label) in enumerate(zip(series, labels)):
            group = group.set_index("method").reindex(methods)
            x = np.arange(len(methods)) + (k - (len(series) - 1) / 2) * step
            mean = group["mean"].to_numpy(dtype=float)
            bottom, top = clipped_interval(metric, group["ci_low"].to_numpy(dtype=float),
                                           group["ci_high"].to_numpy(dtype=float))
            low, high = scale * (mean - bottom), scale * (top - mean)
            ax.errorbar(x, scale * mean, yerr=np.nan_to_num(np.vstack([low, high])), fmt="o", capsize=4,
                        label=label or None)
        if metric in RANGES:  # the axis never runs past what the metric can take (100% at most)
            bottom, top = ax.get_ylim()
            ax.set_ylim(max(bottom, scale * RANGES[metric][0]), min(top, scale * RANGES[metric][1]))
        ax.set_xticks(np.arange(len(methods)), labels=methods, rotation=30 if len(methods) > 4 else 0)
        ax.set_title(str(benchmark))
        ax.set_ylabel(f"{metric} (%)" if scale == 100.0 else metric)
        ax.grid(axis="y", alpha=0.3)
    if num_series > 1:
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", fontsize="small", ncols=1)
    seeds = rows["n_seeds"]
    title = (f"{metric}: mean over seeds with 95% t interval (n = {seeds.min()}" +
             (f"-{seeds.max()})" if seeds.max() != seeds.min() else ")"))
    note = few_seeds_note(int(seeds.min())) if len(seeds) else ""
    fig.suptitle(wrapped_title(title, width) + (f"\n{wrapped_title(note, width * 1.3)}" if note else ""),
                 fontsize="medium")
    return fig


def write_figures(summary: pd.DataFrame, settings: Sequence[str], directory: Path,
                  metrics: Sequence[str] = DEFAULT_METRICS, formats: Sequence[str] = ("png",)) -> list[Path]:
    """One `interval_plot` per metric of `metrics` that has a value, saved as `<metric>.<format>`."""
    from supermasks.analysis.plots import save_figure

    written = []
    run_level = summary[summary["task"].isna()]
    for metric in metrics:
        if run_level[(run_level["metric"] == metric)]["mean"].notna().any():
            written += save_figure(interval_plot(summary, metric, settings), directory, metric, formats)
    return written
