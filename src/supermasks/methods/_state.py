"""What every method's `state_dict` shares: its name and hyperparameters, checked on load."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol

import torch

from supermasks.training import TrainingSettings

# The fields of the run's `TrainingSettings` that every state records among its hyperparameters, beside the
# method's own. `precision` is not one: states have never recorded it, and the scores and optimiser state
# a state holds are float32 under either precision.
RECORDED_TRAINING = ("optimizer", "lr", "batch_size", "steps_per_task", "epochs", "schedule", "weight_decay", "amp")


class Trains(Protocol):
    """A method as its state header reads it: its name and the training settings it was built with."""

    name: str
    training: TrainingSettings


def hyperparameters(method: Trains, names: Iterable[str]) -> dict[str, Any]:
    """The settings a state records (plain values, by name): `RECORDED_TRAINING` read from `method.training`,
    then the method's own attributes `names`."""
    training = {key: getattr(method.training, key) for key in RECORDED_TRAINING}
    return training | {name: getattr(method, name) for name in names}


def header(method: Trains, names: Iterable[str], version: int = 1) -> dict[str, Any]:
    """The start of a state dict: the method's name, its hyperparameters (`hyperparameters`), and its layout.

    `version` numbers the layout of the rest of the method's state; a method raises it when it
    changes what it stores, and reads (or converts) older ones in `load_state_dict`. Layout 1 is
    not written (states from before versions carry none).
    """
    out: dict[str, Any] = {"method": method.name, "hyperparameters": hyperparameters(method, names)}
    return out | ({"version": version} if version != 1 else {})


def state_version(method: Any, state: dict[str, Any], newest: int) -> int:
    """The layout version of `state` (1 when it records none); ValueError when this code cannot read it."""
    version = state.get("version", 1)
    if not isinstance(version, int) or not 1 <= version <= newest:
        raise ValueError(f"the state of {method.name!r} has layout version {version!r}, this code reads versions "
                         f"1 to {newest}: it was written by a newer supermasks; resume it with that version")
    return version


# Training settings added after states were first written, with the value those states trained with.
ADDED_TRAINING = {"epochs": None, "schedule": "constant", "weight_decay": 0.0, "amp": False}


def check_header(method: Trains, names: Iterable[str], state: dict[str, Any]) -> None:
    """ValueError naming every hyperparameter that differs, when `state` is not of this method or its settings.

    A state written before a setting of `ADDED_TRAINING` existed trained with its value there.
    """
    if state.get("method") != method.name:
        raise ValueError(f"the state is of {state.get('method')!r}, not of {method.name!r}")
    ours = hyperparameters(method, names)
    saved = state.get("hyperparameters", {})
    saved = {**{k: v for k, v in ADDED_TRAINING.items() if k in ours}, **saved}
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
