"""SupSup's `state_dict`: what layout `STATE_VERSION` holds, and how a state of it, or of layout 1, is loaded back."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import numpy as np
import torch
from torch import nn

from supermasks.compute.devices import module_device
from supermasks.inference import MaskBank
from supermasks.methods._state import check_header, header, load_generator, owned, state_version
from supermasks.models import load_network, masked_layers, num_tasks
from supermasks.models.layers import PackedMasks


class Held(Protocol):
    """What SupSup's state holds and how it is set back (`methods.supsup.SupSup` follows it)."""

    HYPERPARAMETERS: ClassVar[tuple[str, ...]]
    model: nn.Module
    bank_: MaskBank
    finished_: int
    num_classes_: int
    keep_scores: bool
    record_initial_masks: bool
    reference_signatures: Any
    score_generator_: torch.Generator
    batch_generator_: torch.Generator
    score_sum_: dict[str, torch.Tensor]
    alphas_: list[dict[str, np.ndarray]]
    similarities_: list[dict[str, np.ndarray]]
    initial_masks_: dict[str, PackedMasks]

    def end_task(self, task_id: int) -> None: ...

# Layout of `SupSup.state_dict()`: 1 held every task's float scores and the mask bank; 2 holds
# finished tasks as packed masks (1 bit per weight), the mean transfer's running sum, no bank.
STATE_VERSION = 2
# Settings added to layout 2 after it was first written: a state without them was written with these.
_ADDED_SETTINGS = {"score_init": "independent"}


def supsup_state(method: Held) -> dict[str, Any]:
    """The network (finished tasks as packed masks, the current and kept tasks' scores, BN statistics, fixed
    weights), the mean transfer's running sum, generators, transfer's records and the recorded initial
    masks (bit-packed, by layer and task id; empty without `record_initial_masks`); layout `STATE_VERSION`.

    About 1 bit per weight per finished task plus the task in training (32 bits per weight per
    task where scores are kept). The mask bank is not saved: the model holds the same bits.
    """
    def arrays(rows: list[dict[str, np.ndarray]]) -> list[dict[str, torch.Tensor]]:
        return [{name: torch.from_numpy(values) for name, values in row.items()} for row in rows]

    return {**header(method, method.HYPERPARAMETERS, STATE_VERSION), "num_tasks": num_tasks(method.model),
            "finished": method.finished_, "model": method.model.state_dict(), "score_sum": dict(method.score_sum_),
            "score_generator": method.score_generator_.get_state(),
            "batch_generator": method.batch_generator_.get_state(),
            "num_classes": method.num_classes_, "alphas": arrays(method.alphas_),
            "similarities": arrays(method.similarities_), "reference_signatures": method.reference_signatures,
            "initial_masks": {name: {str(t): packed[t] for t in packed.task_ids()}
                              for name, packed in method.initial_masks_.items()}}


def load_supsup_state(method: Held, state: dict[str, Any]) -> None:
    """Load a state of layout `STATE_VERSION`, or of layout 1 (every task's float scores, from before packed masks).

    A layout-1 state is converted: the tasks its mask bank holds are finished here (their masks
    packed from the saved scores, which are the same bits), and the mean transfer's sum is
    rebuilt from those scores in task order, so the resumed run goes on as the old one would.
    """
    version = state_version(method, state, STATE_VERSION)
    saved = state.get("hyperparameters", {})
    # Settings added since: a state without them ran with their value then (recording masks
    # changes no result, so a state without it takes this method's setting).
    state = {**state, "hyperparameters": {**_ADDED_SETTINGS, "record_initial_masks": method.record_initial_masks,
                                          **saved}}
    if version == 1:  # no keep_scores then: every task kept its scores, and this method's setting applies
        state = {**state, "hyperparameters": {**state.get("hyperparameters", {}), "keep_scores": method.keep_scores}}
    check_header(method, method.HYPERPARAMETERS, state)
    load_network(method.model, state["model"])
    if num_tasks(method.model) != state["num_tasks"]:
        raise ValueError(f"the saved network holds {num_tasks(method.model)} tasks, the state says {state['num_tasks']}")
    if version == 1:
        method.finished_, method.score_sum_ = 0, {}
        for _ in range(state["bank"]["num_tasks"]):
            method.end_task(method.finished_)
    else:
        method.finished_ = state["finished"]
        device = module_device(method.model)
        method.score_sum_ = {name: owned(t).to(device) for name, t in state["score_sum"].items()}
    method.bank_ = MaskBank(method.bank_.shapes, module_device(method.model))  # refilled when task inference needs it
    load_generator(method.score_generator_, state["score_generator"])
    load_generator(method.batch_generator_, state["batch_generator"])
    method.num_classes_ = state["num_classes"]
    method.alphas_ = [{name: owned(t).numpy() for name, t in row.items()} for row in state["alphas"]]
    method.similarities_ = [{name: owned(t).numpy() for name, t in row.items()} for row in state["similarities"]]
    reference = state["reference_signatures"]
    method.reference_signatures = None if reference is None else [
        None if row is None else {name: owned(t) for name, t in row.items()} for row in reference]
    method.initial_masks_ = {name: PackedMasks() for name in masked_layers(method.model)}
    for name, per_task in state.get("initial_masks", {}).items():  # absent from states written before them
        if name not in method.initial_masks_:
            raise ValueError(f"the state has initial masks of layer {name!r}, which this network lacks")
        for t, packed in per_task.items():
            method.initial_masks_[name][int(t)] = owned(packed)
