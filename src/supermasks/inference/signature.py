"""Signature-based task inference: compare a batch's BN-input means through each mask with the stored ones.

docs/algorithms.md section 3 ("Prediction without task id"). A learned task t stores, per BN layer, the
running mean of that layer's input (its signature, `task_signature`). Data of task t run through
mask t should reproduce that mean; data of another task, through mask t, should not. Unlike
one-shot inference this needs no superposition (so per-task BatchNorm is allowed) and no
gradient, but it costs one forward pass per candidate task: k forwards for k learned tasks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from supermasks.models.layers import PerTaskBatchNorm, _MaskedBase
from supermasks.models.tasks import norm_layers, set_task

Stored = Sequence[Mapping[str, torch.Tensor] | None]  # per task id: layer -> stored mean, or None


def _reduce(x: torch.Tensor, per_image: bool) -> torch.Tensor:
    """BN-input means per unit, as BatchNorm averages them: over the batch, and over pixels for images."""
    if x.dim() == 4:  # (batch, channels, h, w): per-channel, like BatchNorm2d
        x = x.mean(dim=(2, 3))
    return x if per_image else x.mean(dim=0)


@torch.no_grad()
def _norm_inputs(model: nn.Module, x: torch.Tensor, task_id: int, per_image: bool) -> dict[str, torch.Tensor]:
    """Forward `x` through task `task_id`'s masks in eval mode; the reduced input of every BN layer."""
    if len(x) == 0:
        raise ValueError("a signature needs at least one input")
    captured: dict[str, torch.Tensor] = {}

    def capture(name: str):
        def hook(_module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            captured[name] = _reduce(args[0].detach().to(torch.float32), per_image)
        return hook

    # Eval mode, so the forward reads the stored running statistics and never updates them;
    # the caller's active task and train/eval flags are put back afterwards.
    modes = [(m, m.training) for m in model.modules()]
    active = [(m, m.task_id) for m in model.modules() if isinstance(m, (_MaskedBase, PerTaskBatchNorm))]
    handles = [bn.register_forward_pre_hook(capture(name)) for name, bn in norm_layers(model).items()]
    try:
        model.eval()
        set_task(model, task_id)
        model(x)
    finally:
        for handle in handles:
            handle.remove()
        for module, task in active:
            module.task_id = task
        for module, training in modes:
            module.training = training
    return captured


def batch_signature(model: nn.Module, x: torch.Tensor, task_id: int) -> dict[str, torch.Tensor]:
    """Per BN layer, the batch mean of that layer's input when `x` runs through task `task_id`'s masks.

    The counterpart of the stored signature `task_signature(model, task_id)`, computed on `x`.
    """
    return _norm_inputs(model, x, task_id, per_image=False)


def _cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine along the last dimension, on `a`'s device; 0 where a vector is all zeros."""
    a, b = a.to(torch.float64), b.to(device=a.device, dtype=torch.float64)
    return F.cosine_similarity(a, b.expand_as(a), dim=-1, eps=1e-12)


def probe_similarity(model: nn.Module, x: torch.Tensor, task_ids: Iterable[int], stored: Stored, *,
                     absolute: bool = True) -> dict[str, np.ndarray]:
    """Per BN layer, `|cos(batch mean of x through mask t, stored mean of t)|` for each t in `task_ids`.

    The causal protocol of similarity-guided transfer: `x` is a probe batch of a new task and
    `stored[t]` the signature of earlier task t. `absolute=False` keeps the sign of the cosine.
    Layers missing from a task's stored signature give NaN. Costs one forward per task.
    """
    task_ids = list(task_ids)
    rows: list[dict[str, float]] = []
    for t in task_ids:
        reference = stored[t] or {}
        means = batch_signature(model, x, t)
        rows.append({layer: float(_cosine(mean, reference[layer].detach().cpu()))
                     for layer, mean in means.items() if layer in reference})
    layers = list(norm_layers(model))
    result = {layer: np.array([row.get(layer, np.nan) for row in rows]) for layer in layers}
    return {layer: np.abs(values) if absolute else values for layer, values in result.items()}


def _candidates(signatures: Stored) -> list[int]:
    tasks = [t for t, signature in enumerate(signatures) if signature]
    if not tasks:
        raise ValueError("no learned task has a signature (a network without BatchNorm has none)")
    return tasks


def signature_scores(model: nn.Module, x: torch.Tensor, signatures: Stored) -> np.ndarray:
    """How well the batch `x` matches each task: shape (len(signatures),), -inf for tasks without one.

    A task's score is the mean over BN layers of `cos(batch mean of x through mask t, stored mean
    of t)`. The sign is kept here (unlike the |cos| of the similarity study): a batch whose means
    point away from a task's stored means does not belong to it. Layers weigh equally.
    """
    scores = np.full(len(signatures), -np.inf)
    for t in _candidates(signatures):
        per_layer = probe_similarity(model, x, [t], signatures, absolute=False)
        scores[t] = np.nanmean([values[0] for values in per_layer.values()])
    return scores


def infer_task_signature(model: nn.Module, x: torch.Tensor, signatures: Stored) -> int:
    """The learned task whose stored signature is nearest (largest mean cosine) to the batch `x`'s.

    `signatures[t]` is task t's stored signature (`task_signature(model, t)`); tasks given None
    are not candidates. See `signature_scores` for how layers combine. k forward passes for k
    candidate tasks, no gradient.
    """
    return int(np.argmax(signature_scores(model, x, signatures)))


@torch.no_grad()
def infer_per_image_signature(model: nn.Module, x: torch.Tensor, signatures: Stored) -> torch.Tensor:
    """One inferred task per image of `x`: each image's own BN-layer inputs against the stored means.

    The same rule as `infer_task_signature` with a batch of one image, computed for the whole
    batch at once: in eval mode BatchNorm uses stored statistics, so images do not interact.
    k forward passes for k candidate tasks. LongTensor of shape (batch,).
    """
    if len(x) == 0:
        return torch.zeros(0, dtype=torch.long)
    scores = torch.full((len(x), len(signatures)), -torch.inf, dtype=torch.float64)
    for t in _candidates(signatures):
        inputs = _norm_inputs(model, x, t, per_image=True)  # layer -> (batch, units)
        stored = signatures[t]
        cosines = [_cosine(inputs[layer], stored[layer].detach().cpu()) for layer in inputs if layer in stored]
        if cosines:  # a stored signature that shares no layer with the model leaves the task out
            scores[:, t] = torch.stack(cosines).mean(dim=0).cpu()
    return scores.argmax(dim=1)
