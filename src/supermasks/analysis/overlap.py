"""Jaccard overlap between the supermasks of different tasks, compared with its chance level.

The Jaccard index (Jaccard 1912, "The distribution of the flora in the alpine zone", New
Phytologist 11) of two masks is |A and B| / |A or B|. Its chance level (docs/algorithms.md section 2)
is the value expected if the two masks were drawn independently with their densities.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._counts import LayerCounts, Masks, as_binary, check_masks, intersection_counts, layer_counts
from ._counts import ordered_pairs, stack_layer
from .stats import STAT_COLUMNS, statistics_from_counts

OVERLAP_COLUMNS = (
    "layer",
    "task_i",
    "task_j",
    "jaccard_pct",
    "density_i",
    "density_j",
    "chance_pct",
    "relative_to_chance",
    "num_weights",
    "n_both",
    "n_only_i",
    "n_only_j",
)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard index |a & b| / |a | b| of two binary masks, as a fraction; 0.0 if both are empty.

    Accepts bool or 0/1 arrays of the same shape (ValueError otherwise).
    """
    a, b = as_binary(a, "a"), as_binary(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    union = np.count_nonzero(a | b)
    # Two empty masks share nothing and differ in nothing; 0 keeps "no kept weights" from
    # counting as perfect overlap.
    return float(np.count_nonzero(a & b) / union) if union else 0.0


def _chance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Vectorised `chance_jaccard`."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    union = p + q - p * q
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, p * q / np.where(union > 0, union, 1.0), 0.0)


def chance_jaccard(p: float, q: float) -> float:
    """Chance-level Jaccard of independent masks with densities `p` and `q`: pq / (p + q - pq).

    Independent masks share an expected fraction pq of the weights and cover p + q - pq; the
    ratio of these expectations is what the Jaccard index of two random masks concentrates on as
    the layer grows (for 300 x 784 weights, simulated means agree with it to within 0.01
    percentage points). 0 when p = q = 0.
    """
    if not (0.0 <= p <= 1.0 and 0.0 <= q <= 1.0):
        raise ValueError(f"densities must lie in [0, 1], got p={p}, q={q}")
    return float(_chance(np.float64(p), np.float64(q)))


def _overlap_frame(counts: LayerCounts) -> pd.DataFrame:
    """Overlap columns (`OVERLAP_COLUMNS`) for every ordered pair of distinct tasks of one layer."""
    ii, jj = ordered_pairs(len(counts.task_ids))
    n = counts.num_weights
    k_i, k_j = counts.kept[ii], counts.kept[jj]
    inter = counts.inter[ii, jj]
    union = k_i + k_j - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        jac = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    density_i, density_j = k_i / n, k_j / n
    chance = _chance(density_i, density_j)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(chance > 0, jac / np.where(chance > 0, chance, 1.0), np.nan)
    task_ids = np.asarray(counts.task_ids, dtype=np.int64)
    return pd.DataFrame(
        {
            "layer": [counts.layer] * len(ii),
            "task_i": task_ids[ii],
            "task_j": task_ids[jj],
            "jaccard_pct": 100.0 * jac,
            "density_i": density_i,
            "density_j": density_j,
            "chance_pct": 100.0 * chance,
            "relative_to_chance": relative,
            "num_weights": np.full(len(ii), n, dtype=np.int64),
            "n_both": inter,
            "n_only_i": k_i - inter,
            "n_only_j": k_j - inter,
        }
    )


def overlap_table(masks: Masks, statistics: bool = True) -> pd.DataFrame:
    """One row per layer and ordered pair (i, j) of distinct tasks: overlap, chance, and tests.

    Columns: `OVERLAP_COLUMNS` (`n_both`, `n_only_i`, `n_only_j` are the counts of the 2x2
    agreement table) followed, with `statistics`, by `stats.STAT_COLUMNS`. Rows are ordered by
    layer (the first task's order), then task_i, then task_j. A run with a single task gives an
    empty table with these columns.
    """
    columns = list(OVERLAP_COLUMNS) + (list(STAT_COLUMNS) if statistics else [])
    frames = []
    for counts in layer_counts(masks):
        frame = _overlap_frame(counts)
        if statistics:
            tests = statistics_from_counts(counts)
            frame = pd.concat([frame, tests[list(STAT_COLUMNS)]], axis=1)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    return table[columns]


def overlap_matrix(masks: Masks, layer: str) -> np.ndarray:
    """(T x T) Jaccard overlap in percent for one layer, tasks in sorted id order.

    The diagonal is 100, or 0 for a task whose mask is empty (same convention as `jaccard`).
    """
    task_ids, layers = check_masks(masks)
    if layer not in layers:
        raise ValueError(f"unknown layer {layer!r}; the masks have {layers}")
    inter = intersection_counts(stack_layer(masks, task_ids, layer))
    kept = np.diag(inter)
    union = kept[:, None] + kept[None, :] - inter
    return 100.0 * np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def pair_matrix(table: pd.DataFrame, layer: str, column: str = "relative_to_chance") -> tuple[np.ndarray, list[int]]:
    """One column of an overlap table as a (T x T) matrix of one layer, tasks in sorted id order.

    Entry (a, b) is the row (task_i, task_j) = (ids[a], ids[b]); the diagonal (no row: a task with
    itself) is NaN, as are pairs the table lacks. Returns the matrix and the sorted task ids.
    """
    rows = table[table["layer"] == layer]
    if rows.empty:
        raise ValueError(f"no rows for layer {layer!r}; the table has {list(pd.unique(table['layer']))}")
    task_ids = sorted(set(rows["task_i"].tolist()) | set(rows["task_j"].tolist()))
    position = {task: index for index, task in enumerate(task_ids)}
    matrix = np.full((len(task_ids), len(task_ids)), np.nan)
    matrix[rows["task_i"].map(position).to_numpy(), rows["task_j"].map(position).to_numpy()] = rows[column].to_numpy()
    return matrix, [int(t) for t in task_ids]


def mean_overlap(table: pd.DataFrame) -> pd.DataFrame:
    """Per layer (in order of appearance): mean Jaccard, chance and relative overlap over pairs.

    Columns: `layer, num_pairs, mean_jaccard_pct, mean_chance_pct, mean_relative_to_chance`
    (NaN ratios, from empty masks, are skipped by the mean).
    """
    grouped = table.groupby("layer", sort=False)
    return pd.DataFrame(
        {
            "num_pairs": grouped.size(),
            "mean_jaccard_pct": grouped["jaccard_pct"].mean(),
            "mean_chance_pct": grouped["chance_pct"].mean(),
            "mean_relative_to_chance": grouped["relative_to_chance"].mean(),
        }
    ).reset_index()
