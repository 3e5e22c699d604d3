"""Per-task checkpoints in safetensors: bit-packed masks and per-task BN statistics, checksummed.

Each file records the SHA-256 of its contents (tensor names, types, shapes and bytes, and its
description) in its own metadata, so a damaged file is found when it is read, without any other
record of it. Files from before the checksum are read unchecked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from supermasks.errors import ConfigError
from supermasks.models import masked_layers, norm_layers, pack_mask, unpack_mask
from supermasks.store.blobs import content_digest
from supermasks.store.files import atomic_write_bytes
from supermasks.store.json_files import loads_json

_KEY = "supermasks"


class MaskFileError(ConfigError):
    """A per-task mask file is missing, truncated or corrupt (one line naming it)."""


def save_task_checkpoint(path: Path, model: torch.nn.Module, task_id: int) -> int:
    """Store one task's masks (1 bit per weight) and BN running stats; return the file's size."""
    tensors: dict[str, torch.Tensor] = {}
    shapes: dict[str, list[int]] = {}
    for name, layer in masked_layers(model).items():
        mask = layer.mask(task_id)
        tensors[f"mask.{name}"] = pack_mask(mask).cpu()  # written from CPU copies, whatever the run's device
        shapes[name] = list(mask.shape)
    for name, bn in norm_layers(model).items():
        norm = bn.norms[task_id]
        tensors[f"bn.{name}.running_mean"] = norm.running_mean.detach().to("cpu", copy=True)
        tensors[f"bn.{name}.running_var"] = norm.running_var.detach().to("cpu", copy=True)
    # One metadata key: safetensors writes several keys in no fixed order, and a checkpoint of the
    # same state should be the same bytes.
    info = {"task_id": task_id, "mask_shapes": shapes}
    info["sha256"] = content_digest(tensors, {_KEY: json.dumps(info, sort_keys=True)})
    data = st_save(tensors, metadata={_KEY: json.dumps(info, sort_keys=True)})
    atomic_write_bytes(path, data)
    return len(data)


def read_task_file(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors and description of a task file whose contents match the checksum it records.

    MaskFileError naming the file otherwise; a file from before checksums has no "sha256" in its
    description and is returned unchecked.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MaskFileError(f"{path} is missing") from None
    except OSError as error:
        raise MaskFileError(f"{path} cannot be read ({error.strerror or error})") from None
    try:
        tensors = st_load(data)
        header_len = int.from_bytes(data[:8], "little")
        info = loads_json(loads_json(data[8:8 + header_len])["__metadata__"][_KEY])
        if not isinstance(info, dict) or not isinstance(info.get("mask_shapes"), dict):
            raise ValueError("no mask shapes")
    except Exception as error:  # noqa: BLE001 (a damaged file fails in many ways; each means the same)
        raise MaskFileError(f"{path} cannot be parsed ({type(error).__name__}): the file is truncated or "
                            "corrupt") from None
    recorded = info.pop("sha256", None)
    if recorded is not None and content_digest(tensors, {_KEY: json.dumps(info, sort_keys=True)}) != recorded:
        raise MaskFileError(f"{path} does not match the SHA-256 it records: the file is corrupt")
    return tensors, info | ({"sha256": recorded} if recorded else {})


def task_file_problem(path: Path) -> str | None:
    """Why the task file at `path` cannot be trusted (missing, damaged, or unchecked: older than checksums); None if sound."""
    try:
        _, info = read_task_file(path)
    except MaskFileError as error:
        return str(error)
    return None if "sha256" in info else f"{path} has no checksum (written by an earlier version)"


def load_task_masks(path: Path) -> dict[str, np.ndarray]:
    """The boolean masks per layer stored in a task checkpoint (checked against its checksum first)."""
    tensors, info = read_task_file(path)
    try:
        return {name: unpack_mask(tensors[f"mask.{name}"], tuple(shape)).numpy()
                for name, shape in info["mask_shapes"].items()}
    except Exception as error:  # noqa: BLE001 (only an unchecked, older file can get here)
        raise MaskFileError(f"{path} cannot be read ({type(error).__name__}: {error})") from None
