"""Analysis of how tasks share the network: mask overlap, its statistical tests, and figures."""

from .overlap import OVERLAP_COLUMNS, chance_jaccard, jaccard, mean_overlap, overlap_matrix, overlap_table
from .plots import mask_grid, overlap_heatmap, overlap_scatter3d, save_figure
from .stats import (
    STAT_COLUMNS,
    holm,
    mcnemar_from_counts,
    overlap_gt_chance_p,
    pair_statistics,
    sort_by_similarity,
    ttest_from_counts,
)

__all__ = [
    "OVERLAP_COLUMNS",
    "STAT_COLUMNS",
    "chance_jaccard",
    "holm",
    "jaccard",
    "mask_grid",
    "mcnemar_from_counts",
    "mean_overlap",
    "overlap_gt_chance_p",
    "overlap_heatmap",
    "overlap_matrix",
    "overlap_scatter3d",
    "overlap_table",
    "pair_statistics",
    "save_figure",
    "sort_by_similarity",
    "ttest_from_counts",
]
