"""Plain-text rendering of the summary over seeds and of the paired comparisons, settings named readably
(`lr=1e-3`, as `aggregate.labels` writes them)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from supermasks.aggregate.labels import missing, short_names, value_text
from supermasks.units import human_bytes

# Run-level metrics shown, with their header; accuracies in percent, differences in points.
COLUMNS = {"ACC": "ACC %", "BWT": "BWT", "FWT": "FWT", "forgetting": "forgetting",
           "task_inference_accuracy": "task inf. %", "memory_per_task_bytes": "memory/task",
           "memory_total_bytes": "memory total", "seconds_per_task": "time/task"}
_POINTS = ("ACC", "BWT", "FWT", "forgetting", "task_inference_accuracy")


def _missing(value: float) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def interval_cell(metric: str, mean: float, low: float, high: float) -> str:
    """`95.36 ± 0.42`: the mean and the half-width of its interval (the mean alone with one seed)."""
    if _missing(mean):
        return "n/a"
    half = (high - low) / 2 if not (_missing(low) or _missing(high)) else math.nan
    if metric.endswith("_bytes"):
        return human_bytes(mean) + ("" if _missing(half) or half == 0 else f" ± {human_bytes(half)}")
    if metric in _POINTS:
        sign = "+" if metric not in ("ACC", "task_inference_accuracy") else ""
        text = f"{100 * mean:{sign}.2f}"
        return text if _missing(half) else f"{text} ± {100 * half:.2f}"
    text = f"{mean:.2f} s" if metric == "seconds_per_task" else f"{mean:,.3g}"
    return text if _missing(half) else f"{text} ± {half:.2f}"


def format_summary(summary: pd.DataFrame, settings: Sequence[str] = ()) -> str:
    """Methods (and setting combinations) as rows, run-level metrics as `mean ± half-width` columns, one block
    per benchmark; a header line says how many seeds each row has."""
    rows = summary[summary["task"].isna()]
    blocks = []
    for benchmark, part in rows.groupby("benchmark", sort=False):
        metrics = [m for m in COLUMNS if part.loc[part["metric"] == m, "mean"].notna().any()]
        header = ["method", *short_names(settings).values(), *(COLUMNS[m] for m in metrics), "seeds"]
        body = []
        for keys, group in part.groupby(["method", *settings], sort=False, dropna=False):
            keys = keys if isinstance(keys, tuple) else (keys,)
            by_metric = group.set_index("metric")
            cells = []
            for metric in metrics:
                if metric in by_metric.index:
                    r = by_metric.loc[metric]
                    cells.append(interval_cell(metric, r["mean"], r["ci_low"], r["ci_high"]))
                else:
                    cells.append("n/a")
            seeds = int(by_metric.loc["ACC", "n_seeds"]) if "ACC" in by_metric.index else int(group["n_seeds"].max())
            body.append([*("-" if missing(k) else value_text(k) for k in keys), *cells, str(seeds)])
        widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
        lead = 1 + len(settings)
        line = lambda cells: "  ".join(c.ljust(w) if i < lead else c.rjust(w)  # noqa: E731
                                       for i, (c, w) in enumerate(zip(cells, widths)))
        blocks.append("\n".join([f"benchmark: {benchmark}", line(header), *map(line, body)]))
    return "\n\n".join(blocks)


def format_comparisons(comparisons: pd.DataFrame, metrics: Sequence[str] = ("ACC",),
                       settings: Sequence[str] = ()) -> str:
    """One line per paired comparison of `metrics`: the mean difference with its interval and both p-values."""
    lines = []
    settings = [s for s in settings if s in comparisons.columns]  # a method's own settings name the method
    names = short_names(settings)
    for row in comparisons[comparisons["metric"].isin(metrics)].to_dict("records"):
        scale, unit = (100.0, " points") if row["metric"] in _POINTS else (1.0, "")
        where = ", ".join(f"{names[s]}={value_text(row[s])}" for s in settings if not missing(row[s]))
        diff = row["mean_difference"]
        interval = ("" if _missing(row["diff_ci_low"])
                    else f" [{scale * row['diff_ci_low']:+.2f}, {scale * row['diff_ci_high']:+.2f}]")
        p = "p n/a" if _missing(row["p_value"]) else f"p = {row['p_value']:.3g}, Holm {row['p_holm']:.3g}"
        text = "n/a" if _missing(diff) else f"{scale * diff:+.2f}{unit}{interval}"
        lines.append(f"  {row['benchmark']}{' (' + where + ')' if where else ''} {row['metric']}: "
                     f"{row['a']} - {row['b']} {text} over {row['n_pairs']} seed(s), {p}")
    return "\n".join(lines)


def format_aggregate(summary: pd.DataFrame, comparisons: pd.DataFrame, settings: Sequence[str] = (),
                     by: str = "method") -> str:
    """The summary table, what its cells mean, and the paired comparisons of ACC (when there are any)."""
    text = (format_summary(summary, settings) + "\n\nmean ± half-width of the 95% Student t interval over the "
            "seeds; ACC, BWT, FWT and forgetting in percentage points")
    lines = format_comparisons(comparisons, settings=settings)
    if lines:
        text += f"\n\npaired t-tests over the same seeds ({by}; p-values Holm-adjusted within each metric):\n{lines}"
    return text
