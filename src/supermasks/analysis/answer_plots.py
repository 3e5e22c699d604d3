"""The one figure that opens a study's report, for Experiment 3, the forgetting study and the replay study.

Each function takes a small table of means (over seeds) and returns a Figure; saving is separate.
`grouped_bars`: one panel per measure, a group of bars per benchmark, a bar per way of doing it
(Experiment 3: ACC and task-inference accuracy per part). `before_after`: one row per method, a
dot before and one after joined by an arrow (the forgetting study: the first task right after
learning it and after the last task). `against_fraction`: a measure against a stored fraction on a
log axis that still shows 0 (the replay study's fraction grid).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

COLOURS = ("tab:gray", "tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
           "tab:olive", "tab:cyan")


def grouped_bars(table: pd.DataFrame, measures: Sequence[tuple[str, str]], title: str, *, group: str = "benchmark",
                 bar: str = "label") -> Figure:
    """A panel per `(column, axis label)` of `measures` (fractions, drawn in percent on one 0-100 axis); in each,
    a group of bars per `group` value and a bar per `bar` value, coloured alike in every panel. A missing value
    (a part given the task id has no task inference) leaves its bar out."""
    groups, bars = list(pd.unique(table[group])), list(pd.unique(table[bar]))
    fig = Figure(figsize=(4.2 * len(measures) + 1.6, 3.4), layout="constrained")
    axes = fig.subplots(1, len(measures), sharey=True, squeeze=False)[0]
    width = 0.8 / max(len(bars), 1)
    for ax, (column, label) in zip(axes, measures):
        for k, name in enumerate(bars):
            rows = table[table[bar] == name].set_index(group)
            values = np.array([100 * rows[column].get(g, np.nan) for g in groups], dtype=float)
            ax.bar(np.arange(len(groups)) + (k - (len(bars) - 1) / 2) * width, values, width=width,
                   color=COLOURS[k % len(COLOURS)], label=str(name))
        ax.set_xticks(np.arange(len(groups)), labels=[str(g) for g in groups])
        ax.set_ylim(0, 100)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize="small", frameon=False)
    fig.suptitle(title)
    return fig


def before_after(table: pd.DataFrame, title: str, xlabel: str, names: tuple[str, str]) -> Figure:
    """One row per `label` (top to bottom in `table`'s order): `before` as a hollow dot, `after` as a filled one,
    an arrow from the first to the second (fractions, drawn in percent on a 0-100 axis); `names` name the dots."""
    fig = Figure(figsize=(6.4, 0.9 + 0.45 * len(table)), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(table))[::-1]
    before, after = 100 * table["before"].to_numpy(float), 100 * table["after"].to_numpy(float)
    for row, start, end in zip(y, before, after):
        if np.isfinite(start) and np.isfinite(end) and abs(end - start) > 0.5:
            ax.annotate("", (end, row), (start, row), arrowprops={"arrowstyle": "->", "color": "0.4"})
    ax.scatter(before, y, facecolors="white", edgecolors="tab:blue", s=50, zorder=3, label=names[0],
               clip_on=False)
    ax.scatter(after, y, color="tab:red", s=50, zorder=3, label=names[1], clip_on=False)
    ax.set_yticks(y, labels=[str(label) for label in table["label"]])
    ax.set_xlim(0, 100)
    ax.set_ylim(-0.7, len(table) - 0.3)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower left", fontsize="small", bbox_to_anchor=(0, 1.0), ncols=2, frameon=False)
    fig.suptitle(title)
    return fig


def against_fraction(table: pd.DataFrame, title: str, xlabel: str, ylabel: str) -> Figure:
    """`value` (a fraction, drawn in percent) against `fraction` (drawn in percent, a log axis that still shows 0),
    one line per `label`."""
    fig = Figure(figsize=(6.0, 3.6), layout="constrained")
    ax = fig.add_subplot()
    for k, (label, rows) in enumerate(table.groupby("label", sort=False)):
        rows = rows.sort_values("fraction")
        ax.plot(100 * rows["fraction"], 100 * rows["value"], marker="o", color=COLOURS[(k + 1) % len(COLOURS)],
                label=str(label))
    positive = table["fraction"][table["fraction"] > 0]
    if len(positive):
        ax.set_xscale("symlog", linthresh=float(100 * positive.min()))
    ticks = sorted(set(100 * table["fraction"]))
    ax.set_xticks(ticks, labels=[f"{t:g}" for t in ticks], fontsize="small")
    ax.minorticks_off()
    ax.set_ylim(0, 100)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if table["label"].nunique() > 1:
        ax.legend(fontsize="small")
    fig.suptitle(title)
    return fig


__all__ = ["against_fraction", "before_after", "grouped_bars"]
