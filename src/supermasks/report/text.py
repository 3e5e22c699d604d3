"""Plain-text rendering of the method comparison table."""

from __future__ import annotations

import math

import pandas as pd

from supermasks.units import human_bytes

_PERCENT = ("ACC", "BWT", "FWT", "forgetting")
_HEADERS = {"ACC": "ACC %", "BWT": "BWT", "FWT": "FWT", "forgetting": "forgetting",
            "task_inference_accuracy": "task inf. %",
            "memory_per_task_bytes": "memory/task", "memory_peak_training_bytes": "peak training",
            "memory_total_bytes": "memory total",
            "seconds_per_task": "time/task", "samples_per_second": "samples/s"}


def _cell(column: str, value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if column in ("ACC", "task_inference_accuracy"):
        return f"{100 * value:.2f}"
    if column in _PERCENT:
        return f"{100 * value:+.2f}"
    if column.endswith("_bytes"):
        return human_bytes(value)
    if column == "seconds_per_task":
        return f"{value:.2f} s"
    return f"{value:,.0f}"


def format_comparison(table: pd.DataFrame) -> str:
    """Methods as rows, metrics as columns, one block per benchmark."""
    blocks = []
    for bench, group in table.groupby("benchmark", sort=False):
        columns = [c for c in _HEADERS if c in group.columns]
        header = ["method", *(_HEADERS[c] for c in columns)]
        body = [[row["method"], *(_cell(c, row[c]) for c in columns)] for _, row in group.iterrows()]
        widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
        lines = [f"benchmark: {bench}",
                 "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))]
        lines += ["  ".join(x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(r, widths)))
                  for r in body]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
