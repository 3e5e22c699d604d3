"""Free functions over a module tree of masked layers: add, select and export per-task state."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from supermasks.models.layers import MaskedLinear, PerTaskBatchNorm, _MaskedBase


def masked_layers(model: nn.Module) -> dict[str, _MaskedBase]:
    """The masked layers of `model` by module name, in definition order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, _MaskedBase)}


def norm_layers(model: nn.Module) -> dict[str, PerTaskBatchNorm]:
    """The per-task BatchNorm layers of `model` by module name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, PerTaskBatchNorm)}


def num_tasks(model: nn.Module) -> int:
    """How many tasks `model` holds, finished or not (the same in every masked layer)."""
    counts = {m.num_tasks for m in masked_layers(model).values()}
    if len(counts) != 1:
        raise ValueError(f"masked layers disagree on the number of tasks: {sorted(counts)}")
    return counts.pop()


def add_task(model: nn.Module, generator: torch.Generator,
             init: dict[str, torch.Tensor] | None = None) -> int:
    """Allocate scores (and BN statistics) for a new task in every layer; return its id.

    `init` optionally gives the new scores per layer name (transfer); other layers start random.
    """
    ids = {m.add_scores(generator, None if init is None else init.get(name))
           for name, m in masked_layers(model).items()}
    ids |= {bn.add_task() for bn in norm_layers(model).values()}
    if len(ids) != 1:
        raise ValueError(f"layers disagree on the new task id: {sorted(ids)}")
    return ids.pop()


def grow_tasks(model: nn.Module, count: int) -> None:
    """Give a freshly built network `count` tasks (scores and BN statistics), so saved ones can be loaded into it.

    The values drawn here are overwritten by the saved ones, so a throwaway generator serves and
    the caller's own streams stay untouched.
    """
    have = num_tasks(model)
    if have > count:
        raise ValueError(f"the network has {have} tasks already, the state {count}")
    for _ in range(count - have):
        add_task(model, torch.Generator())


def set_keep_scores(model: nn.Module, keep: bool) -> None:
    """Say whether finished tasks keep their float scores (32 bits per weight) or only packed masks (1 bit).

    The one place this is declared: a method sets it from its settings (SupSup keeps scores for
    similarity-guided transfer, which mixes earlier tasks' scores; NNs trains masks again).
    """
    for m in masked_layers(model).values():
        m.keep_scores = keep


def finish_task(model: nn.Module, task_id: int) -> None:
    """Task `task_id` is learned: each masked layer keeps its mask bit-packed and drops its scores (unless kept).

    Its mask, its forward and its BN statistics stay exactly what they were.
    """
    if not 0 <= task_id < num_tasks(model):
        raise IndexError(f"task {task_id} does not exist; the model has {num_tasks(model)} task(s)")
    for m in masked_layers(model).values():
        m.finish(task_id)


def packed_task(model: nn.Module, task_id: int) -> dict[str, torch.Tensor]:
    """A finished task's packed masks per masked layer name (uint8, `pack_mask`): what `finish_task` kept."""
    layers = masked_layers(model)
    unpacked = [name for name, m in layers.items() if not m.is_packed(task_id)]
    if unpacked:
        raise ValueError(f"task {task_id} holds no packed mask only in layers {unpacked}: finish it first "
                         "(without keep_scores)")
    return {name: m.packed[task_id] for name, m in layers.items()}


def norm_statistics(model: nn.Module, task_id: int) -> dict[str, dict[str, torch.Tensor]]:
    """The task's BN statistics (running mean, variance, batches tracked) per per-task BN layer name."""
    return {name: {k: v.detach().clone() for k, v in bn.norms[task_id].state_dict().items()}
            for name, bn in norm_layers(model).items()}


def finish_task_with(model: nn.Module, task_id: int, packed: dict[str, torch.Tensor],
                     norms: dict[str, dict[str, torch.Tensor]]) -> None:
    """Finish `task_id` with what another copy of `model` learned for it (`packed_task`, `norm_statistics`).

    Afterwards the task is as `finish_task` leaves it there: the same packed masks and BN statistics,
    so the same forward.
    """
    layers, bns = masked_layers(model), norm_layers(model)
    if set(packed) != set(layers) or set(norms) != set(bns):
        raise ValueError(f"the learned task has layers {sorted(packed)} and BN layers {sorted(norms)}; this model "
                         f"{sorted(layers)} and {sorted(bns)}")
    for name, bn in bns.items():
        bn.norms[task_id].load_state_dict(norms[name])
    for name, m in layers.items():
        m.finish_with(task_id, packed[name])


def task_nbytes(model: nn.Module) -> int:
    """Bytes the masked layers hold for their tasks: float scores and packed masks (BN statistics apart)."""
    return sum(m.task_nbytes() for m in masked_layers(model).values())


def load_network(model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Copy `tensors` (a `model.state_dict()`) into `model` in place; ValueError when they do not fit it.

    Masked and per-task BN layers take the saved tasks' layout (tasks the model lacks are added,
    finished ones as packed masks), so loading needs no float scores for finished tasks.
    """
    try:
        model.load_state_dict(tensors)
    except RuntimeError as error:  # torch reports missing, unexpected and misshapen entries this way
        raise ValueError(f"the saved network does not fit this {type(model).__name__}: {error}") from None


def set_task(model: nn.Module, task_id: int) -> None:
    """Make `task_id` the active task of every masked and per-task BN layer."""
    n = num_tasks(model)
    if not 0 <= task_id < n:
        raise IndexError(f"task {task_id} does not exist; the model has {n} task(s)")
    for m in model.modules():
        if isinstance(m, (_MaskedBase, PerTaskBatchNorm)):
            m.task_id = task_id


def freeze_weights(model: nn.Module) -> None:
    """Make every parameter except the scores untrainable (the fixed random network)."""
    scores = {id(p) for m in masked_layers(model).values() for p in m.scores.values()}
    for p in model.parameters():
        if id(p) not in scores:
            p.requires_grad_(False)


def task_scores(model: nn.Module, task_id: int) -> list[nn.Parameter]:
    """The score parameters of one task, one per masked layer: what trains for that task.

    ValueError for a finished task whose scores were not kept (it holds only packed masks).
    """
    return [m.task_scores(task_id) for m in masked_layers(model).values()]


def export_masks(model: nn.Module, task_id: int) -> dict[str, np.ndarray]:
    """The binary masks of `task_id` per layer name, as boolean numpy arrays of the weight shape."""
    return {name: m.mask(task_id).cpu().numpy() for name, m in masked_layers(model).items()}


def task_signature(model: nn.Module, task_id: int) -> dict[str, torch.Tensor]:
    """Per-task BN running means per layer name (empty when the model has no BN)."""
    return {name: bn.running_mean(task_id) for name, bn in norm_layers(model).items()}


def layer_norms(model: nn.Module) -> dict[str, str | None]:
    """For each masked layer, the per-task BN layer whose statistics speak for it (None without BN).

    A masked layer is paired with the BN layer that normalises its output: the first BN layer
    after it in module order, before the next masked layer. A masked layer that no BN layer
    follows (an MLP's output layer) borrows the nearest BN layer before it, so a quantity
    measured per BN layer (a task signature, similarity-guided transfer's alphas) reaches every
    masked layer; failing that, the nearest BN layer after it. Module order is registration
    order, which in our networks is the order of the forward pass.
    """
    order = [(name, isinstance(m, PerTaskBatchNorm)) for name, m in model.named_modules()
             if isinstance(m, (_MaskedBase, PerTaskBatchNorm))]
    pairs: dict[str, str | None] = {}
    for i, (name, is_norm) in enumerate(order):
        if is_norm:
            continue
        before = [n for n, norm in order[:i] if norm]
        later = [n for n, norm in order[i + 1:] if norm]
        if i + 1 < len(order) and order[i + 1][1]:
            pairs[name] = order[i + 1][0]
        elif before:
            pairs[name] = before[-1]
        else:
            pairs[name] = later[0] if later else None
    return pairs


def set_precision(model: nn.Module, precision: str) -> None:
    """Run every masked layer's products in `precision`: "float32", or "bfloat16" with float32 accumulation
    (`models.bfloat16`); scores, gradients and optimiser state stay float32 either way."""
    for layer in masked_layers(model).values():
        layer.set_precision(precision)


def fused_score_layers(model: nn.Module, task_id: int) -> dict[nn.Parameter, MaskedLinear]:
    """The masked linear layers whose scores of `task_id` the fused step can train (`models.fused`), by those
    scores: bfloat16 products, the threshold rule, a signed-constant weight, on the CPU; {} where none qualifies."""
    return {layer.scores[task_id]: layer for layer in masked_layers(model).values()
            if isinstance(layer, MaskedLinear) and layer.precision == "bfloat16" and layer.rule == "threshold"
            and layer.weight.device.type == "cpu" and task_id in layer.scores
            and layer.units.get(layer.weight)[2] != 1.0}


def model_precision(model: nn.Module) -> str:
    """The precision of `model`'s masked layers' products (`set_precision`); "float32" for a model without any."""
    precisions = {layer.precision for layer in masked_layers(model).values()}
    if len(precisions) > 1:
        raise ValueError(f"masked layers disagree on their precision: {sorted(precisions)}")
    return precisions.pop() if precisions else "float32"
