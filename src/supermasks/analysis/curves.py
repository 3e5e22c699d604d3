"""Figures of accuracy during training (learning curves) and of a metric across a parameter grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

# Metrics stored as fractions in [0, 1] (or differences of them), drawn in percent.
_FRACTIONS = ("ACC", "BWT", "FWT", "forgetting", "first_task_accuracy")


def learning_curves(curves: dict[str, pd.DataFrame], title: str) -> Figure:
    """Accuracy on every task seen so far against training steps, one panel per method.

    Each frame has the columns `trained_task, step, task, accuracy` (a run's `curves.csv`); the
    x axis counts steps across the whole sequence and dotted lines mark where a new task begins.
    """
    if not curves:
        raise ValueError("no curves to plot")
    n = len(curves)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig = Figure(figsize=(4.6 * cols, 3.4 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True).ravel()
    for ax, (method, frame) in zip(axes, curves.items()):
        offsets = frame.groupby("trained_task")["step"].max().cumsum().shift(fill_value=0)
        x = frame["step"] + frame["trained_task"].map(offsets)
        for task, part in frame.assign(x=x).groupby("task"):
            ax.plot(part["x"], 100 * part["accuracy"], marker="o", markersize=3, label=f"task {task}")
        for boundary in offsets.iloc[1:]:
            ax.axvline(boundary, color="grey", linestyle=":", linewidth=1)
        ax.set_title(method)
        ax.set_xlabel("training step (whole sequence)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].legend(loc="lower left", fontsize=8)
    for ax in axes[n:]:
        ax.remove()
    fig.suptitle(title)
    return fig


def accuracy_heatmap(r: np.ndarray, title: str) -> Figure:
    """The accuracy matrix R as a heat map: row i after training task i, column j the task tested (percent).

    Cells of tasks not yet learned (NaN, above the diagonal when R is filled as tasks arrive) stay
    blank; every other cell is annotated with its accuracy when T <= 12. Reading down a column shows
    how a task's accuracy changes as later tasks are learned: a column that pales is forgetting.
    """
    r = np.asarray(r, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] != r.shape[1] or not r.size:
        raise ValueError(f"R must be a non-empty square matrix, got shape {r.shape}")
    num_tasks = r.shape[0]
    side = 1.6 + 0.5 * max(num_tasks, 4)
    fig = Figure(figsize=(side + 1.2, side), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(100 * r, cmap="viridis", vmin=0, vmax=100, interpolation="nearest")
    fig.colorbar(image, ax=ax).set_label("test accuracy (%)")
    ticks = range(num_tasks)
    ax.set_xticks(ticks, labels=[str(t) for t in ticks], rotation=45 if num_tasks > 6 else 0)
    ax.set_yticks(ticks, labels=[str(t) for t in ticks])
    ax.set_xlabel("task tested (j)")
    ax.set_ylabel("after training task (i)")
    ax.set_title(title)
    if num_tasks <= 12:
        for i in range(num_tasks):
            for j in range(num_tasks):
                if np.isfinite(r[i, j]):
                    ax.text(j, i, f"{100 * r[i, j]:.0f}", ha="center", va="center", fontsize=8,
                            color="black" if r[i, j] > 0.6 else "white")
    return fig


def metric_vs_parameter(table: pd.DataFrame, parameter: str, metric: str, title: str,
                        group: str = "method", ylabel: str | None = None) -> Figure:
    """`metric` against a grid `parameter`, one line (numeric parameter) or bar group per `group`."""
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    numeric = pd.api.types.is_numeric_dtype(table[parameter])
    groups = list(table.groupby(group, sort=False))
    for k, (name, part) in enumerate(groups):
        part = part.sort_values(parameter) if numeric else part
        values = 100 * part[metric] if metric in _FRACTIONS else part[metric]
        if numeric:
            ax.plot(part[parameter], values, marker="o", label=str(name))
        else:
            width = 0.8 / len(groups)
            positions = np.arange(len(part)) + (k - (len(groups) - 1) / 2) * width
            ax.bar(positions, values, width=width, label=str(name))
            ax.set_xticks(np.arange(len(part)), labels=[str(v) for v in part[parameter]])
    if numeric:
        positive = table[parameter][table[parameter] > 0]
        if len(positive) and positive.max() / positive.min() > 50:
            # Grids such as stored fractions span decades: a log axis that still shows 0.
            ax.set_xscale("symlog", linthresh=float(positive.min()))
    ax.set_xlabel(parameter)
    ax.set_ylabel(ylabel or metric)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(groups) > 1:
        ax.legend()
    return fig
