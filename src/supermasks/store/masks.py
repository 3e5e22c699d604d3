"""Per-task checkpoints in safetensors: bit-packed masks and per-task BN statistics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from supermasks.models import masked_layers, norm_layers, pack_mask, unpack_mask
from supermasks.store.files import atomic_write_bytes


def save_task_checkpoint(path: Path, model: torch.nn.Module, task_id: int) -> int:
    """Store one task's masks (1 bit per weight) and BN running stats; return the file's size."""
    tensors: dict[str, torch.Tensor] = {}
    shapes: dict[str, list[int]] = {}
    for name, layer in masked_layers(model).items():
        mask = layer.mask(task_id)
        tensors[f"mask.{name}"] = pack_mask(mask)
        shapes[name] = list(mask.shape)
    for name, bn in norm_layers(model).items():
        norm = bn.norms[task_id]
        tensors[f"bn.{name}.running_mean"] = norm.running_mean.detach().clone()
        tensors[f"bn.{name}.running_var"] = norm.running_var.detach().clone()
    # One metadata key: safetensors writes several keys in no fixed order, and a checkpoint of the
    # same state should be the same bytes.
    info = json.dumps({"task_id": task_id, "mask_shapes": shapes}, sort_keys=True)
    data = st_save(tensors, metadata={"supermasks": info})
    atomic_write_bytes(path, data)
    return len(data)


def load_task_masks(path: Path) -> dict[str, np.ndarray]:
    """The boolean masks per layer stored in a task checkpoint."""
    data = Path(path).read_bytes()
    tensors = st_load(data)
    header_len = int.from_bytes(data[:8], "little")
    metadata = json.loads(data[8:8 + header_len])["__metadata__"]
    shapes = json.loads(metadata["supermasks"])["mask_shapes"]
    return {name: unpack_mask(tensors[f"mask.{name}"], tuple(shape)).numpy() for name, shape in shapes.items()}
