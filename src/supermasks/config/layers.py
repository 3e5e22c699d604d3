"""Building a config from layers of nested or dotted mappings: types checked, layers merged, idle settings dropped.

A layer that sets `method` drops the earlier layers' sections of methods it no longer lists, and likewise
every setting that applies only to a choice the layer changes (`supermasks.conditional`).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from supermasks.conditional import OnlyWhen, is_local, rules
from supermasks.config import typed
from supermasks.config.experiment import SECTIONS, ExperimentConfig
from supermasks.config.keys import OLD_KEYS, TOP_KEYS, unknown_key_error
from supermasks.errors import ConfigError
from supermasks.methods import list_methods, method_spec

def _prefixed(where: str, message: str, keys: Mapping[str, Any]) -> str:
    """A settings class's message with its section in front: `ewc.lambda must be ...`."""
    first = message.split(" ", 1)[0].rstrip(":")
    return f"{where}{message}" if first in keys else f"{where[:-1]}: {message}"


def _build(cls: type, values: Any, where: str) -> Any:
    """The settings `cls` from a mapping of its YAML keys; `where` is the dotted prefix for messages."""
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        section = where[:-1]
        if section in OLD_KEYS:
            raise ConfigError(f"{section!r} is now {OLD_KEYS[section]!r}: {section} is a section of settings")
        raise ConfigError(f"{section}: expected a mapping of keys to values, got {typed.shown(values)}")
    keys, hints = typed.field_keys(cls), typed.hints(cls)
    kwargs = {}
    for key, value in values.items():
        if key not in keys:
            raise unknown_key_error(f"{where}{key}", value)
        f = keys[key]
        sub = typed.section_class(hints[f.name])
        if sub is not None:
            kwargs[f.name] = None if value is None and sub is not hints[f.name] else _build(sub, value, f"{where}{key}.")
        else:
            kwargs[f.name] = typed.coerce(f"{where}{key}", value, hints[f.name], empty=f.default_factory is list)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(_prefixed(where, str(exc), keys)) from None


def expand_keys(values: Mapping[str, Any]) -> dict[str, Any]:
    """A nested dict from one whose keys may be dotted (`ewc.lambda: 5` -> `ewc: {lambda: 5}`)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        parts = str(key).split(".")
        node = out
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        if isinstance(value, Mapping):
            value = expand_keys(value)
            if isinstance(node.get(parts[-1]), dict):
                value = _merge(node[parts[-1]], value)
        node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        out[key] = _merge(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), dict) else value
    return out


def conditions() -> list[tuple[str, str, OnlyWhen]]:
    """(dotted setting, dotted setting it depends on, rule) for every setting that applies only in some
    combinations, over every section and method, in field order: a setting that depends on another
    conditional one of its section (`data.permute_fraction` on `data.permute_subsets`) comes after it."""
    classes = [*SECTIONS.items(), *((name, method_spec(name).settings) for name in list_methods())]
    return [(f"{section}.{name}", f"{section}.{rule.key}" if is_local(cls, rule) else rule.key, rule)
            for section, cls in classes for name, rule in rules(cls)]


_ABSENT = object()


def _get(values: Mapping[str, Any], key: str) -> Any:
    """The value at the dotted `key` in nested `values`, or _ABSENT."""
    node: Any = values
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _ABSENT
        node = node[part]
    return node


def _pop(values: dict[str, Any], key: str) -> None:
    *path, leaf = key.split(".")
    node: Any = values
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(leaf, None)


def _layer(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """`update` (nested) on top of `base`, dropping what `base` set only for a choice `update` changes."""
    out = copy.deepcopy(dict(base))
    if "method" in update:
        kept = update["method"] if isinstance(update["method"], list) else [update["method"]]
        for key in [k for k in out if k in list_methods() and k not in kept and k not in update]:
            del out[key]
    dropped: set[str] = set()
    declared = conditions()
    conditional = {key for key, _, _ in declared}
    for key, condition, rule in declared:  # a setting's condition comes before it (`conditions`)
        if _get(update, key) is not _ABSENT:
            continue
        chosen = _get(update, condition)
        if chosen is None and condition in conditional:  # null: "not set", so the condition's own default
            chosen = _value_in(_merge(out, update), condition)
        # A dropped condition no longer applies either, so it is None (permute_subsets, and with it
        # permute_fraction, once a layer chooses a benchmark other than permuted).
        if (chosen is not _ABSENT and not rule.applies(chosen)) or (
                chosen is _ABSENT and condition in dropped and not rule.applies(None)):
            _pop(out, key)
            dropped.add(key)
    return _merge(out, update)


def _from_values(values: Mapping[str, Any]) -> ExperimentConfig:
    """A config from one nested mapping (already merged); every key, type and value checked."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"a config must be a mapping of keys to values, got {type(values).__name__}")
    hints = typed.hints(ExperimentConfig)
    methods = list_methods()
    kwargs: dict[str, Any] = {}
    method_settings = {}
    for key, value in values.items():
        if key in TOP_KEYS:
            kwargs[key] = typed.coerce(key, value, hints[key])
        elif key in SECTIONS:
            kwargs[key] = _build(SECTIONS[key], value, f"{key}.")
        elif key in methods:
            method_settings[key] = _build(method_spec(key).settings, value, f"{key}.")
        else:
            raise unknown_key_error(str(key), value)
    _refuse_other_methods(values)  # after each section's keys and types are checked: a typo is named as one
    try:
        return ExperimentConfig(**kwargs, method_settings=method_settings)
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _refuse_other_methods(values: Mapping[str, Any]) -> None:
    """A method's section beside a `method` that does not list it does nothing: ConfigError naming its first setting."""
    chosen = values.get("method", _default("method"))
    names = chosen if isinstance(chosen, list) else [chosen]
    if not all(isinstance(name, str) for name in names):
        return  # not a list of names: its own check says so
    for key, value in values.items():
        if key in list_methods() and key not in names:
            leaf = _leaves(key, value)[0]
            raise ConfigError(f"{leaf} does nothing here: it applies only to runs of method {key} (method is "
                              f"{names}): remove it, or add {key} to method")


def compose(*layers: Mapping[str, Any]) -> ExperimentConfig:
    """The config of `layers` (mappings with nested or dotted keys) applied in order over the defaults."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if not isinstance(layer, Mapping):
            raise ConfigError(f"a config must be a mapping of keys to values, got {type(layer).__name__}")
        merged = _layer(merged, expand_keys(layer))
    return _from_values(merged)


def _default(key: str) -> Any:
    """The default of the dotted setting `key` in its settings class."""
    section, *path = key.split(".")
    if not path:  # a top-level setting (`method`)
        (f,) = [f for f in dataclasses.fields(ExperimentConfig) if f.name == section]
        return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    cls = SECTIONS[section] if section in SECTIONS else method_spec(section).settings
    for part in path:
        (f,) = [f for f in dataclasses.fields(cls) if f.name == part]
        value = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        cls = type(value)
    return value


def _value_in(values: Mapping[str, Any], key: str) -> Any:
    """The value of the dotted setting `key` in merged `values`: as given, else its default, which for a setting
    that applies only with another one is None where that one does not make it apply."""
    given = _get(values, key)
    for name, condition, rule in conditions():
        if name == key and (given is _ABSENT or given is None):
            return rule.fallback() if rule.applies(_value_in(values, condition)) else None
    return _default(key) if given is _ABSENT else given


def idle_settings(layers: Sequence[Mapping[str, Any]], shared: Mapping[str, Any]) -> dict[str, str]:
    """The settings of `shared` (overrides a study applies to each of its runs) that would do nothing on top
    of one run's `layers`, each with the choice it applies to: a method's section where the run does not run
    that method, and every setting declared to apply only to other choices (`scenario.nns` outside scenario
    nns, `model.density` under the threshold rule, ...). A study leaves them out of that run
    (`without_settings`); one that does nothing in every run is an error."""
    shared = expand_keys(shared)
    merged: dict[str, Any] = {}
    for layer in (*layers, shared):
        merged = _layer(merged, expand_keys(layer))
    methods = merged.get("method", ExperimentConfig().method)
    idle = {}
    for name in shared:
        if name in list_methods() and name not in (methods if isinstance(methods, list) else [methods]):
            idle.update(dict.fromkeys(_leaves(name, shared[name]), f"it applies only to runs of method {name!r}"))
    for key, condition, rule in conditions():
        given = _get(shared, key)
        if given is _ABSENT or given is None or rule.is_inert(given):
            continue
        if not rule.applies(_value_in(merged, condition)):
            for leaf in _leaves(key, given):
                idle.setdefault(leaf, f"it applies only to {rule.reason}")
    return idle


def _leaves(key: str, value: Any) -> list[str]:
    """The dotted keys of the settings in `value` under `key` (`key` itself for a setting or an empty section)."""
    if isinstance(value, Mapping) and value:
        return [leaf for k, v in value.items() for leaf in _leaves(f"{key}.{k}", v)]
    return [key]


def without_settings(values: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """`values` (nested or dotted keys) without the settings named by the dotted `keys`, and without the
    sections that this leaves empty (an empty method section still names its method)."""
    out = copy.deepcopy(expand_keys(values))
    for key in keys:
        parts = key.split(".")
        path = [out]
        for part in parts[:-1]:
            node = path[-1].get(part)
            if not isinstance(node, dict):
                break
            path.append(node)
        else:
            path[-1].pop(parts[-1], None)
            for depth in range(len(path) - 1, 0, -1):  # drop the sections emptied, innermost first
                if not path[depth]:
                    path[depth - 1].pop(parts[depth - 1], None)
    return out
