"""A config from a YAML file, a dict or `key=value` overrides; a stored run's config read back."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from supermasks.config import typed
from supermasks.config.experiment import ExperimentConfig
from supermasks.config.records import to_dict
from supermasks.config.layers import compose, expand_keys, idle_settings, without_settings
from supermasks.config.yaml_files import YAMLLimitError, load_yaml_text, read_yaml, yaml_problem
from supermasks.errors import ConfigError

def from_dict(values: Mapping[str, Any], *, base: ExperimentConfig | None = None) -> ExperimentConfig:
    """A config from `values` (nested or dotted keys) on top of `base` (or the defaults); unknown keys and
    wrong types raise ConfigError."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"a config must be a mapping of keys to values, got {type(values).__name__}")
    return compose(to_dict(base), values) if base is not None else compose(values)


def from_stored(values: Mapping[str, Any]) -> ExperimentConfig:
    """The config of a run directory's `config.yaml`, which an earlier version may have written with settings that
    are now declared to do nothing in its combination (`scenario.inference_batch_size` under scenario task, written
    at its default then): those are left out, as they did nothing in that run."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"a config must be a mapping of keys to values, got {type(values).__name__}")
    return compose(without_settings(values, idle_settings([], values)))


def updated(config: ExperimentConfig, values: Mapping[str, Any]) -> ExperimentConfig:
    """`config` with the settings in `values` (dotted keys: `{"supsup.transfer": "mean"}`) changed."""
    return from_dict(values, base=config)


def parse_override(text: str) -> tuple[str, Any]:
    """`key=value` with the value read as YAML (so `3` is an int, `[a, b]` a list, `true` a bool)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {typed.shown(text)} is not of the form key=value")
    try:
        value = load_yaml_text(raw) if raw.strip() else ""
    except YAMLLimitError as exc:
        raise ConfigError(f"override {typed.shown(text)}: the value is past a limit of YAML: {exc}") from None
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an int past Python's digit limit
        raise ConfigError(f"override {typed.shown(text)}: cannot read the value: {yaml_problem(exc)}") from None
    return key, value


def parse_overrides(overrides: list[str] | tuple[str, ...] | None) -> dict[str, Any]:
    """`key=value` overrides as one nested mapping (later ones win); None is no overrides.

    TypeError for a single string (which would otherwise be read character by character) and for an
    item that is not a string.
    """
    if overrides is None:
        return {}
    if isinstance(overrides, str):
        raise TypeError(f"overrides must be a list of 'key=value' strings, not one string: pass "
                        f"[{typed.shown(overrides)}]")
    items = list(overrides)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"overrides must be 'key=value' strings, got {typed.shown(item)} "
                            f"({type(item).__name__})")
    return expand_keys(dict(parse_override(o) for o in items))


def load_config(path: Path | str | None = None,
                overrides: list[str] | tuple[str, ...] | None = ()) -> ExperimentConfig:
    """The config in the YAML file `path` (defaults if None) with `key=value` overrides applied (a list
    such as `["data.num_tasks=3"]`; None or empty: none). TypeError for a single string: pass a list."""
    values: dict[str, Any] = {}
    if path is not None:
        values = read_yaml(path)
        values.setdefault("name", Path(path).stem)
    return compose(values, parse_overrides(overrides))
