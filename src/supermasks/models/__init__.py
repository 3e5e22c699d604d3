"""Masked layers, mask rules, networks, and free functions over per-task state."""

from supermasks.models.dense import (DenseNetwork, MultiHeadMLP, MultiHeadNet, SharedHeadNet, build_multihead,
                                     build_trunk, mlp_multihead, parameter_bytes)
from supermasks.models.inputs import InputShape, image_shape
from supermasks.models.layers import MaskedConv2d, MaskedLinear, PerTaskBatchNorm
from supermasks.models.masks import (DENSITY_BUDGETS, MASK_RULES, compute_mask, kept_count, layer_budget,
                                     layer_density, masked_weight, pack_mask, threshold_distance, unpack_mask)
from supermasks.models.networks import (ARCHITECTURES, Architecture, MaskedMLP, architecture, build_model,
                                        input_problem, layer_shapes, list_models, mlp_hidden, weight_count)
from supermasks.models.tasks import (add_task, export_masks, finish_task, finish_task_with, freeze_weights, fused_score_layers, grow_tasks,
                                     load_network, masked_layers, norm_layers, norm_statistics, num_tasks, packed_task,
                                     model_precision, set_keep_scores, set_precision, set_task, task_nbytes, task_scores, task_signature)

__all__ = [
    "ARCHITECTURES", "Architecture", "DENSITY_BUDGETS", "InputShape", "MASK_RULES", "MaskedConv2d", "MaskedLinear",
    "DenseNetwork", "MaskedMLP", "MultiHeadMLP", "MultiHeadNet", "PerTaskBatchNorm", "SharedHeadNet",
    "architecture", "build_multihead", "build_trunk", "image_shape", "input_problem", "layer_density",
    "layer_shapes", "mlp_hidden", "mlp_multihead", "parameter_bytes", "weight_count",
    "add_task", "build_model", "compute_mask", "export_masks", "finish_task", "finish_task_with", "freeze_weights", "fused_score_layers", "model_precision", "set_keep_scores", "set_precision", "grow_tasks", "load_network",
    "kept_count", "layer_budget", "threshold_distance", "list_models", "masked_layers", "masked_weight", "norm_layers", "norm_statistics",
    "num_tasks", "pack_mask", "packed_task", "set_task", "task_nbytes", "task_scores", "task_signature", "unpack_mask",
]
