"""The mask-overlap tables and figures of one run's masks (Experiment 1), written by every run of a masked method."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from supermasks.analysis.overlap import mean_overlap, overlap_table, pair_matrix
from supermasks.analysis.stats import rank_by_overlap
from supermasks.data import Relatedness
from supermasks.store.files import write_csv

Masks = dict[int, dict[str, np.ndarray]]
RECEPTIVE_FIELD_UNITS = 8  # units of a 784-input layer drawn as 28 x 28 receptive fields, per task figure
PERMUTATIONS = 999  # relabellings of the tasks in the Mantel test (docs/algorithms.md section 2: at least 999)


def overlap_report(masks: Masks, directory: Path, *, initial: Masks | None = None,
                   initial_margins: dict[str, np.ndarray] | None = None, relatedness: Relatedness | None = None, figures: bool = True, title: str = "",
                   figure_formats: tuple[str, ...] = ("png",), permutations: int = PERMUTATIONS) -> pd.DataFrame:
    """Write the overlap tables (and figures) of `masks` under `directory`; return the per-layer means.

    Files: `overlap.csv` (every ordered pair and layer, with the tests), `overlap_ranked.csv`
    (each pair once per layer, ranked by overlap relative to chance, highest first),
    `overlap_summary.csv` (means per layer), and in `figures/` per layer a heat map of overlap
    relative to chance, the 3-D scatter with the chance plane and the grid of mask images, in
    each of `figure_formats`; for a layer reading 28 x 28 images, the receptive fields of a few
    units of the first and last task.

    With `initial` (each task's mask before training): `changes.csv`, the overlap of what the
    tasks switched on or off (`analysis.changes`), and its per-layer means in the summary
    (columns prefixed `changes_`); with `initial_margins` too (where every task started from one
    shared initial score: its distance to the threshold per layer), its chance is computed
    within strata of them. With `relatedness` (of the tasks, `data.task_relatedness`):
    `relatedness.csv` (task_i, task_j, value, name, related_when) and, for three tasks or more,
    the Mantel test per layer of overlap relative to chance against relatedness (`mantel_r`,
    `mantel_p`, and `mantel_p_at_floor` where no relabelling was as extreme, so that p is the
    bound 1 / (1 + permutations); `changes_mantel_*` for the learned changes), with a figure of
    overlap relative to chance against relatedness.
    """
    table = overlap_table(masks)
    write_csv(directory / "overlap.csv", table)
    write_csv(directory / "overlap_ranked.csv", rank_by_overlap(table))
    summary = mean_overlap(table)
    changes = None
    if initial is not None:
        from supermasks.analysis.changes import change_table, mean_changes

        changes = change_table(masks, initial, margins=initial_margins)
        write_csv(directory / "changes.csv", changes)
        means = mean_changes(changes).drop(columns=["num_pairs"])
        summary = summary.merge(means.rename(columns={c: f"changes_{c}" for c in means.columns if c != "layer"}),
                                on="layer", how="left")
    if relatedness is not None:
        write_csv(directory / "relatedness.csv", relatedness_table(relatedness))
        summary = _with_mantel(summary, table, changes, relatedness, permutations)
    write_csv(directory / "overlap_summary.csv", summary)
    if figures:
        _figures(masks, table, summary, relatedness, directory / "figures", title, figure_formats)
    return summary


def relatedness_table(relatedness: Relatedness) -> pd.DataFrame:
    """Every ordered pair of tasks (the diagonal included) with its relatedness, and what the number is."""
    size = len(relatedness.matrix)
    ii, jj = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return pd.DataFrame({"task_i": ii.ravel(), "task_j": jj.ravel(), "value": relatedness.matrix.ravel(),
                         "name": relatedness.name, "related_when": relatedness.related_when})


def _with_mantel(summary: pd.DataFrame, table: pd.DataFrame, changes: pd.DataFrame | None,
                 relatedness: Relatedness, permutations: int) -> pd.DataFrame:
    """`summary` with the Mantel r and p of each layer's ratio to chance against relatedness (NaN under 3 tasks)."""
    from supermasks.analysis.mantel import mantel

    measures = [("", table, "relative_to_chance")]
    if changes is not None:
        measures.append(("changes_", changes, "any_relative_to_chance"))
    columns: dict[str, list[float] | list[bool]] = {}
    for prefix, frame, column in measures:
        rs, ps, floors = [], [], []
        for layer in summary["layer"]:
            matrix, task_ids = pair_matrix(frame, layer, column)
            if len(task_ids) < 3 or not np.isfinite(matrix[~np.eye(len(matrix), dtype=bool)]).all():
                rs.append(np.nan)
                ps.append(np.nan)
                floors.append(False)
                continue
            result = mantel(matrix, relatedness.matrix[np.ix_(task_ids, task_ids)], permutations=permutations)
            rs.append(result.r)
            ps.append(result.p)
            floors.append(result.at_floor)  # p = 1 / (1 + permutations) is then a bound, not a value
        columns[f"{prefix}mantel_r"], columns[f"{prefix}mantel_p"] = rs, ps
        columns[f"{prefix}mantel_p_at_floor"] = floors
    return summary.assign(**columns, relatedness=relatedness.name)


def _figures(masks: Masks, table: pd.DataFrame, summary: pd.DataFrame, relatedness: Relatedness | None,
             fig_dir: Path, title: str, figure_formats: tuple[str, ...]) -> None:
    from supermasks.analysis.plots import (mask_grid, overlap_heatmap, overlap_scatter3d, overlap_vs_relatedness,
                                           receptive_fields, save_figure)

    task_ids = sorted(masks)
    for layer in summary["layer"]:
        heading = f"{title}, {layer}" if title else layer
        relative, ids = pair_matrix(table, layer)
        save_figure(overlap_heatmap(relative, [str(t) for t in ids], f"Mask overlap / chance: {heading}"),
                    fig_dir, f"overlap_heatmap_{layer}", figure_formats)
        save_figure(overlap_scatter3d(table, layer, f"Mask overlap: {heading}"), fig_dir,
                    f"overlap_scatter3d_{layer}", figure_formats)
        save_figure(mask_grid(masks, layer, f"Masks: {heading}"), fig_dir, f"masks_{layer}", figure_formats)
        first = masks[task_ids[0]][layer]
        if first.ndim == 2 and first.shape[1] == 28 * 28:
            units = range(min(RECEPTIVE_FIELD_UNITS, first.shape[0]))
            for task in {task_ids[0], task_ids[-1]}:
                save_figure(receptive_fields(masks[task][layer], list(units),
                                             title=f"Receptive fields of task {task}: {heading}"),
                            fig_dir, f"receptive_fields_{layer}_task{task}", figure_formats)
        if relatedness is not None and len(ids) >= 3:
            ii, jj = np.triu_indices(len(ids), k=1)
            points = pd.DataFrame({"seed": 0, "relatedness": relatedness.matrix[np.ix_(ids, ids)][ii, jj],
                                   "relative_to_chance": (relative[ii, jj] + relative[jj, ii]) / 2})
            save_figure(overlap_vs_relatedness(points, relatedness.name, f"Overlap against relatedness: {heading}"),
                        fig_dir, f"overlap_vs_relatedness_{layer}", figure_formats)
