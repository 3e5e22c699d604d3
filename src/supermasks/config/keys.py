"""The dotted keys a config accepts, and the errors that name the closest one for a key it does not."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from supermasks.config import typed
from supermasks.config.experiment import SECTIONS
from supermasks.errors import ConfigError
from supermasks.methods import list_methods, method_spec

# Each flat key of the config before it was grouped into sections, and its dotted spelling now.
OLD_KEYS: dict[str, str] = {
    "benchmark": "data.benchmark", "source": "data.source", "data_dir": "data.data_dir",
    "num_tasks": "data.num_tasks", "classes_per_task": "data.classes_per_task", "label_mode": "data.label_mode",
    "pair_source": "data.pair_source", "rotation_step": "data.rotation_step",
    "model": "model.arch", "output_size": "model.output_size", "mask_rule": "model.mask_rule",
    "density": "model.density", "batch_norm": "model.batch_norm",
    "optimizer": "training.optimizer", "lr": "training.lr", "batch_size": "training.batch_size",
    "steps_per_task": "training.steps_per_task",
    "scenario": "scenario.name", "inference_batch_size": "scenario.inference_batch_size",
    "nns_check_every": "scenario.nns.check_every", "nns_margin": "scenario.nns.margin",
    "nns_candidates": "scenario.nns.candidates", "nns_warmup": "scenario.nns.warmup",
    "eval_batch_size": "run.eval_batch_size", "eval_every": "run.eval_every", "evaluate": "run.evaluate",
    "checkpoint_state": "run.checkpoint_state", "overlap": "run.overlap", "figures": "run.figures",
    "out_dir": "run.out_dir",
    "task_inference": "supsup.task_inference", "inference_objective": "supsup.inference_objective",
    "transfer": "supsup.transfer", "transfer_protocol": "supsup.transfer_protocol",
    "transfer_temperature": "supsup.transfer_temperature",
    "hopfield_recovery_steps": "hopsupsup.recovery_steps", "hopfield_recovery_lr": "hopsupsup.recovery_lr",
    "hopfield_recall_steps": "hopsupsup.recall_steps", "hopfield_score_scale": "hopsupsup.score_scale",
    "ewc_lambda": "ewc.lambda", "ewc_samples": "ewc.samples", "ewc_fisher_label": "ewc.fisher_label",
    "ewc_mode": "ewc.mode", "ewc_decay": "ewc.decay",
    "replay_fraction": "replay.fraction", "replay_per_task": "replay.per_task", "replay_budget": "replay.budget",
    "replay_selection": "replay.selection", "replay_mix": "replay.mix",
    "heads_trunk": "separate_heads.trunk",
}
TOP_KEYS = ("name", "seed", "method")


def _dotted_keys(cls: type, prefix: str) -> list[str]:
    out = []
    for key, f in typed.field_keys(cls).items():
        sub = typed.section_class(typed.hints(cls)[f.name])
        out += _dotted_keys(sub, f"{prefix}{key}.") if sub else [prefix + key]
    return out


def valid_keys() -> list[str]:
    """Every dotted key a config accepts."""
    keys = list(TOP_KEYS)
    for section, cls in SECTIONS.items():
        keys += _dotted_keys(cls, section + ".")
    for name in list_methods():
        keys += _dotted_keys(method_spec(name).settings, name + ".")
    return keys


def unknown_key_message(key: str) -> str:
    """The error for `key`: its new spelling if it is an old flat key, else the closest valid key."""
    if key in OLD_KEYS:  # flat keys had no dots; a dotted key that ends in one is a misplaced setting
        return (f"{key!r} is now {OLD_KEYS[key]!r}: settings are grouped in sections (data, model, training, "
                f"scenario, run, one per method); YAML nests them, overrides use dotted keys")
    valid = valid_keys()
    if len(key) > typed.SHOWN_CHARS:  # far longer than any valid key: nothing is close, and matching would be slow
        return f"unknown config key {typed.shown(key)}. Valid keys: {', '.join(valid)}"
    leaf = key.rsplit(".", 1)[-1]
    # A known setting under the wrong section (`data.lr`, `dta.num_tasks`): the keys ending in that name;
    # else the whole dotted key; else the last part alone (so `lt` still finds `training.lr`).
    same = [k for k in valid if k.rsplit(".", 1)[-1] == leaf] + ([OLD_KEYS[leaf]] if leaf in OLD_KEYS else [])
    close = difflib.get_close_matches(key, same, n=1, cutoff=0.0) if "." in key else []
    if not close:
        close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    if not close:
        leaves = {k.rsplit(".", 1)[-1]: k for k in valid}
        near = difflib.get_close_matches(leaf, leaves, n=1, cutoff=0.5 if len(leaf) <= 2 else 0.6)
        close = [leaves[near[0]]] if near else []
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"unknown config key {typed.shown(key)}.{hint} Valid keys: {', '.join(valid)}"


def unknown_key_error(key: str, value: Any) -> ConfigError:
    """The error for an unknown `key`, naming the whole dotted key a nested `value` continues it with
    (`dat.num_tasks=3` arrives as `dat: {num_tasks: 3}`); a misspelt section of several settings gets
    the closest section."""
    while isinstance(value, Mapping) and len(value) == 1:
        (part, value), = value.items()
        key = f"{key}.{part}"
    if isinstance(value, Mapping) and value:
        sections = sorted({k.rsplit(".", 1)[0] for k in valid_keys() if "." in k})
        close = difflib.get_close_matches(key, sections, n=1, cutoff=0.6)
        hint = f" Did you mean the section {close[0]!r}?" if close else ""
        return ConfigError(f"unknown config key {typed.shown(key)}.{hint} Sections: {', '.join(sections)}")
    return ConfigError(unknown_key_message(key))
