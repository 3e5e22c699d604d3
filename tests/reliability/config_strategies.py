"""What the config property tests draw from: every dotted key with its type and default (found by walking the
settings classes), the settings that make each key count, and the Hypothesis strategies of valid and invalid
values (tests/reliability/test_config_properties.py)."""


from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st

from supermasks.config import SECTIONS, ExperimentConfig, valid_keys
from supermasks.data.benchmarks import list_benchmarks
from supermasks.data.sources import dir_source_names, folder_source_names, source_names
from supermasks.methods import list_methods, method_spec
from supermasks.loggers import LOGGER_NAMES
from supermasks.models.networks import ARCHITECTURES

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
METHODS = list(list_methods())
MISSING = object()


# --- the keys: every dotted key with its field type and default, found by walking the settings classes -------


def _walk(cls: type, prefix: str, out: dict[str, tuple[Any, Any]]) -> None:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key, tp = prefix + f.metadata.get("key", f.name), hints[f.name]
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        sub = tp if dataclasses.is_dataclass(tp) else inner[0] if len(inner) == 1 and dataclasses.is_dataclass(
            inner[0]) else None
        if sub is not None:
            _walk(sub, key + ".", out)
        else:
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            out[key] = (tp, default)


def _all_keys() -> dict[str, tuple[Any, Any]]:
    hints = typing.get_type_hints(ExperimentConfig)
    default = ExperimentConfig()
    out = {k: (hints[k], getattr(default, k)) for k in ("name", "seed", "method")}
    for section, cls in SECTIONS.items():
        _walk(cls, section + ".", out)
    for name in METHODS:
        _walk(method_spec(name).settings, name + ".", out)
    return out


KEYS = _all_keys()
TYPES = {k: tp for k, (tp, _) in KEYS.items()}
DEFAULTS = {k: d for k, (_, d) in KEYS.items()}


def _base(tp):
    """(base type, optional?) of a field type: `int | None` -> (int, True), `list[str]` -> (list[str], False); a union
    of several types (`bool | Literal["auto"]`) is its own base, in none of the groups below."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        return (args[0], optional) if len(args) == 1 else (tp, optional)
    return tp, False


def _is_list(tp) -> bool:
    return typing.get_origin(tp) is list


def _is_choice(tp) -> bool:
    return typing.get_origin(tp) is Literal


def _keys_of(base) -> list[str]:
    return [k for k, tp in TYPES.items() if _base(tp)[0] is base]


# Settings whose str names one of a known set (checked by their class): valid values come from the set.
# The resnets also need model.batch_norm=true, a constraint between two settings tested in tests/models. The
# image-folder source (imagenet) and its one benchmark (splitimagenet) go only together, tested in
# tests/test_splitimagenet_config.py; drawn apart, they would be refused, so they are drawn only through `context`.
IN_MEMORY = [name for name in source_names() if name not in folder_source_names()]
NAMED = {"data.source": IN_MEMORY, "data.pair_source": IN_MEMORY,
         "model.arch": [name for name in ARCHITECTURES if not name.startswith("resnet")],
         "data.benchmark": [name for name in list_benchmarks() if name != "splitimagenet"], "method": list(METHODS),
         "run.device": ["auto", "cpu", "cuda", "cuda:0", "cuda:3"],  # names only: resolving one happens at run time
         "run.loggers": list(LOGGER_NAMES)}  # none by default; whether a logger's package is here is checked at run time
INT_KEYS, FLOAT_KEYS, BOOL_KEYS = _keys_of(int), _keys_of(float), _keys_of(bool)
STR_KEYS = _keys_of(str)
# Free text: any string is a setting (but `name`, which names the run directory: tests/reliability/test_names.py).
TEXT_KEYS = [k for k in STR_KEYS if k not in NAMED and k != "name"]
LIST_KEYS = [k for k, tp in TYPES.items() if _is_list(_base(tp)[0])]
CHOICE_KEYS = [k for k, tp in TYPES.items() if _is_choice(_base(tp)[0])]
# Unions of several types (`run.parallel_tasks: bool | Literal["auto"]`): each of their arms is valid.
UNION_KEYS = [k for k, tp in TYPES.items() if typing.get_origin(_base(tp)[0]) in (typing.Union, types.UnionType)]
OPTIONAL_KEYS = [k for k, tp in TYPES.items() if _base(tp)[1]]

# Lists of numbers, and their valid values: [low, high] in [0, 1].
FLOAT_LISTS = {"data.permute_fraction_range": st.lists(st.floats(0.0, 1.0), min_size=2, max_size=2).map(sorted)}
# The range of every number (low, high, low included?); high is always included. The settings classes own
# these checks; this table says what they promise. Ints have a low bound, and a high one where INT_HIGH says.
INT_RANGES = {"seed": 0, "data.num_tasks": 1, "data.classes_per_task": 2, "data.image_size": 1, "data.workers": 1,
              "model.output_size": 1,
              "training.batch_size": 1, "training.steps_per_task": 1, "training.epochs": 1, "scenario.inference_batch_size": 1,
              "scenario.nns.check_every": 1, "scenario.nns.candidates": 1, "scenario.nns.warmup": 0,
              "run.eval_batch_size": 1, "run.eval_every": 0, "run.eval_sample": 1, "ewc.samples": 1, "replay.per_task": 0,
              "replay.budget": 1, "hopsupsup.recovery_steps": 1, "hopsupsup.recall_steps": 1}
INT_HIGH = {"seed": 2**32 - 1}  # numpy's RandomState takes no larger seed
FLOAT_RANGES = {"data.rotation_step": (0.0, 360.0, False), "data.permute_fraction": (0.0, 1.0, True),
                "model.density": (0.0, 1.0, False),
                "training.lr": (0.0, None, False), "training.weight_decay": (0.0, None, True), "scenario.nns.margin": (0.0, None, True),
                "supsup.transfer_temperature": (0.0, None, False), "ewc.lambda": (0.0, None, True),
                "ewc.decay": (0.0, 1.0, True), "replay.fraction": (0.0, 1.0, True),
                "hopsupsup.recovery_lr": (0.0, None, False), "hopsupsup.score_scale": (0.0, None, False)}


def test_every_key_has_a_type_these_tests_cover():
    assert list(KEYS) == valid_keys()
    assert set(INT_KEYS + FLOAT_KEYS + BOOL_KEYS + STR_KEYS + LIST_KEYS + CHOICE_KEYS + UNION_KEYS) == set(KEYS)
    assert set(INT_RANGES) == set(INT_KEYS) and set(FLOAT_RANGES) == set(FLOAT_KEYS)
    assert TEXT_KEYS and CHOICE_KEYS and OPTIONAL_KEYS and BOOL_KEYS


def _split(benchmarks: list[str]) -> bool:
    return bool({"split", "partitioned"} & set(benchmarks))


# The settings that apply only when another one has certain values (docs/configuration.md): null where they
# do not apply (given there, an error), their default where they do. key -> (the setting it depends on, a
# value of it that makes the key apply, whether a value does, the key's default there).
ONLY_WHEN = {
    "data.classes_per_task": ("data.benchmark", ["split"], _split, 2),
    "data.label_mode": ("data.benchmark", ["split"], _split, "remap"),
    "data.pair_source": ("data.benchmark", ["pair"], lambda b: "pair" in b, "fashion-mnist"),
    "data.rotation_step": ("data.benchmark", ["rotated"], lambda b: "rotated" in b, None),
    # A condition that is itself conditional comes before the settings that depend on it.
    "data.permute_subsets": ("data.benchmark", ["permuted"], lambda b: "permuted" in b, "independent"),
    "data.permute_fraction": ("data.permute_subsets", "independent", lambda s: s == "independent", 1.0),
    "data.permute_fraction_range": ("data.permute_subsets", "nested", lambda s: s == "nested", [0.1, 1.0]),
    "data.image_size": ("data.benchmark", ["splitimagenet"], lambda b: "splitimagenet" in b, 224),
    "data.workers": ("data.benchmark", ["splitimagenet"], lambda b: "splitimagenet" in b, 8),
    "model.mask_rule": ("method", ["supsup"], lambda m: "supsup" in m, "threshold"),  # the one masked method
    "model.density": ("model.mask_rule", "topk", lambda r: r == "topk", None),
    "model.density_budget": ("model.mask_rule", "topk", lambda r: r == "topk", "global"),
    "supsup.task_inference": ("scenario.name", "gnu", lambda s: s in ("gns", "gnu"), "oneshot"),
    "supsup.inference_objective": ("scenario.name", "gns", lambda s: s in ("gns", "gnu"), "H"),
    "supsup.transfer_protocol": ("supsup.transfer", "similar", lambda t: t in ("similar", "soft"), "causal"),
    "supsup.transfer_temperature": ("supsup.transfer", "soft", lambda t: t == "soft", 0.1),
    "ewc.decay": ("ewc.mode", "online", lambda m: m == "online", 1.0),
    "replay.fraction": ("replay.per_task", None, lambda n: n is None, 0.5),
    "training.steps_per_task": ("training.epochs", None, lambda e: e is None, 1000),
    "scenario.inference_batch_size": ("scenario.name", "gns", lambda s: s in ("gns", "gnu", "nns"), 128),
    "run.eval_batch_size": ("scenario.name", "task", lambda s: s != "nns", 1024),
    "run.eval_every": ("scenario.name", "task", lambda s: s != "nns", 0),
    "run.evaluate": ("scenario.name", "task", lambda s: s != "nns", "each"),
    "run.overlap": ("method", ["supsup"], lambda m: "supsup" in m, True),
    "run.figure_format": ("run.figures", True, lambda f: f is True, "png"),
}


def context(key: str, value: Any = MISSING) -> dict[str, Any]:
    """The other settings that make `key` (set to `value`) count: its method, its scenario, its rule."""
    section = key.split(".")[0]
    if key in ONLY_WHEN and value is not None:
        condition, applying, _, _ = ONLY_WHEN[key]
        out = {condition: applying, **({"data.num_tasks": 2} if applying == ["pair"] else {}),
               **({"data.source": "imagenet"} if applying == ["splitimagenet"] else {})}
        return {"method": [section], **out} if section in METHODS else out
    if section in METHODS:
        return {"method": [section]}
    if key.startswith("scenario.nns."):
        return {"scenario.name": "nns"}
    if key == "model.density" and value is not None:
        return {"model.mask_rule": "topk"}
    if key == "model.mask_rule" and value == "topk":
        return {"model.density": 0.5}
    if key == "data.data_dir" and value is not None:
        return {"data.source": "mnist"}  # only sources read from files take a data_dir
    if key == "data.benchmark" and isinstance(value, list) and "pair" in value:
        return {"data.num_tasks": 2}
    return {}


def with_context(key: str, value: Any) -> dict[str, Any]:
    return {**context(key, value), key: value}


def nested(flat: dict[str, Any]) -> dict[str, Any]:
    """`{"ewc.lambda": 5}` -> `{"ewc": {"lambda": 5}}` (what a YAML file holds)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def stored(config: ExperimentConfig, key: str) -> Any:
    """The value `config` holds for the dotted `key` (MISSING where its section is absent)."""
    *parents, leaf = key.split(".")
    if not parents:
        return getattr(config, leaf)
    if parents[0] in METHODS and parents[0] not in config.method:
        return MISSING
    node = config.settings(parents[0]) if parents[0] in METHODS else getattr(config, parents[0])
    for part in parents[1:]:
        node = getattr(node, part)
        if node is None:
            return MISSING
    names = {f.metadata.get("key", f.name): f.name for f in dataclasses.fields(node)}
    return getattr(node, names[leaf])


# --- valid values ----------------------------------------------------------------------------------------------

# Text that YAML can write and read back unchanged (no lone surrogates, which no encoder accepts).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
INTS = st.integers(min_value=-(10**30), max_value=10**30)
FLOATS = st.floats(allow_nan=False)


def _ints(key: str) -> st.SearchStrategy:
    return st.integers(min_value=INT_RANGES[key], max_value=INT_HIGH.get(key, 10**30))


def _floats(key: str) -> st.SearchStrategy:
    low, high, closed = FLOAT_RANGES[key]
    return st.floats(min_value=low, max_value=1e300 if high is None else high, exclude_min=not closed)


def _out_of_range(key: str) -> st.SearchStrategy:
    if key in INT_RANGES:
        below = st.integers(min_value=-(10**30), max_value=INT_RANGES[key] - 1)
        return below | st.integers(min_value=INT_HIGH[key] + 1, max_value=10**30) if key in INT_HIGH else below
    low, high, closed = FLOAT_RANGES[key]
    below = st.floats(max_value=low, exclude_max=closed)  # -inf included
    above = st.just(math.inf) if high is None else st.floats(min_value=high, exclude_min=True)
    return below | above


def value_of(key: str) -> st.SearchStrategy:
    """Valid values of `key`, in the Python type the field stores (given `context(key, value)`)."""
    base, optional = _base(TYPES[key])
    if key in ("method", "data.benchmark"):
        strategy = st.lists(st.sampled_from(NAMED[key]), min_size=1, max_size=3, unique=True)
    elif key == "run.loggers":  # the one list that may be empty (its default)
        strategy = st.lists(st.sampled_from(NAMED[key]), max_size=3, unique=True)
    elif key in NAMED:
        strategy = st.sampled_from(NAMED[key])
    elif key == "name":  # a safe path component (config.NAME_RULE)
        strategy = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,19}", fullmatch=True).filter(lambda n: ".." not in n)
    elif key == "run.out_dir":  # a path the file system can take: no NUL byte (pathnames.path_problem)
        strategy = TEXT.filter(lambda t: "\0" not in t)
    elif _is_choice(base):
        strategy = st.sampled_from(typing.get_args(base))
    elif key in UNION_KEYS:  # arms of bool and of choices
        strategy = st.one_of([st.booleans() if arm is bool else st.sampled_from(typing.get_args(arm))
                              for arm in typing.get_args(base)])
    elif key in FLOAT_LISTS:
        strategy = FLOAT_LISTS[key]
    else:
        strategy = {bool: st.booleans(), int: _ints, float: _floats, str: lambda k: TEXT}[base]
        strategy = strategy if base is bool else strategy(key)
    return st.none() | strategy if optional else strategy


@st.composite
def key_and_value(draw, keys=st.sampled_from(list(KEYS))):
    key = draw(keys)
    return key, draw(value_of(key))


@st.composite
def valid_values(draw) -> dict[str, Any]:
    """Every key of a config, flat (dotted), with values that belong together."""
    methods = draw(value_of("method"))
    benchmark = draw(value_of("data.benchmark"))
    scenario = draw(value_of("scenario.name"))
    rule = draw(value_of("model.mask_rule"))
    values = {}
    for key in KEYS:
        section = key.split(".")[0]
        if (section in METHODS and section not in methods) or (key.startswith("scenario.nns.") and scenario != "nns"):
            continue
        values[key] = draw(value_of(key))
    values.update({"method": methods, "data.benchmark": benchmark, "scenario.name": scenario, "model.mask_rule": rule})
    values["model.density"] = draw(_floats("model.density")) if rule == "topk" else None
    for key, (condition, _, applies, _) in ONLY_WHEN.items():
        if key in values and condition in values and not applies(values[condition]):
            values[key] = None
    if "pair" in benchmark:
        values["data.num_tasks"] = 2
    if values["data.source"] not in dir_source_names():  # only sources read from files take a data_dir
        values["data.data_dir"] = None
    return values


def requires(key: str, values: dict[str, Any]) -> set[str]:
    """The keys that must come with `key` for `values[key]` to count (or be allowed)."""
    section = key.split(".")[0]
    if section in METHODS:
        return {"method", *({ONLY_WHEN[key][0]} if key in ONLY_WHEN and values[key] is not None else set())}
    if key.startswith("scenario.nns."):
        return {"scenario.name"}
    if key in ("model.density", "model.mask_rule"):
        return {"model.density", "model.mask_rule", "method"}
    if key in ONLY_WHEN and values[key] is not None:
        return {ONLY_WHEN[key][0]}
    if key == "data.benchmark" and "pair" in values[key]:
        return {"data.num_tasks"}
    if key == "data.data_dir" and values[key] is not None:
        return {"data.source"}
    return set()


@st.composite
def partial_values(draw, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """Some keys of a valid config, with every key that one of them requires."""
    values = draw(valid_values())
    keep = set(draw(st.lists(st.sampled_from(sorted(values)), max_size=8)))
    while True:
        more = set().union(*(requires(k, values) for k in keep)) - keep
        if not more:
            break
        keep |= more
    assume(not keep & set(exclude))
    return {k: values[k] for k in values if k in keep}


def _write_yaml(directory: str, values: dict, name: str = "cfg.yaml") -> Path:
    path = Path(directory) / name
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


def _override(key: str, value: Any) -> str:
    return f"{key}={yaml.safe_dump(value)}"


def default_in(config: ExperimentConfig, key: str) -> Any:
    """`key`'s default in `config`: for a setting that applies only with another one, null or its default."""
    if key in ONLY_WHEN:
        condition, _, applies, default = ONLY_WHEN[key]
        return default if applies(stored(config, condition)) else None
    return DEFAULTS[key]


def _check_values(config: ExperimentConfig, values: dict[str, Any]) -> None:
    """`config` holds `values` (flat), and the defaults everywhere else that exists."""
    for key in KEYS:
        got = stored(config, key)
        if key in values and values[key] is not None:
            assert got == values[key], key
            if _base(TYPES[key])[0] is float:
                assert type(got) is float, key
        elif got is not MISSING:
            assert got == (None if key in values and key not in ONLY_WHEN else default_in(config, key)), key
    assert (config.scenario.nns is None) == (config.scenario.name != "nns")


# --- round trips -----------------------------------------------------------------------------------------------
