"""Analysis of how tasks share the network: mask overlap, BN-signature similarity, statistical tests, figures."""

from __future__ import annotations

import importlib
from typing import Any

# name -> submodule. Imported on first use, so `supermasks.analysis.overlap` (used after training)
# does not load matplotlib (plots, efficiency) or scipy (stats, efficiency) before they are needed.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("OVERLAP_COLUMNS", "chance_jaccard", "jaccard", "mean_overlap", "overlap_matrix",
                     "overlap_table"), "overlap"),
    **dict.fromkeys(("mask_grid", "overlap_heatmap", "overlap_scatter3d", "save_figure"), "plots"),
    **dict.fromkeys(("determine_alphas", "determine_alphas_per_layer", "determine_alphas_seed",
                     "determine_alphas_seed_per_layer", "e1_matrix", "e2_matrices", "soft_alphas",
                     "soft_alphas_per_layer"), "similarity"),
    **dict.fromkeys(("STAT_COLUMNS", "holm", "mcnemar_from_counts", "overlap_gt_chance_p", "pair_statistics",
                     "sort_by_similarity", "ttest_from_counts"), "stats"),
    **dict.fromkeys(("BUDGET_SUMMARY_COLUMNS", "alphas_figure", "budget_summary", "efficiency_curves",
                     "final_summary", "per_seed_scores", "similarity_heatmaps"), "efficiency"),
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'supermasks.analysis' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value  # the next access is a plain lookup
    return value


__all__ = [
    "BUDGET_SUMMARY_COLUMNS",
    "OVERLAP_COLUMNS",
    "STAT_COLUMNS",
    "alphas_figure",
    "budget_summary",
    "chance_jaccard",
    "determine_alphas",
    "determine_alphas_per_layer",
    "determine_alphas_seed",
    "determine_alphas_seed_per_layer",
    "e1_matrix",
    "e2_matrices",
    "efficiency_curves",
    "final_summary",
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
    "per_seed_scores",
    "save_figure",
    "similarity_heatmaps",
    "soft_alphas",
    "soft_alphas_per_layer",
    "sort_by_similarity",
    "ttest_from_counts",
]
