"""A method's `state_dict()` as a JSON tree plus named tensors, and back; the process-wide RNGs beside it.

Methods hand over their state as a tree of dicts and lists whose leaves are tensors, numbers,
strings, bools and None (the PyTorch convention; `Method.state_dict`). This module only turns
such a tree into what a file can hold: the tensors move into a flat dict, each named by its path
in the tree (`state/model/fc1.scores.0`), and the tree keeps `{"$tensor": name}` in their place.
Dicts with keys that are not plain strings (an optimiser's `{0: {...}}`) are kept as
`{"$items": [[key, value], ...]}`; tuples come back as lists. Nothing here knows a method: what
a state means, and how a fresh method takes it back, is the method's business.

The process-wide RNGs (torch's default generator, numpy's legacy global state, `random`) belong
to no method, yet a resumed run must continue them too, so they are captured here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

FORMAT = 2  # 1: the reflective walker's trees, which this version no longer reads


class StateMismatchError(ValueError):
    """Saved state that does not fit the method it is loaded into (another method, settings or code).

    The method may be partly loaded when this is raised: build a new one before using it.
    """


@runtime_checkable
class Stateful(Protocol):
    """What persistence needs of a method: its name and its explicit state dict (see `Method`)."""

    name: str

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass
class MethodState:
    """`tree` (JSON-able) describes the state and names each tensor of `tensors` by key."""

    tree: dict[str, Any]
    tensors: dict[str, torch.Tensor]  # CPU, contiguous, no two sharing memory (safetensors refuses that)


# -- a method's state and the global RNGs -----------------------------------------------------------
def capture_state(method: Stateful, *, global_rng: bool = True, copy: bool = True) -> MethodState:
    """`method.state_dict()` (and with `global_rng` the process-wide RNG states) as a tree and tensors.

    With `copy=False` the tensors are the method's own where safetensors allows it (no second
    copy of a large state), so training on changes them: write such a state out first.
    """
    tree: dict[str, Any] = {"format": FORMAT, "method": method.name, "state": method.state_dict()}
    if global_rng:
        tree["global_rng"] = global_rng_state()
    return encode(tree, copy=copy)


def restore_state(method: Stateful, state: MethodState, *, global_rng: bool = True) -> None:
    """Load `state` (from `capture_state`) into `method`, freshly built from the same settings.

    StateMismatchError when the state is of another format or method, or when the method refuses
    it (other hyperparameters, another network): the method's ValueError names what differs.
    """
    tree = decode(state)
    if tree.get("format") != FORMAT:
        raise StateMismatchError(f"state format {tree.get('format')!r}, this code reads format {FORMAT}")
    if tree.get("method") != method.name:
        raise StateMismatchError(f"the state is of {tree.get('method')!r}, not of {method.name!r}")
    try:
        method.load_state_dict(tree["state"])
    except StateMismatchError:
        raise
    except ValueError as error:
        raise StateMismatchError(str(error)) from error
    if global_rng and "global_rng" in tree:
        set_global_rng_state(tree["global_rng"])


def global_rng_state() -> dict[str, Any]:
    """torch's default generator (a tensor), numpy's legacy global state and `random`'s (plain values)."""
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    version, internal, gauss = random.getstate()
    return {"torch": torch.get_rng_state(), "numpy": [name, keys.tolist(), pos, has_gauss, cached],
            "python": [version, list(internal), gauss]}


def set_global_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


# -- the tree <-> (JSON tree, named tensors) --------------------------------------------------------
def encode(tree: dict[str, Any], *, copy: bool = True) -> MethodState:
    """Move every tensor of `tree` into a flat dict named by its path; TypeError for a value no file can hold."""
    tensors: dict[str, torch.Tensor] = {}
    storages: set[int] = set()

    def add(t: torch.Tensor, path: str) -> dict[str, str]:
        if path in tensors:
            raise ValueError(f"two tensors would be stored under {path!r}")
        t = t.detach().cpu()
        storage = t.untyped_storage()
        if (copy or not t.is_contiguous() or t.nbytes == 0 or storage.nbytes() != t.nbytes
                or storage.data_ptr() in storages):
            t = t.clone()  # a view or a shared buffer: safetensors stores only whole, unshared tensors
        storages.add(t.untyped_storage().data_ptr())
        tensors[path] = t
        return {"$tensor": path}

    def walk(value: Any, path: str) -> Any:
        if value is None or type(value) in (bool, int, float, str):
            return value
        if isinstance(value, torch.Tensor):
            return add(value, path)
        if isinstance(value, (list, tuple)):
            return [walk(v, _join(path, i)) for i, v in enumerate(value)]
        if isinstance(value, dict):
            if all(type(k) is str and not k.startswith("$") for k in value):
                return {k: walk(v, _join(path, k)) for k, v in value.items()}
            if all(type(k) in (str, int) for k in value):
                return {"$items": [[k, walk(v, _join(path, k))] for k, v in value.items()]}
        raise TypeError(f"cannot store {path or 'the state'}: a {type(value).__module__}.{type(value).__qualname__} "
                        "is not a tensor, number, string, bool, None, or a list or dict of them")

    return MethodState(walk(tree, ""), tensors)


def decode(state: MethodState) -> dict[str, Any]:
    """The tree `encode` was given, with the stored tensors in place (tuples as lists)."""

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, dict):
            if "$tensor" in node:
                return state.tensors[node["$tensor"]]
            if "$items" in node:
                return {k: walk(v) for k, v in node["$items"]}
            return {k: walk(v) for k, v in node.items()}
        return node

    return walk(state.tree)


def _join(path: str, key: str | int) -> str:
    return f"{path}/{key}" if path else str(key)


__all__ = ["FORMAT", "MethodState", "StateMismatchError", "Stateful", "capture_state", "decode", "encode",
           "global_rng_state", "restore_state", "set_global_rng_state"]
