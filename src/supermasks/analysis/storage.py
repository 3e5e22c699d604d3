"""Accuracy against total stored bytes: the trade-off of Figure 2 (right) of the SupSup paper.

Wortsman, Ramanujan et al., "Supermasks in Superposition", NeurIPS 2020, plot each method's
average accuracy over tasks (ACC) against the bytes it stores after the last task, on a log
axis: a mask per task (SupSup) costs bits per weight, a network per task (the upper bound) a
float per weight. Rows here are (method, label, ACC, memory_total_bytes); one marker per row,
one colour per method (or per value of another column), one marker shape per setting of a method.
`run_points` makes such rows from the per-run tables of a study or a compare run, and
`write_accuracy_vs_bytes` writes them with their figure.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # matplotlib loads only where a figure is drawn: the table alone does not need it
    from matplotlib.figure import Figure

STORAGE_COLUMNS = ("method", "label", "ACC", "memory_total_bytes")
_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive",
            "tab:cyan", "tab:gray")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
STORAGE_FILE = "accuracy_vs_bytes"  # <directory>/accuracy_vs_bytes.csv and <directory>/figures/accuracy_vs_bytes.*

log = logging.getLogger(__name__)


def accuracy_vs_bytes(rows: pd.DataFrame, *, colour_by: str = "method", joined: Collection[object] = (),
                      title: str = "accuracy against stored bytes") -> Figure:
    """ACC (%) against total stored bytes (log x), one marker per row named by its `label` in the legend.

    `rows`: the columns of `STORAGE_COLUMNS` (and `colour_by`), ACC a fraction in [0, 1]; one
    colour per value of `colour_by`, whose rows take the marker shapes in turn. The rows of each
    value in `joined` are also joined by a line in order of bytes (a setting swept over one axis,
    such as SupSup's density budget in Figure 2). Rows with a missing or non-positive byte count,
    or a missing ACC, cannot be placed on the axes: ValueError naming them.
    """
    from matplotlib.figure import Figure

    missing = [c for c in (*STORAGE_COLUMNS, colour_by) if c not in rows.columns]
    if missing:
        raise ValueError(f"the rows lack the columns {missing}; they have {list(rows.columns)}")
    acc = rows["ACC"].to_numpy(dtype=np.float64)
    stored = rows["memory_total_bytes"].to_numpy(dtype=np.float64)
    bad = ~(np.isfinite(acc) & np.isfinite(stored) & (stored > 0))
    if bad.any():
        raise ValueError(f"rows {list(rows['label'][bad])} have no ACC or no positive byte count to plot")
    labels = [str(label) for label in rows["label"]]
    fig = Figure(figsize=(6.5, 4.5 + 0.2 * len(labels)), layout="constrained")
    ax = fig.subplots()
    groups = list(pd.unique(rows[colour_by]))
    seen: dict[object, int] = {}
    for x, y, group, label in zip(stored, 100.0 * acc, rows[colour_by], labels):
        k = groups.index(group)  # one colour per group (method); its settings take the markers in turn
        n = seen[group] = seen.get(group, -1) + 1
        ax.scatter([x], [y], color=_COLOURS[k % len(_COLOURS)], marker=_MARKERS[n % len(_MARKERS)], s=45,
                   label=label, zorder=3)
    for group in joined:
        if group not in groups:
            continue
        chosen = (rows[colour_by] == group).to_numpy()
        order = np.argsort(stored[chosen], kind="stable")
        ax.plot(stored[chosen][order], 100.0 * acc[chosen][order], color=_COLOURS[groups.index(group) % len(_COLOURS)],
                linewidth=1.2, alpha=0.7, zorder=2)
    ax.set_xscale("log")
    # On a span under a few decades matplotlib labels minor ticks too: small and turned, they do not overlap.
    ax.tick_params(axis="x", which="minor", labelsize="x-small", labelrotation=40)
    ax.set_xlabel("total stored bytes after the last task (log scale)")
    ax.set_ylabel("ACC (%)")
    ax.grid(alpha=0.3, which="both")
    fig.legend(loc="outside lower center", fontsize="small", ncols=1)
    ax.set_title(title)
    return fig


def storage_rows(summary: pd.DataFrame, settings: Sequence[str] = ()) -> pd.DataFrame:
    """`STORAGE_COLUMNS` rows from a summary over seeds (`aggregate.summary.summarize`): one per group of
    benchmark, method and `settings` with both a run-level ACC and memory_total_bytes, their means over seeds.

    The label is the method, then the settings that distinguish the group (and the benchmark when
    there are several).
    """
    run_level = summary[summary["task"].isna() & summary["metric"].isin(["ACC", "memory_total_bytes"])]
    keys = ["benchmark", "method", *settings]
    several_benchmarks = run_level["benchmark"].nunique() > 1
    rows = []
    for group_keys, group in run_level.groupby(keys, sort=False, dropna=False):
        means = dict(zip(group["metric"], group["mean"]))
        if "ACC" not in means or "memory_total_bytes" not in means:
            continue
        values = dict(zip(keys, group_keys))
        parts = [f"{s}={values[s]}" for s in settings]
        if several_benchmarks:
            parts.insert(0, str(values["benchmark"]))
        label = str(values["method"]) + (f" ({', '.join(parts)})" if parts else "")
        rows.append({"method": values["method"], "label": label, "ACC": float(means["ACC"]),
                     "memory_total_bytes": float(means["memory_total_bytes"])})
    return pd.DataFrame(rows, columns=list(STORAGE_COLUMNS))


def run_points(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """One point per group of `keys` in `frame` (one row per run, benchmark and method, with `ACC` and
    `memory_total_bytes`): the keys, `n_runs` (the seeds averaged), and the means of ACC and of the bytes.

    Groups keep their first appearance's order; rows without a finite ACC or a positive byte count
    (a method that reports no memory) are left out before averaging.
    """
    usable = frame[np.isfinite(frame["ACC"].to_numpy(dtype=np.float64))
                   & (frame["memory_total_bytes"].to_numpy(dtype=np.float64) > 0)]
    if not len(usable):
        return pd.DataFrame(columns=[*keys, "n_runs", "ACC", "memory_total_bytes"])
    grouped = usable.groupby(list(keys), sort=False, dropna=False)
    points = grouped[["ACC", "memory_total_bytes"]].mean()
    points.insert(0, "n_runs", grouped.size())
    return points.reset_index()


def write_accuracy_vs_bytes(points: pd.DataFrame, directory: Path, *, figure: bool = True,
                            formats: Sequence[str] = ("png",), colour_by: str = "method",
                            joined: Collection[object] = (), title: str = "accuracy against stored bytes") -> list[Path]:
    """`accuracy_vs_bytes.csv` (the `points`) in `directory` and, with `figure` and at least two points to set
    against each other, `figures/accuracy_vs_bytes.<format>`; returns the paths written."""
    from supermasks.store.files import write_csv

    directory = Path(directory)
    write_csv(directory / f"{STORAGE_FILE}.csv", points)
    written = [directory / f"{STORAGE_FILE}.csv"]
    if not figure:
        return written
    if len(points) < 2:
        log.info("%s: %d point(s) of accuracy against stored bytes, so no %s figure", directory, len(points),
                 STORAGE_FILE)
        return written
    from supermasks.analysis.plots import save_figure

    fig = accuracy_vs_bytes(points, colour_by=colour_by, joined=joined, title=title)
    return written + save_figure(fig, directory / "figures", STORAGE_FILE, formats)
