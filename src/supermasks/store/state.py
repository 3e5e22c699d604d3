"""A method's complete training state as named tensors plus a JSON tree, and its restoration into a fresh method.

A resumed run must continue bit for bit as if it had never stopped, so everything a method keeps
between tasks is captured by walking its attributes: networks (parameters, buffers, per-task
structures, mode flags), generators, learned tensors, arrays and counters, nested objects such as
a `MaskBank`, optimisers, and the process-wide RNGs. Nothing here names a method's attributes, so
a new method's state is picked up as it is written. What the walker cannot know is how to give a
freshly built network the tasks or heads it grew while training: each such module type has a
grower (`register_grower`) that is applied before the saved values are copied in.

Rules the walker follows:
- Attributes of the method that hold plain values (numbers, strings, None, lists and dicts of
  them) and do not end in `_` are hyperparameters: they are compared with the fresh method's and
  never overwritten, so a checkpoint cannot silently resume under other settings. Learned plain
  values must therefore end in `_` (`num_classes_`, `seen_`).
- Objects reached twice stay one object (EWC's merged Fisher shares the per-task tensors, its
  penalty holds the network's own parameters), and given `tasks` are stored by reference.
- A value the walker cannot store (an open file, a lambda the fresh method does not have) is an
  error at capture time, never a silent omission.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from supermasks.store._walk import Capture, Restore, StateMismatchError, class_path, register_grower
from supermasks.data.task import Task
from supermasks.inference.hopfield import NeuronMaskMLP
from supermasks.methods.batche import BatchELinear
from supermasks.models import MultiHeadMLP, PerTaskBatchNorm
from supermasks.models.layers import _MaskedBase

FORMAT = 1


@dataclass
class MethodState:
    """`tree` (JSON-able) describes the state and names each tensor of `tensors` by key."""

    tree: dict[str, Any]
    tensors: dict[str, torch.Tensor]  # CPU, contiguous, no two sharing memory (safetensors refuses that)


# Per-task structures of our networks. The values a grower draws are overwritten by the saved
# ones, so a throwaway generator serves and the method's own streams stay untouched.
register_grower(_MaskedBase, lambda m: len(m.scores), lambda m: m.add_scores(torch.Generator()))
register_grower(PerTaskBatchNorm, lambda m: len(m.norms), lambda m: m.add_task())
register_grower(MultiHeadMLP, lambda m: len(m.heads), lambda m: m.add_head(0))
register_grower(BatchELinear, lambda m: m.num_tasks, lambda m: m.add_task(torch.Generator()))
# Draws from the network's own generator, whose saved state is set after growing.
register_grower(NeuronMaskMLP, lambda m: m.num_tasks, lambda m: m.add_task())


# -- public API -------------------------------------------------------------------------------------
def capture_state(method: object, *, tasks: Sequence[Task] = (), global_rng: bool = True,
                  copy: bool = True) -> MethodState:
    """Everything `method` needs to go on training; `tasks` are stored by reference, not by value.

    `global_rng` adds the torch, numpy and `random` module RNG states. With `copy=False` the
    tensors are the method's own where safetensors allows it (no second copy of a large state),
    so training on changes them: write such a state out first.
    """
    hyper = {k: v for k, v in vars(method).items() if not k.endswith("_") and _is_plain(v)}
    # Networks first: restoring them first lets everything else refer to their parameters and generators.
    learned = {k: v for k, v in sorted(vars(method).items(), key=lambda kv: not isinstance(kv[1], nn.Module))
               if k not in hyper}
    capture = Capture(tasks, copy)
    capture.find_networks(learned)
    state = {name: capture.encode(value, name) for name, value in learned.items()}
    tree = {"format": FORMAT, "class": class_path(type(method)), "hyperparameters": hyper, "state": state}
    if global_rng:
        tree["global_rng"] = _global_rng(capture)
    return MethodState(tree, capture.tensors)


def restore_state(method: object, state: MethodState, *, tasks: Sequence[Task] = (), global_rng: bool = True) -> None:
    """Put `state` (from `capture_state`) into `method`, freshly built from the same config.

    Networks are restored in place (grown first), so anything holding their parameters still
    does. Raises StateMismatchError when the state belongs to another class, other
    hyperparameters, or a version of the code with other attributes.
    """
    tree = state.tree
    if tree.get("format") != FORMAT:
        raise StateMismatchError(f"state format {tree.get('format')!r}, this code reads format {FORMAT}")
    if tree["class"] != class_path(type(method)):
        raise StateMismatchError(f"the state is of a {tree['class']}, not of a {class_path(type(method))}")
    _check_attributes(method, tree)
    restore = Restore(state.tensors, tasks)
    for name, node in tree["state"].items():
        restore.modules_in(node, getattr(method, name, None))
    values = {name: restore.decode(node, getattr(method, name, None), name) for name, node in tree["state"].items()}
    for name, value in values.items():
        setattr(method, name, value)
    if global_rng and "global_rng" in tree:
        _set_global_rng(tree["global_rng"], state.tensors)


def _check_attributes(method: object, tree: dict[str, Any]) -> None:
    """One error listing every attribute that differs in name or in hyperparameter value."""
    ours = vars(method)
    saved = {**tree["hyperparameters"], **tree["state"]}
    problems = [f"{k} is missing from this method" for k in saved if k not in ours]
    problems += [f"{k} is not in the checkpoint" for k in ours if k not in saved]
    problems += [f"{k}={ours[k]!r} here, {v!r} in the checkpoint" for k, v in tree["hyperparameters"].items()
                 if k in ours and _json(ours[k]) != _json(v)]
    if problems:
        raise StateMismatchError(f"the checkpoint does not fit this {type(method).__name__}: " + "; ".join(problems))


# -- process-wide RNGs ------------------------------------------------------------------------------
def _global_rng(capture: Capture) -> dict[str, Any]:
    """torch's default generator (as a tensor), numpy's legacy global state and `random`'s, as JSON."""
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    version, internal, gauss = random.getstate()
    return {"torch": capture.add_tensor("global_rng.torch", torch.get_rng_state()),
            "numpy": [name, keys.tolist(), pos, has_gauss, cached], "python": [version, list(internal), gauss]}


def _set_global_rng(node: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(tensors[node["torch"]])
    name, keys, pos, has_gauss, cached = node["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = node["python"]
    random.setstate((version, tuple(internal), gauss))


# -- small helpers ----------------------------------------------------------------------------------
def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _json(value: Any) -> str:
    """A canonical text for comparing plain values: tuples and lists compare equal, as after a JSON round trip."""
    return json.dumps(value, sort_keys=True, default=repr)


__all__ = ["MethodState", "StateMismatchError", "capture_state", "register_grower", "restore_state"]
