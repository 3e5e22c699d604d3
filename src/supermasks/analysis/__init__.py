"""Analysis of how tasks share the network: mask overlap, BN-signature similarity, statistical tests
(pairwise tests, the Mantel test of overlap against relatedness), figures."""

from __future__ import annotations

import importlib
from typing import Any

# name -> submodule. Imported on first use, so `supermasks.analysis.overlap` (used after training)
# does not load matplotlib (plots, efficiency) or scipy (stats, efficiency) before they are needed.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("OVERLAP_COLUMNS", "chance_jaccard", "jaccard", "mean_overlap", "overlap_matrix",
                     "overlap_table", "pair_matrix"), "overlap"),
    **dict.fromkeys(("mask_grid", "overlap_heatmap", "overlap_scatter3d", "overlap_vs_relatedness",
                     "receptive_fields", "save_figure"), "plots"),
    # The function `mantel` is not re-exported: importing the submodule binds the package attribute
    # `mantel` to the module, which would shadow it. Import it as `supermasks.analysis.mantel.mantel`.
    **dict.fromkeys(("MantelResult", "correlation_interval", "mantel_over_seeds"), "mantel"),
    **dict.fromkeys(("determine_alphas", "determine_alphas_per_layer", "determine_alphas_seed",
                     "determine_alphas_seed_per_layer", "e1_matrix", "e2_matrices", "soft_alphas",
                     "soft_alphas_per_layer"), "similarity"),
    **dict.fromkeys(("STAT_COLUMNS", "holm", "mcnemar_from_counts", "mean_interval", "overlap_gt_chance_p",
                     "pair_statistics", "rank_by_overlap", "ttest_from_counts"), "stats"),
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
    "MantelResult",
    "OVERLAP_COLUMNS",
    "STAT_COLUMNS",
    "alphas_figure",
    "budget_summary",
    "chance_jaccard",
    "correlation_interval",
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
    "mantel_over_seeds",
    "mask_grid",
    "mcnemar_from_counts",
    "mean_interval",
    "mean_overlap",
    "overlap_gt_chance_p",
    "overlap_heatmap",
    "overlap_matrix",
    "overlap_scatter3d",
    "overlap_table",
    "overlap_vs_relatedness",
    "pair_matrix",
    "pair_statistics",
    "per_seed_scores",
    "rank_by_overlap",
    "receptive_fields",
    "save_figure",
    "similarity_heatmaps",
    "soft_alphas",
    "soft_alphas_per_layer",
    "ttest_from_counts",
]
