"""Task-inference accuracy: how often the inferred task is the true one, per batch or per image."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from supermasks.inference.bank import MaskBank
from supermasks.inference.binary import infer_per_image_binary, infer_task_binary
from supermasks.inference.oneshot import check_precision, infer_per_image, infer_task

METHODS = ("oneshot", "binary")


def task_inference_accuracy(model: nn.Module, bank: MaskBank, batches: Iterable[tuple[torch.Tensor, int]], *,
                            method: str = "oneshot", objective: str = "H", num_classes: int | None = None,
                            per_image: bool = False, precision: str = "float32") -> float:
    """Fraction of correct inferences over `(x, true_task_id)` batches (of images when `per_image`).

    `precision`: of the network's products ("float32" or "bfloat16", `oneshot.PRECISIONS`).
    """
    if method not in METHODS:
        raise ValueError(f"unknown task-inference method {method!r}; choose one of {', '.join(METHODS)}")
    check_precision(precision)
    correct = total = 0
    for x, task_id in batches:
        if per_image:
            infer = infer_per_image if method == "oneshot" else infer_per_image_binary
            predicted = infer(model, bank, x, objective, num_classes, precision)
            correct += int((predicted == task_id).sum())
            total += len(x)
        else:
            infer_one = infer_task if method == "oneshot" else infer_task_binary
            correct += int(infer_one(model, bank, x, objective, num_classes, precision) == task_id)
            total += 1
    if total == 0:
        raise ValueError("no batches to evaluate")
    return correct / total
