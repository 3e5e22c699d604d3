"""Masked layers, mask rules, networks, and free functions over per-task state."""

from supermasks.models.dense import MultiHeadMLP, build_multihead, parameter_bytes
from supermasks.models.layers import MaskedConv2d, MaskedLinear, PerTaskBatchNorm
from supermasks.models.masks import (MASK_RULES, compute_mask, kept_count, layer_budget, masked_weight,
                                     pack_mask, unpack_mask)
from supermasks.models.networks import ARCHITECTURES, MaskedMLP, build_model, list_models
from supermasks.models.tasks import (add_task, export_masks, finish_task, finish_task_with, freeze_weights, grow_tasks,
                                     load_network, masked_layers, norm_layers, norm_statistics, num_tasks, packed_task,
                                     set_keep_scores, set_task, task_nbytes, task_scores, task_signature)

__all__ = [
    "ARCHITECTURES", "MASK_RULES", "MaskedConv2d", "MaskedLinear", "MaskedMLP", "MultiHeadMLP", "PerTaskBatchNorm",
    "build_multihead", "parameter_bytes",
    "add_task", "build_model", "compute_mask", "export_masks", "finish_task", "finish_task_with", "freeze_weights", "set_keep_scores", "grow_tasks", "load_network",
    "kept_count", "layer_budget", "list_models", "masked_layers", "masked_weight", "norm_layers", "norm_statistics",
    "num_tasks", "pack_mask", "packed_task", "set_task", "task_nbytes", "task_scores", "task_signature", "unpack_mask",
]
