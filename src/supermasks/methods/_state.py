"""What every method's `state_dict` shares: its name and hyperparameters, checked on load."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import torch


def header(method: Any, names: Iterable[str]) -> dict[str, Any]:
    """The start of a state dict: the method's name and its hyperparameters (plain values) by name."""
    return {"method": method.name, "hyperparameters": {name: getattr(method, name) for name in names}}


def check_header(method: Any, names: Iterable[str], state: dict[str, Any]) -> None:
    """ValueError naming every hyperparameter that differs, when `state` is not of this method or its settings."""
    if state.get("method") != method.name:
        raise ValueError(f"the state is of {state.get('method')!r}, not of {method.name!r}")
    ours = header(method, names)["hyperparameters"]
    saved = state.get("hyperparameters", {})
    problems = [f"{k}={v!r} here, {saved[k]!r} in the state" for k, v in ours.items()
                if k in saved and _canonical(v) != _canonical(saved[k])]
    problems += [f"{k} is not in the state" for k in ours if k not in saved]
    problems += [f"{k} is not a setting of this method" for k in saved if k not in ours]
    if problems:
        raise ValueError(f"the state does not fit this {type(method).__name__}: " + "; ".join(problems))


def _canonical(value: Any) -> str:
    """Plain values as canonical text: tuples and lists compare equal, as after a JSON round trip."""
    return json.dumps(value, sort_keys=True, default=repr)


def load_generator(generator: torch.Generator, state: torch.Tensor) -> None:
    generator.set_state(state.clone())


def owned(t: torch.Tensor) -> torch.Tensor:
    """A loaded tensor as the method's own: a copy, as a state may be shared with another method or a file buffer."""
    return t.detach().clone()
