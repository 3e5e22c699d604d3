"""What Experiment 2 (`studies.transfer`) writes beyond its units' rows: similarity files, tables, figures, a summary.

The E2 similarity matrices and the tasks' relatedness are written per (benchmark, seed) by the
random run, and read back as points; after all units, the study-level tables (`summary.csv`,
`final.csv`, ...) and figures, and the short text the command line prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from supermasks.data import Task
from supermasks.store.files import write_csv
from supermasks.studies.transfer_file import TransferStudy

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from supermasks.methods.supsup import SupSup


def write_similarity(directory: Path, bench: str, seed: int, method: SupSup, tasks: list[Task]) -> list[Path]:
    """The E2 similarity matrices of the random run's signatures, and the tasks' relatedness where defined."""
    from supermasks.analysis.similarity import e2_matrices
    from supermasks.data import task_relatedness
    from supermasks.runner.overlap import relatedness_table

    written = []
    for layer, matrix in e2_matrices(method.signatures_).items():
        labels = [f"task_{t}" for t in range(len(matrix))]
        written.append(directory / "similarity" / f"{bench}-seed{seed}-{layer}.csv")
        write_csv(written[-1], pd.DataFrame(matrix, columns=labels).assign(task=labels).set_index("task").reset_index())
    related = task_relatedness(tasks)
    if related is not None:
        written.append(_relatedness_path(directory, bench, seed))
        write_csv(written[-1], relatedness_table(related))
    return written


def _relatedness_path(directory: Path, bench: str, seed: int) -> Path:
    return directory / "relatedness" / f"{bench}-seed{seed}.csv"


def similarity_points(directory: Path, bench: str, seeds: list[int]) -> tuple[dict[str, pd.DataFrame], str] | None:
    """Per layer, every pair of distinct tasks and seed: `seed, relatedness, similarity` (|cos| of their
    signatures), from the study's `similarity/` and `relatedness/` files; with the relatedness's name.
    None where no seed has both (a benchmark without relatedness, a study written before it was saved)."""
    import numpy as np

    points: dict[str, list[pd.DataFrame]] = {}
    name = ""
    for seed in seeds:
        path = _relatedness_path(directory, bench, seed)
        if not path.is_file():
            continue
        related = pd.read_csv(path)
        name = str(related["name"].iloc[0])
        matrix = related.pivot(index="task_i", columns="task_j", values="value").to_numpy(dtype=float)
        stem = f"{bench}-seed{seed}-"
        for layer_path in sorted((directory / "similarity").glob(f"{stem}*.csv")):
            similarity = pd.read_csv(layer_path).set_index("task").to_numpy(dtype=float)
            ii, jj = np.triu_indices(len(similarity), k=1)
            points.setdefault(layer_path.stem.removeprefix(stem), []).append(pd.DataFrame(
                {"seed": seed, "relatedness": matrix[ii, jj], "similarity": similarity[ii, jj]}))
    if not points:
        return None
    return {layer: pd.concat(frames, ignore_index=True) for layer, frames in points.items()}, name


def _front(frame: pd.DataFrame, first: list[str]) -> pd.DataFrame:
    return frame[first + [c for c in frame.columns if c not in first]]


def write_study_tables(study: TransferStudy, evaluation: list[pd.DataFrame], alphas: list[pd.DataFrame],
                       prediction: list[pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The study-level tables and figures from every unit's rows."""
    from supermasks.analysis.plots import save_figure
    from supermasks.analysis.efficiency import (alphas_figure, budget_summary, efficiency_curves, final_summary,
                                              similarity_heatmaps)

    directory = study.directory()
    keys = ["benchmark", "seed", "transfer"]
    tables = {"evaluation": _front(pd.concat(evaluation, ignore_index=True), keys),
              "prediction": _front(pd.concat(prediction, ignore_index=True), keys)}
    tables["alphas"] = (_front(pd.concat(alphas, ignore_index=True), keys) if alphas
                        else pd.DataFrame(columns=[*keys, "task", "layer", "source_task", "alpha"]))
    tables["summary"] = budget_summary(tables["evaluation"])
    tables["final"] = final_summary(tables["evaluation"])
    for name, frame in tables.items():
        write_csv(directory / f"{name}.csv", frame)
    figures = directory / "figures"
    first_seed = study.seeds[0]
    for bench in study.benchmarks:
        save_figure(efficiency_curves(tables["summary"], bench), figures, f"efficiency_{bench}")
        matrices = {}
        for path in sorted((directory / "similarity").glob(f"{bench}-seed{first_seed}-*.csv")):
            layer = path.stem.removeprefix(f"{bench}-seed{first_seed}-")
            matrices[layer] = pd.read_csv(path).set_index("task").to_numpy()
        if matrices:
            save_figure(similarity_heatmaps(matrices, f"{bench}: |cos| between task signatures (seed {first_seed})"),
                        figures, f"similarity_{bench}")
        found = similarity_points(directory, bench, study.seeds)
        for layer, points in (found[0].items() if found else []):
            save_figure(similarity_vs_relatedness(points, found[1], bench, layer), figures,
                        f"similarity_vs_relatedness_{bench}_{layer}")
        for transfer in study.transfers:
            chosen = tables["alphas"]
            chosen = chosen[(chosen.benchmark == bench) & (chosen.transfer == transfer) & (chosen.seed == first_seed)]
            if transfer in ("similar", "soft") and len(chosen):
                save_figure(alphas_figure(tables["alphas"], bench, transfer, first_seed), figures,
                            f"alphas_{bench}_{transfer}")
    return tables


def similarity_vs_relatedness(points: pd.DataFrame, name: str, bench: str, layer: str) -> Figure:
    """|cos| between task signatures against the tasks' relatedness, one point per pair and seed (a Figure)."""
    from supermasks.analysis.plots import overlap_vs_relatedness

    return overlap_vs_relatedness(points, name, f"{bench}, {layer}: signature similarity against relatedness",
                                  value="similarity", ylabel="|cos| between task signatures", chance=None)


def study_text(tables: dict[str, pd.DataFrame]) -> str:
    """A short text summary: per benchmark and budget, each mode's mean accuracy and its difference from random."""
    summary = tables["summary"]
    lines = []
    for bench, group in summary.groupby("benchmark", sort=False):
        lines.append(f"{bench}: mean accuracy of tasks 1.. (95% interval) after each budget; p: paired t-test vs random")
        for budget, rows in group.groupby("budget"):
            cells = []
            for row in rows.itertuples():
                cell = f"{row.transfer} {100 * row.mean:5.1f}%"
                if row.transfer != "random" and pd.notna(row.p_value):
                    cell += f" ({100 * row.mean_difference:+.1f}, p={row.p_value:.3f})"
                cells.append(cell)
            lines.append(f"  {budget:>5} steps: " + "   ".join(cells))
    return "\n".join(lines)


__all__ = ["similarity_points", "similarity_vs_relatedness", "study_text", "write_similarity", "write_study_tables"]
