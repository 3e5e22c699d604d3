"""Experiment configuration: the components' settings dataclasses composed into one config, YAML
loading, and dotted `key=value` overrides.

Each component defines its settings beside the code that uses them and checks its own values
(`data.DataSettings`, `models.ModelSettings`, `training.TrainingSettings`,
`scenarios.ScenarioSettings`, one per method registered in `supermasks.methods`); the runner's own
settings are `RunSettings` below. A YAML file nests one section per component:

    name: compare
    method: [naive, ewc]
    data: {benchmark: [permuted], num_tasks: 5}
    training: {optimizer: adam, lr: 0.001}
    ewc: {lambda: 100.0}

and an override names a setting by its dotted key (`training.lr=1e-3`, `ewc.lambda=5000`). The
loader checks types and the choices of every `Literal` once; a settings class's ValueError
becomes a ConfigError prefixed with its section. Values are merged layer by layer (file, then
overrides; a study's base, part, grid point, then overrides): a layer that sets `method` drops the
earlier layers' sections of methods it no longer lists, and likewise every setting that applies only
to a choice the layer changes (declared with `supermasks.conditional.only_when`: the NNs settings
outside scenario nns, `density` outside the top-k rule, `classes_per_task` without the split
benchmark, ...). Within one layer a setting that does nothing is an error. Such a setting is None
where it does not apply and its default where it does, so a config's dict says what a run uses.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from supermasks.data.settings import DataSettings
from supermasks import _typed
from supermasks.conditional import OnlyWhen, complete, is_local, only_when, resolved, rules
from supermasks.devices import check_device_name
from supermasks.errors import ConfigError
from supermasks.yaml_files import YAMLLimitError, load_yaml_text, read_yaml, read_yaml_file, yaml_problem
from supermasks.methods import list_methods, masked_methods, method_spec
from supermasks.models.settings import ModelSettings
from supermasks.pathnames import RUN_DIR_ROOM, path_problem
from supermasks.protocols import protocol_marks
from supermasks.scenarios import SCENARIOS, ScenarioSettings, scenario_of_stream
from supermasks.training import TrainingSettings


# The scenarios with task boundaries, evaluated by the runner task by task; the NNs stream evaluates itself
# (runner.stream) in batches of scenario.inference_batch_size, after every task's part.
SEGMENTED = frozenset(name for name in SCENARIOS if not scenario_of_stream(name))
_SEGMENTED_REASON = "the scenarios with task boundaries (all but nns, whose stream the runner evaluates itself)"
_SEGMENTED_FIX = f"set scenario.name to one of {', '.join(name for name in SCENARIOS if name in SEGMENTED)}"


@dataclass(frozen=True)
class RunSettings:
    """The `run` section: what the runner evaluates and writes, and where."""

    eval_batch_size: int | None = field(default=None, metadata=only_when(
        "scenario.name", SEGMENTED, _SEGMENTED_REASON, default=1024,
        fix="set scenario.inference_batch_size, which nns reads"))
    # Steps between accuracy-curve points on every task seen so far (0: off).
    eval_every: int | None = field(default=None, metadata=only_when(
        "scenario.name", SEGMENTED, _SEGMENTED_REASON, default=0, inert=(0,), fix=_SEGMENTED_FIX))
    # "each": fill R after every task; "last": only after the last (long runs).
    evaluate: Literal["each", "last"] | None = field(default=None, metadata=only_when(
        "scenario.name", SEGMENTED, _SEGMENTED_REASON, default="each", fix=_SEGMENTED_FIX))
    # Test images per task that evaluation uses: a fixed random sample of each task's test set, drawn
    # once per task from the `eval_sample` stream (supermasks.seeds); None: every test image.
    eval_sample: int | None = None
    checkpoint_state: bool = True  # full training state after every task, so an interrupted run resumes
    # The mask-overlap analysis (Experiment 1), of the methods that learn masks; false is accepted with any method.
    overlap: bool | None = field(default=None, metadata=only_when(
        "method", masked_methods, "methods that learn a mask per task (supsup)", default=True,
        fix="add supsup to method", inert=(False,)))
    figures: bool = True
    figure_format: Literal["png", "svg", "png+svg"] | None = field(default=None, metadata=only_when(  # written once,
        "figures", True, "runs that write figures (run.figures true)", default="png",  # at the end of a run
        fix="set run.figures=true"))
    report: bool = True  # report.html (supermasks.report) in the run (or study) directory after the CLI's run
    out_dir: str = "runs"
    # SupSup's tasks (scenario task, transfer random) trained at once, in worker processes of one thread
    # (or as Ray tasks on a Ray the caller started), with the results of training them in sequence
    # (runner.parallel). auto: where the tasks allow it and the run has more than one thread (--threads N).
    parallel_tasks: bool | Literal["auto"] = "auto"
    # Where models, masks and optimiser state live (supermasks.devices): auto (CUDA when available, else
    # the CPU), cpu, cuda or cuda:N. Data stays on the CPU and moves per batch. Not part of the run's hash.
    device: str = "auto"

    def __post_init__(self) -> None:
        complete(self, "run")
        check_device_name(self.device)
        if self.eval_batch_size is not None and self.eval_batch_size < 1:
            raise ValueError(f"eval_batch_size must be a positive number, got {self.eval_batch_size}")
        if self.eval_every is not None and self.eval_every < 0:
            raise ValueError(f"eval_every must be 0 (off) or a number of steps, got {self.eval_every}")
        if self.eval_sample is not None and self.eval_sample < 1:
            raise ValueError(f"eval_sample must be a positive number of test images per task, or null for every "
                             f"test image, got {self.eval_sample}")
        problem = path_problem(self.out_dir, room=RUN_DIR_ROOM)  # refused here, before a run directory exists
        if problem:
            raise ValueError(f"out_dir {problem}: choose another run.out_dir")

    @property
    def figure_formats(self) -> tuple[str, ...]:
        """The file formats of `figure_format`, e.g. ("png", "svg"); none without figures."""
        return tuple(self.figure_format.split("+")) if self.figure_format else ()


# A run's name becomes its directory's name under run.out_dir, so it must be one safe path component.
NAME_RULE = ("1-100 characters from letters, digits, '.', '_' and '-', not starting with '.' or '-', "
             "without '..'")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")


def check_name(name: str, what: str = "name") -> None:
    """Raise ConfigError (naming `what` and the rule) unless `name` can name a run directory: no path
    separator, no `..`, no hidden or option-like name, short enough for any file system."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        # A name too long is shown whole up to twice the limit, so that the user sees how much to cut.
        raise ConfigError(f"{what}: {_typed.shown(name, 2 * 100 + 2)} cannot name a run directory; use {NAME_RULE}")


# Words a table (pandas' CSV reader) reads back as no value, a boolean or a number, never as the name itself.
_READ_BACK_AS_OTHER = frozenset({"na", "nan", "null", "none", "true", "false"})


def check_names(names: Iterable[Any], what: str) -> None:
    """Raise ConfigError unless every key of a YAML mapping in `names` can name a study part's runs and rows: text
    (YAML reads null, ~, yes/no, on/off, true/false and bare numbers as other values), a safe directory name
    (`check_name`), a word the study's tables read back as itself (not `None`, `NaN`, `true` or a number), and
    different from the others in more than case (a case-insensitive disk makes `A` and `a` one directory)."""
    seen: dict[str, str] = {}
    for name in names:
        if not isinstance(name, str):
            spelled = "null" if name is None else str(name).lower() if isinstance(name, bool) else _typed.shown(name)
            kind = "no value" if name is None else type(name).__name__
            raise ConfigError(f"{what} {spelled}: YAML reads this key as {kind}, not as a name; name it with a word "
                              f"(a quoted 'off' or 'yes' stays a word)")
        check_name(name, what)
        if name.lower() in _READ_BACK_AS_OTHER or _is_number(name):
            raise ConfigError(f"{what} {name!r}: the study's tables would read it back as "
                              f"{'a number' if _is_number(name) else 'no value or a boolean'}; choose another name")
        if name.lower() in seen:
            raise ConfigError(f"{what}s {seen[name.lower()]!r} and {name!r} differ only in case, which a "
                              f"case-insensitive disk makes one directory; rename one")
        seen[name.lower()] = name


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


SECTIONS: dict[str, type] = {"data": DataSettings, "model": ModelSettings, "training": TrainingSettings,
                             "scenario": ScenarioSettings, "run": RunSettings}


MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything a run depends on. Defaults follow SupSup on MNIST (ALGORITHMS.md section 1).

    `method_settings` holds the settings of each method in `method` (its defaults when not given);
    read them with `config.settings("ewc")`.
    """

    name: str = "experiment"
    seed: int = 0  # every random stream derives from it (supermasks.seeds)
    method: list[str] = field(default_factory=lambda: ["supsup"])  # several: compared on the same tasks
    data: DataSettings = field(default_factory=DataSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    scenario: ScenarioSettings = field(default_factory=ScenarioSettings)
    run: RunSettings = field(default_factory=RunSettings)
    method_settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 <= self.seed <= MAX_SEED:  # numpy's RandomState (permutations, split classes) takes no other
            raise ValueError(f"seed must be in [0, 2**32 - 1] (0 to {MAX_SEED}), got {_typed.shown(self.seed)}")
        check_name(self.name)
        known = list_methods()
        if not self.method:
            raise ValueError("method: name at least one method")
        for name in self.method:
            if name not in known:
                raise ValueError(f"method: unknown value {_typed.shown(name)}; choose one of {', '.join(known)}")
        if len(set(self.method)) != len(self.method):
            raise ValueError(f"method: {_typed.shown(self.method)} names one twice")
        for name in self.method_settings:
            if name not in self.method:
                raise ValueError(f"{name}: settings for method {name!r}, which is not in method {self.method}: "
                                 f"remove the section or add the method")
        settings = {}
        for name in self.method:
            cls = method_spec(name).settings
            given = self.method_settings.get(name)
            if given is None:
                given = cls()
            elif not isinstance(given, cls):
                raise ValueError(f"{name}: expected {cls.__name__}, got {type(given).__name__}")
            settings[name] = given
        object.__setattr__(self, "method_settings", settings)
        self._resolve_across_sections()

    def _resolve_across_sections(self) -> None:
        """Fill in or refuse the settings whose condition is in another section or at the top (`supsup.task_inference`
        applies only to the scenarios that infer tasks, `run.overlap` only to methods that learn masks)."""
        for section, settings in [(s, getattr(self, s)) for s in SECTIONS] + list(self.method_settings.items()):
            changes = {}
            for name, rule in rules(type(settings)):
                if not is_local(type(settings), rule):
                    value = resolved(f"{section}.{name}", getattr(settings, name), rule, self.value(rule.key))
                    if value != getattr(settings, name):
                        changes[name] = value
            if changes:
                settings = dataclasses.replace(settings, **changes)
                if section in SECTIONS:
                    object.__setattr__(self, section, settings)
                else:
                    self.method_settings[section] = settings

    def value(self, key: str) -> Any:
        """The value of the dotted setting `key` (`"scenario.name"`, `"ewc.mode"`)."""
        section, *path = key.split(".")
        node = getattr(self, section) if section in SECTIONS or not path else self.settings(section)
        for part in path:
            node = getattr(node, part)
        return node

    def settings(self, method: str) -> Any:
        """The settings of `method` (one of `self.method`)."""
        if method not in self.method_settings:
            raise KeyError(f"method {method!r} is not in this config's methods {self.method}")
        return self.method_settings[method]


# Where output goes, not what is computed: left out of the run's identity (dotted keys).
# `run.parallel_tasks` says how tasks are scheduled; the results are those of sequential training.
# `run.device` says where they are computed, like the number of threads: a CUDA run's numbers differ from
# a CPU run's only in float rounding, and a run started on one device resumes on the other in the same
# directory (meta.json records the device each start resolved). `data.workers` (threads decoding ImageNet's
# JPEGs) decodes the same images with any count.
NOT_IDENTITY = frozenset({"run.out_dir", "run.checkpoint_state", "run.figure_format", "run.parallel_tasks", "run.report",
                          "run.device", "data.workers"})
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
_TOP = ("name", "seed", "method")


def _dotted_keys(cls: type, prefix: str) -> list[str]:
    out = []
    for key, f in _typed.field_keys(cls).items():
        sub = _typed.section_class(_typed.hints(cls)[f.name])
        out += _dotted_keys(sub, f"{prefix}{key}.") if sub else [prefix + key]
    return out


def valid_keys() -> list[str]:
    """Every dotted key a config accepts."""
    keys = list(_TOP)
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
    if len(key) > _typed.SHOWN_CHARS:  # far longer than any valid key: nothing is close, and matching would be slow
        return f"unknown config key {_typed.shown(key)}. Valid keys: {', '.join(valid)}"
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
    return f"unknown config key {_typed.shown(key)}.{hint} Valid keys: {', '.join(valid)}"


def _unknown(key: str, value: Any) -> ConfigError:
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
        return ConfigError(f"unknown config key {_typed.shown(key)}.{hint} Sections: {', '.join(sections)}")
    return ConfigError(unknown_key_message(key))


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
        raise ConfigError(f"{section}: expected a mapping of keys to values, got {_typed.shown(values)}")
    keys, hints = _typed.field_keys(cls), _typed.hints(cls)
    kwargs = {}
    for key, value in values.items():
        if key not in keys:
            raise _unknown(f"{where}{key}", value)
        f = keys[key]
        sub = _typed.section_class(hints[f.name])
        if sub is not None:
            kwargs[f.name] = None if value is None and sub is not hints[f.name] else _build(sub, value, f"{where}{key}.")
        else:
            kwargs[f.name] = _typed.coerce(f"{where}{key}", value, hints[f.name])
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(_prefixed(where, str(exc), keys)) from None


def _expand(values: Mapping[str, Any]) -> dict[str, Any]:
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
            value = _expand(value)
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
    hints = _typed.hints(ExperimentConfig)
    methods = list_methods()
    kwargs: dict[str, Any] = {}
    method_settings = {}
    for key, value in values.items():
        if key in _TOP:
            kwargs[key] = _typed.coerce(key, value, hints[key])
        elif key in SECTIONS:
            kwargs[key] = _build(SECTIONS[key], value, f"{key}.")
        elif key in methods:
            method_settings[key] = _build(method_spec(key).settings, value, f"{key}.")
        else:
            raise _unknown(str(key), value)
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
        merged = _layer(merged, _expand(layer))
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
    shared = _expand(shared)
    merged: dict[str, Any] = {}
    for layer in (*layers, shared):
        merged = _layer(merged, _expand(layer))
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
    out = copy.deepcopy(_expand(values))
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
        raise ConfigError(f"override {_typed.shown(text)} is not of the form key=value")
    try:
        value = load_yaml_text(raw) if raw.strip() else ""
    except YAMLLimitError as exc:
        raise ConfigError(f"override {_typed.shown(text)}: the value is past a limit of YAML: {exc}") from None
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an int past Python's digit limit
        raise ConfigError(f"override {_typed.shown(text)}: cannot read the value: {yaml_problem(exc)}") from None
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
                        f"[{_typed.shown(overrides)}]")
    items = list(overrides)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"overrides must be 'key=value' strings, got {_typed.shown(item)} "
                            f"({type(item).__name__})")
    return _expand(dict(parse_override(o) for o in items))


def load_config(path: Path | str | None = None,
                overrides: list[str] | tuple[str, ...] | None = ()) -> ExperimentConfig:
    """The config in the YAML file `path` (defaults if None) with `key=value` overrides applied (a list
    such as `["data.num_tasks=3"]`; None or empty: none). TypeError for a single string: pass a list."""
    values: dict[str, Any] = {}
    if path is not None:
        values = read_yaml(path)
        values.setdefault("name", Path(path).stem)
    return compose(values, parse_overrides(overrides))


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


def stable_dict(config: ExperimentConfig) -> dict[str, Any]:
    """`to_dict(config)` with the settings that do nothing at the values every earlier version wrote (IDLE_VALUES):
    what a study's directory name hashes, so that name stays what it was."""
    return _fill_idle(to_dict(config))


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
    supsup = config.method_settings.get("supsup")
    marks = protocol_marks(scenario=config.scenario.name, inference_batch_size=config.scenario.inference_batch_size,
                           overlap=config.run.overlap, supsup_score_init=None if supsup is None else supsup.score_init)
    if marks:
        out["protocol"] = marks
    return out


__all__ = ["IDENTITY_DEFAULTS", "IDLE_VALUES", "NAME_RULE", "NOT_IDENTITY", "OLD_KEYS", "SECTIONS", "ConfigError",
           "ExperimentConfig", "RunSettings", "check_name", "check_names", "compose", "conditions", "from_dict",
           "from_stored", "identity", "idle_settings", "load_config", "load_yaml_text", "parse_override",
           "protocol_marks", "parse_overrides", "read_yaml", "read_yaml_file", "stable_dict",
           "to_dict", "unknown_key_message", "updated", "valid_keys", "without_settings"]
