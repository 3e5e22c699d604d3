"""The mask-overlap tables and figures of one run's masks (Experiment 1), written by every run of a masked method."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from supermasks.analysis.overlap import mean_overlap, overlap_table, pair_matrix
from supermasks.analysis.stats import rank_by_overlap
from supermasks.store.files import write_csv

Masks = dict[int, dict[str, np.ndarray]]


def overlap_report(masks: Masks, directory: Path, *, figures: bool = True, title: str = "",
                   figure_formats: tuple[str, ...] = ("png",)) -> pd.DataFrame:
    """Write the overlap tables (and figures) of `masks` under `directory`; return the per-layer means.

    Files: `overlap.csv` (every ordered pair and layer, with the tests), `overlap_ranked.csv`
    (each pair once per layer, ranked by overlap relative to chance, highest first),
    `overlap_summary.csv` (means per layer), and in `figures/` per layer a heat map of overlap
    relative to chance, the 3-D scatter with the chance plane and the grid of mask images, in
    each of `figure_formats`.
    """
    table = overlap_table(masks)
    write_csv(directory / "overlap.csv", table)
    write_csv(directory / "overlap_ranked.csv", rank_by_overlap(table))
    summary = mean_overlap(table)
    write_csv(directory / "overlap_summary.csv", summary)
    if figures:
        from supermasks.analysis.plots import mask_grid, overlap_heatmap, overlap_scatter3d, save_figure

        fig_dir = directory / "figures"
        for layer in summary["layer"]:
            heading = f"{title}, {layer}" if title else layer
            relative, task_ids = pair_matrix(table, layer)
            save_figure(overlap_heatmap(relative, [str(t) for t in task_ids], f"Mask overlap / chance: {heading}"),
                        fig_dir, f"overlap_heatmap_{layer}", figure_formats)
            save_figure(overlap_scatter3d(table, layer, f"Mask overlap: {heading}"), fig_dir,
                        f"overlap_scatter3d_{layer}", figure_formats)
            save_figure(mask_grid(masks, layer, f"Masks: {heading}"), fig_dir, f"masks_{layer}", figure_formats)
    return summary
