"""What SupSup keeps of its tasks and what that costs: finished tasks' packed masks in the word layout task
inference reads (the bank), the bytes one more task adds at rest, and the bytes of everything held."""

from __future__ import annotations

import math

from torch import nn

from supermasks.compute.devices import module_device
from supermasks.inference import MaskBank
from supermasks.models import masked_layers, norm_layers, num_tasks, task_nbytes


def empty_bank(model: nn.Module) -> MaskBank:
    """A bank of no task for `model`'s masked layers, on the model's device."""
    return MaskBank({name: tuple(m.weight.shape) for name, m in masked_layers(model).items()}, module_device(model))


def updated_bank(bank: MaskBank, model: nn.Module, finished: int) -> MaskBank:
    """`bank` holding the masks of the `finished` first tasks, brought up to date from `model` (a new bank where
    the model has moved to another device)."""
    layers = masked_layers(model)
    if bank.device != module_device(model):  # the model moved: the bank follows it
        bank = MaskBank(bank.shapes, module_device(model))
    while bank.num_tasks < finished:
        t = bank.num_tasks
        bank.add({name: m.mask(t) for name, m in layers.items()})
    return bank


def bytes_per_task(model: nn.Module) -> int:
    """At rest: one bit per weight (bit-packed masks) plus float32 BN running mean and variance."""
    mask_bytes = sum(math.ceil(m.weight.numel() / 8) for m in masked_layers(model).values())
    bn_bytes = sum(2 * 4 * bn.num_features for bn in norm_layers(model).values())
    return mask_bytes + bn_bytes


def memory_bytes(model: nn.Module, score_sum_bytes: int) -> int:
    """The fixed float32 weights (rebuildable from the seed, but held in memory), every task's packed
    mask or float scores (the task in training, and every task where they are kept), BN statistics,
    and `score_sum_bytes` (mean transfer's running sum of scores)."""
    weights = sum(m.weight.numel() * 4 for m in masked_layers(model).values())
    bn_bytes = sum(2 * 4 * bn.num_features for bn in norm_layers(model).values())
    return weights + task_nbytes(model) + num_tasks(model) * bn_bytes + score_sum_bytes
