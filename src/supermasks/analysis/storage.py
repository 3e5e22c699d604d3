"""Accuracy against total stored bytes: the trade-off of Figure 2 (right) of the SupSup paper.

Wortsman, Ramanujan et al., "Supermasks in Superposition", NeurIPS 2020, plot each method's
average accuracy over tasks (ACC) against the bytes it stores after the last task, on a log
axis: a mask per task (SupSup) costs bits per weight, a network per task (the upper bound) a
float per weight. Rows here are (method, label, ACC, memory_total_bytes); one marker per row,
one colour per method, one marker shape per setting of a method.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

STORAGE_COLUMNS = ("method", "label", "ACC", "memory_total_bytes")
_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive",
            "tab:cyan", "tab:gray")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def accuracy_vs_bytes(rows: pd.DataFrame) -> Figure:
    """ACC (%) against total stored bytes (log x), one marker per row named by its `label` in the legend.

    `rows`: the columns of `STORAGE_COLUMNS`, ACC a fraction in [0, 1]. Rows with a missing or
    non-positive byte count, or a missing ACC, cannot be placed on the axes: ValueError naming them.
    """
    missing = [c for c in STORAGE_COLUMNS if c not in rows.columns]
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
    methods = list(pd.unique(rows["method"]))
    seen: dict[object, int] = {}
    for x, y, method, label in zip(stored, 100.0 * acc, rows["method"], labels):
        k = methods.index(method)  # one colour per method; its settings take the markers in turn
        n = seen[method] = seen.get(method, -1) + 1
        ax.scatter([x], [y], color=_COLOURS[k % len(_COLOURS)], marker=_MARKERS[n % len(_MARKERS)], s=45,
                   label=label, zorder=3)
    ax.set_xscale("log")
    # On a span under a few decades matplotlib labels minor ticks too: small and turned, they do not overlap.
    ax.tick_params(axis="x", which="minor", labelsize="x-small", labelrotation=40)
    ax.set_xlabel("total stored bytes after the last task (log scale)")
    ax.set_ylabel("ACC (%)")
    ax.grid(alpha=0.3, which="both")
    fig.legend(loc="outside lower center", fontsize="small", ncols=1)
    ax.set_title("accuracy against stored bytes")
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
