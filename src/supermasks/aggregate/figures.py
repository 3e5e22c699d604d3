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


def interval_plot(summary: pd.DataFrame, metric: str, settings: Sequence[str] = ()) -> Figure:
    """`metric` per method, one panel per benchmark, one series per combination of `settings`.

    `summary`: rows of `summarize` for run-level metrics (task missing). Each point is the mean
    over seeds; its bar spans `ci_low..ci_high` (none with a single seed).
    """
    rows = summary[(summary["metric"] == metric) & summary["task"].isna()]
    benchmarks = list(pd.unique(rows["benchmark"]))
    num_series = max(1, len(rows.groupby(list(settings), sort=False, dropna=False))) if settings else 1
    # One legend for the figure, below the panels (long setting labels inside a panel squeeze it to nothing).
    legend_height = 0.25 * num_series if num_series > 1 else 0.0
    fig = Figure(figsize=(max(4.0, 1.1 * rows["method"].nunique() + 2.0) * len(benchmarks), 4.0 + legend_height),
                 layout="constrained")
    axes = fig.subplots(1, len(benchmarks), squeeze=False)[0]
    scale = 100.0 if metric in _PERCENT else 1.0
    for ax, benchmark in zip(axes, benchmarks):
        part = rows[rows["benchmark"] == benchmark]
        methods = list(pd.unique(part["method"]))
        series = list(part.groupby(list(settings), sort=False, dropna=False)) if settings else [((), part)]
        width = 0.7 / len(series)
        for k, (keys, group) in enumerate(series):
            keys = keys if isinstance(keys, tuple) else (keys,)
            label = ", ".join(f"{s}={v}" for s, v in zip(settings, keys)) or None
            group = group.set_index("method").reindex(methods)
            x = np.arange(len(methods)) + (k - (len(series) - 1) / 2) * width
            mean = scale * group["mean"].to_numpy(dtype=float)
            low = mean - scale * group["ci_low"].to_numpy(dtype=float)
            high = scale * group["ci_high"].to_numpy(dtype=float) - mean
            ax.errorbar(x, mean, yerr=np.nan_to_num(np.vstack([low, high])), fmt="o", capsize=4, label=label)
        ax.set_xticks(np.arange(len(methods)), labels=methods, rotation=30 if len(methods) > 4 else 0)
        ax.set_title(str(benchmark))
        ax.set_ylabel(f"{metric} (%)" if scale == 100.0 else metric)
        ax.grid(axis="y", alpha=0.3)
    if num_series > 1:
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", fontsize="small", ncols=1)
    seeds = rows["n_seeds"]
    fig.suptitle(f"{metric}: mean over seeds with 95% t interval (n = {seeds.min()}" +
                 (f"-{seeds.max()})" if seeds.max() != seeds.min() else ")"))
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
