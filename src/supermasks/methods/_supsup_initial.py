"""The mask each SupSup task started from: recorded bit-packed when the task begins, read back for the
learned-change analysis, and the shared start's distance from where its mask bits flip (`analysis.changes`)."""

from __future__ import annotations

import numpy as np
from torch import nn

from supermasks.methods._supsup_scores import shared_init
from supermasks.models import masked_layers, threshold_distance
from supermasks.models.layers import PackedMasks
from supermasks.models.masks import pack_mask, unpack_mask


def record_initial(model: nn.Module, initial: dict[str, PackedMasks], task_id: int) -> None:
    """Keep `task_id`'s current masks (its initial scores through each layer's rule), bit-packed on the CPU."""
    for name, layer in masked_layers(model).items():
        initial[name][task_id] = pack_mask(layer.mask(task_id)).cpu()


def recorded_initial(model: nn.Module, initial: dict[str, PackedMasks], task_id: int) -> dict[str, np.ndarray]:
    """The recorded initial masks of `task_id` per layer name, as bool arrays; ValueError naming what is missing."""
    layers = masked_layers(model)
    missing = [name for name, packed in initial.items() if task_id not in packed]
    if missing:
        recorded = sorted(set.intersection(*(set(p.task_ids()) for p in initial.values())))
        raise ValueError(f"no initial mask of task {task_id} was recorded (layers {missing}); "
                         f"recorded tasks: {recorded}")
    return {name: unpack_mask(packed[task_id], layers[name].weight.shape).numpy()
            for name, packed in initial.items()}


def shared_margins(model: nn.Module, seed: int) -> dict[str, np.ndarray]:
    """Per layer name, how far the shared initial scores of a run of `seed` lie from where their mask bits flip
    (`threshold_distance` under the layer's rule and density); drawn again, so nothing is stored for them."""
    layers = masked_layers(model)
    return {name: threshold_distance(scores, layers[name].rule, layers[name].density).numpy()
            for name, scores in shared_init(model, seed).items()}
