"""The convolutional-network tables (docs/conv.md): SupSup with LeNet-5 on rotated tasks."""

from __future__ import annotations

from pathlib import Path

from supermasks.results.tables._format import benchmark_runs, markdown, percent
from supermasks.units import human_bytes


def lenet5_table(result_dir: Path) -> str:
    """Each task's accuracy after its own training and after the last task, then ACC, BWT and the bytes kept.

    A task's rotation is `task * rotation_step` degrees, the step read from the run's config (by default
    360 // num_tasks, as the rotated benchmark makes it).
    """
    ((benchmark, config, metrics, accuracy),) = benchmark_runs(result_dir)
    data = config["data"]
    step = data.get("rotation_step") or 360 // data["num_tasks"]
    matrix = accuracy.drop(columns=["after"]).to_numpy(dtype=float)
    rows = [[str(t), f"{t * step:g}", f"{percent(matrix[t, t])}%", f"{percent(matrix[-1, t])}%"]
            for t in range(len(matrix))]
    table = markdown(["task", "rotation (degrees)", "after its own training", "after the last task"],
                     ["l", "r", "r", "r"], rows)
    return (table + f"\n\nACC {percent(metrics['ACC'])}%, BWT {percent(metrics['BWT'], signed=True)} points; "
            f"{human_bytes(metrics['memory_per_task_bytes'])} per task, {human_bytes(metrics['memory_total_bytes'])} "
            f"for the whole model with its {len(matrix)} masks.")


__all__ = ["lenet5_table"]
