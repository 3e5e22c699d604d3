"""A tiny sweep (2 methods x 2 benchmarks x 2 seeds on synthetic data) and ways to compare its results."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from supermasks.sweep import Sweep, load_sweep

CONFIG = """
name: tiny
data: {source: synthetic, num_tasks: 2}
training: {steps_per_task: 6, batch_size: 32, lr: 0.01}
run: {figures: false, overlap: false}
sweep:
  method: [supsup, naive]
"""
GRID = ["data.benchmark=permuted,rotated"]

# What differs between two runs of the same settings: wall times.
TIMES = {"seconds_per_task", "samples_per_second", "seconds", "train_seconds"}


def write_config(folder: Path, text: str = CONFIG) -> Path:
    path = folder / "tiny.yaml"
    path.write_text(text)
    return path


def tiny_sweep(folder: Path, out_dir: Path, seeds: int = 2, extra: tuple[str, ...] = ()) -> Sweep:
    return load_sweep(write_config(folder), [*GRID, f"run.out_dir={out_dir}", *extra], seeds=seeds)


def block(sweep: Sweep, index: int) -> Path:
    """Make run `index` fail: a file where its run directory should be."""
    path = sweep.runs[index].directory
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("not a directory")
    return path


def results(run_dir: Path) -> dict[str, object]:
    """Everything a finished run computed, without wall times: R, tasks.csv, metrics.json per (benchmark, method)."""
    found: dict[str, object] = {}
    for metrics in sorted(run_dir.glob("*/*/metrics.json")):
        where = metrics.parent
        label = f"{where.parent.name}/{where.name}"
        found[f"{label}/metrics"] = {k: v for k, v in json.loads(metrics.read_text()).items() if k not in TIMES}
        found[f"{label}/accuracy"] = (where / "accuracy.csv").read_text()
        tasks = pd.read_csv(where / "tasks.csv")
        found[f"{label}/tasks"] = tasks.drop(columns=[c for c in tasks.columns if c in TIMES]).to_csv(index=False)
    assert found, f"no results in {run_dir}"
    return found


def sweep_record(sweep: Sweep) -> dict:
    return json.loads((sweep.directory() / "sweep.json").read_text())
