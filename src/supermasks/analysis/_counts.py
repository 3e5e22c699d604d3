"""Validation of a run's masks and the per-layer counts (kept weights, pairwise intersections)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

Masks = Mapping[int, Mapping[str, np.ndarray]]

# Columns per chunk of the intersection product. Each chunk is summed in float32 by BLAS, which
# is exact only for integers below 2**24; keeping chunks at 2**20 columns keeps every partial sum
# exact and bounds the float copy to (num_tasks, 2**20) however large a layer is.
_CHUNK = 1 << 20


@dataclass(frozen=True)
class LayerCounts:
    """Everything the pairwise overlap and its tests need for one layer."""

    layer: str
    task_ids: tuple[int, ...]
    num_weights: int
    kept: np.ndarray  # (T,) int64: ones in each task's mask
    inter: np.ndarray  # (T, T) int64: |M_i & M_j|, diagonal equal to `kept`


def as_binary(x: np.ndarray, name: str = "mask") -> np.ndarray:
    """`x` as a bool array; raises ValueError if it holds values other than 0 and 1."""
    arr = np.asarray(x)
    if arr.dtype == np.bool_:
        return arr
    if not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{name} must be boolean or hold only 0 and 1 (dtype {arr.dtype})")
    return arr.astype(bool)


def check_masks(masks: Masks) -> tuple[list[int], list[str]]:
    """Sorted task ids and the layer names (in the first task's order) after checking agreement.

    Every task must have the same layers with the same shapes, or the pairwise comparison is
    meaningless; a mismatch raises ValueError naming the task and layer.
    """
    if not masks:
        raise ValueError("masks is empty: expected {task_id: {layer: bool array}}")
    task_ids = sorted(masks)
    first = masks[task_ids[0]]
    layers = list(first)
    if not layers:
        raise ValueError(f"task {task_ids[0]} has no layers")
    shapes = {layer: np.shape(first[layer]) for layer in layers}
    for task_id in task_ids[1:]:
        task_layers = masks[task_id]
        if set(task_layers) != set(layers):
            raise ValueError(
                f"task {task_id} has layers {sorted(task_layers)}, task {task_ids[0]} has {sorted(layers)}"
            )
        for layer in layers:
            if np.shape(task_layers[layer]) != shapes[layer]:
                raise ValueError(
                    f"layer {layer!r}: task {task_id} has shape {np.shape(task_layers[layer])}, "
                    f"task {task_ids[0]} has {shapes[layer]}"
                )
    return task_ids, layers


def stack_layer(masks: Masks, task_ids: list[int], layer: str) -> np.ndarray:
    """The layer's masks of all tasks as one (T, n) bool matrix, one flattened mask per row."""
    rows = [as_binary(masks[t][layer], f"mask of task {t}, layer {layer!r}").reshape(-1) for t in task_ids]
    return np.stack(rows)


def intersection_counts(stacked: np.ndarray) -> np.ndarray:
    """(T, T) int64 matrix of |M_i & M_j| from a (T, n) bool matrix, as a matrix product."""
    num_tasks, n = stacked.shape
    inter = np.zeros((num_tasks, num_tasks), dtype=np.int64)
    for start in range(0, n, _CHUNK):
        block = stacked[:, start : start + _CHUNK].astype(np.float32)
        inter += np.rint(block @ block.T).astype(np.int64)
    return inter


def layer_counts(masks: Masks) -> list[LayerCounts]:
    """Counts for every layer of a run, in layer order."""
    task_ids, layers = check_masks(masks)
    result = []
    for layer in layers:
        stacked = stack_layer(masks, task_ids, layer)
        inter = intersection_counts(stacked)
        result.append(
            LayerCounts(
                layer=layer,
                task_ids=tuple(task_ids),
                num_weights=stacked.shape[1],
                kept=np.diag(inter).copy(),
                inter=inter,
            )
        )
    return result


def ordered_pairs(num_tasks: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of all ordered pairs (i, j), i != j, with i major."""
    ii, jj = np.meshgrid(np.arange(num_tasks), np.arange(num_tasks), indexing="ij")
    off = ii != jj
    return ii[off], jj[off]
