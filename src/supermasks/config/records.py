"""What a run's hash covers (`identity`), and a config as the plain dict a run directory stores (`to_dict`).

The hash names the run's directory: a finished run is found again by it. Settings that say where output
goes are left out (NOT_IDENTITY), and settings added after runs were stored are left out at the value
those runs computed with (IDENTITY_DEFAULTS, IDLE_VALUES), so every stored run keeps its directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from supermasks.config.experiment import SECTIONS, ExperimentConfig
from supermasks.config.marks import protocol_marks
from supermasks.data.user import own_source_fingerprint
from supermasks.imports import is_import_path
from supermasks.methods import method_spec
from supermasks.models.user import own_fingerprint
from supermasks.seeds import streams

# Where output goes, not what is computed: left out of the run's identity (dotted keys).
# `run.parallel_tasks` says how tasks are scheduled; the results are those of sequential training.
# `run.device` says where they are computed, like the number of threads: a CUDA run's numbers differ from
# a CPU run's only in float rounding, and a run started on one device resumes on the other in the same
# directory (meta.json records the device each start resolved). `data.workers` (threads decoding ImageNet's
# JPEGs) decodes the same images with any count.
NOT_IDENTITY = frozenset({"run.out_dir", "run.checkpoint_state", "run.figure_format", "run.parallel_tasks", "run.report",
                          "run.device", "run.loggers", "data.workers"})
# Settings added after runs were stored whose default computes what those runs computed: left out of the
# identity while at that default, and while None (a setting that applies only in some combinations is None
# in the others, where earlier runs never had it either), so the hash (the directory) of every earlier run
# stays what it was.
IDENTITY_DEFAULTS: dict[str, Any] = {"training.epochs": None, "training.weight_decay": 0.0,
                                     "training.schedule": "constant", "training.amp": False,
                                     "training.precision": "float32",
                                     "batche.weights": "task0", "data.image_size": None,
                                     "data.permute_subsets": "independent", "data.permute_fraction_range": None}

# Settings that every config held before they were declared to do nothing in some combinations, and the value
# they held there (the default then, and run.overlap false in every stored run of a method without masks): where
# such a setting is null now (it does nothing), the identity and a study's name hold that value, so earlier runs
# and studies keep their hash, and one run's work is found under one hash whatever was given.
IDLE_VALUES: dict[str, Any] = {"scenario.inference_batch_size": 128, "run.overlap": False,
                               "model.mask_rule": "threshold", "run.eval_batch_size": 1024, "run.eval_every": 0,
                               "run.evaluate": "each", "run.figure_format": "png"}


_ABSENT = object()


def _as_dict(settings: Any) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if dataclasses.is_dataclass(value):
            value = _as_dict(value)
        elif isinstance(value, list):
            value = list(value)
        out[f.metadata.get("key", f.name)] = value
    return out


def to_dict(config: ExperimentConfig) -> dict[str, Any]:
    """Plain nested dict of the config (YAML/JSON-ready; `from_dict` reads it back)."""
    out: dict[str, Any] = {"name": config.name, "seed": config.seed, "method": list(config.method)}
    for section in SECTIONS:
        out[section] = _as_dict(getattr(config, section))
    for name, settings in config.method_settings.items():
        out[name] = _as_dict(settings)
    return out


def _fill_idle(out: dict[str, Any]) -> dict[str, Any]:
    """`out` (a config's dict) with each setting of IDLE_VALUES that is null at the value earlier versions held."""
    for key, idle in IDLE_VALUES.items():
        section, leaf = key.split(".")
        if out.get(section, {}).get(leaf, _ABSENT) is None:
            out[section][leaf] = idle
    return out


# Settings of NOT_IDENTITY added after studies were named: left out of the dict a study's directory name hashes too.
NOT_IN_STUDY_NAMES = ("run.loggers",)


def stable_dict(config: ExperimentConfig) -> dict[str, Any]:
    """`to_dict(config)` with the settings that do nothing at the values every earlier version wrote (IDLE_VALUES),
    without NOT_IN_STUDY_NAMES: what a study's directory name hashes, so that name stays what it was."""
    out = _fill_idle(to_dict(config))
    for key in NOT_IN_STUDY_NAMES:
        section, leaf = key.split(".")
        out[section].pop(leaf, None)
    return out


def identity(config: ExperimentConfig) -> dict[str, Any]:
    """`to_dict(config)` without the settings in NOT_IDENTITY (where output goes): what a run hash covers."""
    out = to_dict(config)
    for key in NOT_IDENTITY:
        section, leaf = key.split(".")
        out[section].pop(leaf, None)
    _fill_idle(out)
    for key, default in IDENTITY_DEFAULTS.items():
        section, leaf = key.split(".")
        values = out.get(section, {})  # a method's section is there only when the method is
        value = values.get(leaf, _ABSENT)
        if value is not _ABSENT and (value is None or (value == default and type(value) is type(default))):
            del values[leaf]
    shared = any(method_spec(name).shared_initial_scores(settings) for name, settings in config.method_settings.items())
    marks = protocol_marks(scenario=config.scenario.name, inference_batch_size=config.scenario.inference_batch_size,
                           overlap=config.run.overlap, shared_initial_scores=shared)
    if marks:
        out["protocol"] = marks
    own = _own_fingerprints(config)
    if own:
        out["own"] = own
    return out


def _own_fingerprints(config: ExperimentConfig) -> dict[str, str]:
    """The fingerprints of a user's network and tasks that a config names by import path (built, or loaded, once
    per process), so that a changed function gives another run; those given in memory carry theirs in their name."""
    own = {}
    if is_import_path(config.model.arch):
        own["model"] = own_fingerprint(config.model.arch, config.model.output_size, streams(config.seed).weights)
    if is_import_path(config.data.source):
        own["data"] = own_source_fingerprint(config.data.source, config.data.num_tasks)
    return own


def config_hash(config: ExperimentConfig) -> str:
    """Short hash of everything that decides the results (not where they are written)."""
    blob = json.dumps(identity(config), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:8]


def run_directory(config: ExperimentConfig) -> Path:
    """`<out_dir>/<name>-<hash>`: the same config always maps to the same directory."""
    return Path(config.run.out_dir) / f"{config.name}-{config_hash(config)}"
