"""A study's accuracy against total stored bytes: Figure 2 (right) of the SupSup paper over its runs.

Wortsman, Ramanujan et al., "Supermasks in Superposition", NeurIPS 2020, set each method's ACC
against the bytes it stores after the last task. Here every run of a study is a point (with
seeds: the means over them): its ACC (`mean_j R[T-1, j]`) and its `memory_total_bytes` (what the
method keeps after the last task: per-task state times the tasks plus what all tasks share, as
`metrics.json` and the seeds aggregate count it). A part is one series (one colour; a part with
several methods one series per method), and a part whose grid sweeps one setting (SupSup's
density budget) is drawn as a line through its points.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from supermasks.analysis.storage import run_points, write_accuracy_vs_bytes


def _shown(value: object) -> str:
    """A grid value for a label: `8`, not `8.0`, for a whole number read back as a float."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def study_points(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per part, grid point, benchmark and method of a study's table (`study.csv`: a row per run, seed,
    benchmark and method): those keys, `series` (what shares a colour), `label`, `n_runs`, `ACC` and
    `memory_total_bytes` (means over the seeds)."""
    grid = [c for c in frame.columns if c.startswith("grid.")]
    points = run_points(frame, ["part", *grid, "benchmark", "method"])
    several_benchmarks = frame["benchmark"].nunique() > 1
    methods = frame.groupby("part", sort=False)["method"].nunique()
    series, labels = [], []
    for row in points.to_dict("records"):
        name = str(row["part"]) + (f" / {row['method']}" if methods[row["part"]] > 1 else "")
        name += f" ({row['benchmark']})" if several_benchmarks else ""
        values = [f"{c.removeprefix('grid.')}={_shown(row[c])}" for c in grid if pd.notna(row[c])]
        series.append(name)
        labels.append(f"{name}: {', '.join(values)}" if values else name)
    points.insert(len(grid) + 3, "series", series)
    points.insert(len(grid) + 4, "label", labels)
    return points


def swept_series(points: pd.DataFrame) -> list[str]:
    """The series of `study_points` whose points differ in exactly one grid setting: drawn as a line."""
    grid = [c for c in points.columns if c.startswith("grid.")]
    return [str(s) for s, rows in points.groupby("series", sort=False)
            if len(rows) > 1 and sum(rows[c].nunique() > 1 for c in grid) == 1]


def write_study_storage(frame: pd.DataFrame, directory: Path, name: str) -> list[Path]:
    """`accuracy_vs_bytes.csv` of the study's table `frame` in `directory`, and with two points or more
    `figures/accuracy_vs_bytes.png` (a line through each series that sweeps one setting); the paths written."""
    points = study_points(frame)
    return write_accuracy_vs_bytes(points, directory, colour_by="series", joined=swept_series(points),
                                   title=f"{name}: ACC against total stored bytes")


__all__ = ["study_points", "swept_series", "write_study_storage"]
