"""Experiment configuration: a typed dataclass, YAML loading, and checked `key=value` overrides."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration problem, reported before any work starts."""


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything a run depends on. Defaults follow SupSup on MNIST (ALGORITHMS.md section 1)."""

    name: str = "experiment"
    benchmark: list[str] = field(default_factory=lambda: ["permuted"])  # one run per benchmark
    source: str = "mnist-5k"
    data_dir: str | None = None  # a local directory of IDX files, overriding `source`'s location
    num_tasks: int = 10
    classes_per_task: int = 2  # split benchmark only
    label_mode: str = "remap"  # split benchmark only: "remap" to 0..c-1 or "keep"
    pair_source: str = "fashion-mnist"  # pair benchmark only: the second task's data
    rotation_step: float | None = None  # rotated benchmark only: degrees between tasks (default 360 // num_tasks)
    scenario: str = "task"  # "task", "domain", "class" incremental, or "gns"/"gnu"/"nns" (see README)
    seed: int = 0
    method: list[str] = field(default_factory=lambda: ["supsup"])  # several: compared on the same tasks
    model: str = "fc-300-300"
    output_size: int = 10
    mask_rule: str = "threshold"
    density: float = 0.5  # fraction of weights kept by the top-k rule
    batch_norm: bool = False  # per-task non-affine BatchNorm after each hidden layer
    optimizer: str = "rmsprop"
    lr: float = 1e-4
    batch_size: int = 128
    steps_per_task: int = 1000
    eval_batch_size: int = 1024
    eval_every: int = 0  # steps between accuracy-curve points on every task seen so far (0: off)
    evaluate: str = "each"  # "each": fill R after every task; "last": only after the last (long runs)
    # Task inference (scenarios gns and gnu)
    task_inference: str = "oneshot"  # "oneshot" or "binary"; "signature" (nearest BN signature, needs batch_norm)
    inference_objective: str = "H"  # "H": output entropy; "G": logsumexp through the extra s-neurons
    inference_batch_size: int = 128  # test images per inference (1: single-image inference)
    # SupSup transfer: a new task's initial scores (ALGORITHMS.md sections 1.5 and 3)
    transfer: str = "random"  # "random" (SupSup), "mean" of earlier scores, "similar" or "soft" (need batch_norm)
    transfer_protocol: str = "causal"  # "causal": probe batch of the new task; "two_pass": a reference run's signatures
    transfer_temperature: float = 0.1  # "soft": softmax(|cos| / temperature); |cos| differences are small
    # NNs scenario: new-task detection on an unsegmented stream (ALGORITHMS.md 1.3)
    nns_check_every: int = 100  # batches between detection tests (the paper: 100)
    nns_margin: float = 0.125  # data is new when max v < (1 + margin) / n (the paper: 2^-3)
    nns_candidates: int = 5  # n = max(masks so far, this); missing candidates are random masks
    nns_warmup: int = 200  # ours: skip tests within this many batches of a new mask (0: the paper's rule)
    # HopSupSup: per-unit gates stored in Hopfield matrices, recovered at test time (ALGORITHMS.md 1.4)
    hopfield_recovery_steps: int = 50  # gradient steps of the annealed entropy-to-energy descent
    hopfield_recovery_lr: float = 0.1
    hopfield_recall_steps: int = 20  # sign-update sweeps that snap a recovered gate to a stored pattern
    hopfield_score_scale: float = 1e-3  # initial gate scores uniform in +-this (small: training moves them little)
    # EWC (Kirkpatrick et al. 2017)
    ewc_lambda: float = 1000.0  # the penalty is (lambda / 2) * sum_i F_i (theta_i - theta*_i)^2
    ewc_samples: int = 200  # samples of the finished task used to estimate the diagonal Fisher
    ewc_fisher_label: str = "predicted"  # "predicted" (model's own prediction) or "true"
    ewc_mode: str = "separate"  # "separate": one penalty per earlier task; "online": one running Fisher
    ewc_decay: float = 1.0  # online mode: old Fisher is multiplied by this before adding the new one
    # Experience replay
    replay_fraction: float = 0.5  # fraction of each finished task's training set kept (with a budget: offered to the reservoir)
    replay_per_task: int | None = None  # a count per task instead of a fraction
    replay_budget: int | None = None  # total buffer size across tasks (reservoir), or no limit
    replay_selection: str = "random"  # "random", "uncertain", "misclassified" or "balanced"
    replay_mix: str = "batch"  # "batch": each batch adds as many buffer samples; "concat": data + buffer
    # Separate heads
    heads_trunk: str = "task0"  # "task0": trunk trained on task 0 then frozen; "random": never trained
    checkpoint_state: bool = True  # full training state after every task, so an interrupted run resumes
    overlap: bool = True  # the mask-overlap analysis (Experiment 1)
    figures: bool = True
    out_dir: str = "runs"


FIELDS = {f.name: f for f in dataclasses.fields(ExperimentConfig)}
# Fields that say where output goes, not what is computed: left out of the run's identity.
NOT_IDENTITY = frozenset({"out_dir", "checkpoint_state"})


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _shown(value: Any) -> str:
    """`repr(value)` for an error message; ints past Python's digit limit cannot be shown in full."""
    try:
        text = repr(value)
    except ValueError:
        return f"an int of about {value.bit_length() * 0.30103:.0f} digits"
    return text if len(text) <= 200 else text[:200] + "..."


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Check `value` against the field type `tp`, converting only where no information is lost."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(key, value, arg)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0])
    if origin is list:
        (item,) = typing.get_args(tp)
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ConfigError(f"{key}: expected at least one {_type_name(item)}")
        return [_coerce(key, v, item) for v in values]
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # an int beyond the float range
                pass
        elif isinstance(value, str):
            # YAML 1.1 reads `1e-4` (no dot) as a string; accept it as the number it spells.
            try:
                number = float(value)
            except ValueError:
                pass
        if number is not None and number == number:  # NaN (`.nan`, "nan") is no setting
            return number
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            # YAML reads `true` as a boolean; a string field (e.g. ewc_fisher_label) means the word.
            return "true" if value else "false"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return str(value)
            except ValueError:  # an int past Python's digit limit
                pass
    raise ConfigError(f"{key}: expected {_type_name(tp)}, got {_shown(value)} ({type(value).__name__})")


def unknown_key_message(key: str) -> str:
    # A lower cutoff for keys of 1-2 characters, so that one wrong character of `lr` still finds it.
    close = difflib.get_close_matches(key, FIELDS, n=1, cutoff=0.5 if len(key) <= 2 else 0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"unknown config key {key!r}.{hint} Valid keys: {', '.join(FIELDS)}"


def from_dict(values: dict[str, Any], *, base: ExperimentConfig | None = None) -> ExperimentConfig:
    """A config from `values` on top of `base` (or the defaults); unknown keys and wrong types raise."""
    if not isinstance(values, dict):
        raise ConfigError(f"a config must be a mapping of keys to values, got {type(values).__name__}")
    checked = {}
    hints = typing.get_type_hints(ExperimentConfig)  # once: ~1 ms each, which per key made a full config ~35 ms
    for key, value in values.items():
        if key not in FIELDS:
            raise ConfigError(unknown_key_message(str(key)))
        checked[key] = _coerce(key, value, hints[key])
    return dataclasses.replace(base or ExperimentConfig(), **checked)


def parse_override(text: str) -> tuple[str, Any]:
    """`key=value` with the value read as YAML (so `3` is an int, `[a, b]` a list, `true` a bool)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {text!r} is not of the form key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an int past Python's digit limit
        raise ConfigError(f"override {text!r}: cannot read the value: {exc}") from None
    return key, value


def load_config(path: Path | str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    """The config in the YAML file `path` (defaults if None) with `key=value` overrides applied."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, ValueError) as exc:  # ValueError: not UTF-8, or an int past the digit limit
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        values = {} if loaded is None else loaded
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
        values.setdefault("name", path.stem)
    config = from_dict(values)
    updates = dict(parse_override(o) for o in overrides)
    return from_dict(updates, base=config)


def to_dict(config: ExperimentConfig) -> dict[str, Any]:
    """Plain dict of the config (YAML/JSON-ready)."""
    return dataclasses.asdict(config)
