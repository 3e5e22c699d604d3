"""Property-based tests of config parsing (supermasks.config), over every dotted key of every section.

The rules tested are the ones `_coerce` documents: values are checked against the field's type and converted
only where no information is lost -- an int is accepted for a float field, a numeric string for a float field
(YAML 1.1 reads `1e-4` as a string), a bool/int/float for a free-text str field (YAML reads `true`, `3` as
non-strings), a single string for a list field; never a float (even 3.0) or a bool for an int field, never NaN
for a float. Each settings class then checks its own ranges, and the config the combinations: a setting that
does nothing in its combination is an error, so every key is tested together with the settings that make it
count (`CONTEXT`).
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import types
import typing
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from supermasks.config.typed import shown
from supermasks.config import (
    OLD_KEYS,
    SECTIONS,
    ConfigError,
    ExperimentConfig,
    from_dict,
    load_config,
    parse_override,
    to_dict,
    unknown_key_message,
    valid_keys,
)
from supermasks.data.benchmarks import list_benchmarks
from supermasks.data.sources import dir_source_names, folder_source_names, source_names
from supermasks.methods import list_methods, method_spec
from supermasks.loggers import LOGGER_NAMES
from supermasks.models.networks import ARCHITECTURES
from supermasks.runner import validate
from supermasks.scenarios import SCENARIOS

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


@SETTINGS
@given(valid_values())
def test_from_dict_keeps_valid_values_and_round_trips_through_to_dict(values):
    config = from_dict(values)
    _check_values(config, values)
    assert from_dict(nested(values)) == config  # dotted and nested keys mean the same
    assert from_dict(to_dict(config)) == config
    assert to_dict(from_dict(to_dict(config))) == to_dict(config)


@SETTINGS
@given(valid_values())
def test_yaml_file_round_trip(values):
    config = from_dict(values)
    with tempfile.TemporaryDirectory() as directory:
        assert load_config(_write_yaml(directory, to_dict(config))) == config


@SETTINGS
@given(partial_values(exclude=("name",)))
def test_partial_yaml_file_sets_its_keys_and_defaults_the_rest(values):
    with tempfile.TemporaryDirectory() as directory:
        config = load_config(_write_yaml(directory, nested(values)))
    assert config.name == "cfg"  # the file's stem when the file names none
    _check_values(config, {**values, "name": "cfg"})


@st.composite
def values_and_earlier_overrides(draw):
    """Valid settings, and earlier overrides of some of the same keys (which the later ones replace)."""
    values = draw(partial_values())
    keys = draw(st.lists(st.sampled_from(sorted(values)), max_size=3)) if values else []
    return values, [(key, draw(value_of(key))) for key in keys]


@SETTINGS
@given(values_and_earlier_overrides())
def test_overrides_round_trip_and_set_exactly_their_keys(drawn):
    values, earlier = drawn
    pairs = [*earlier, *values.items()]  # a later override of the same key wins
    texts = [_override(key, value) for key, value in pairs]
    for text, (key, value) in zip(texts, pairs):
        assert parse_override(text) == (key, value)
    _check_values(load_config(None, texts), values)


@SETTINGS
@given(partial_values())
def test_overrides_equal_the_same_settings_in_a_yaml_file(values):
    values = {**values, "name": "same"}
    with tempfile.TemporaryDirectory() as directory:
        from_file = load_config(_write_yaml(directory, nested(values)))
    assert load_config(None, [_override(k, v) for k, v in values.items()]) == from_file


@SETTINGS
@given(key_and_value(st.sampled_from(INT_KEYS + FLOAT_KEYS + BOOL_KEYS)), st.sampled_from(["", " ", "  "]))
def test_plain_command_line_spelling_of_scalars(pair, space):
    """`key=3`, `key=1e-05`, `key=True` as typed on a command line (str/repr, not YAML dumps)."""
    key, value = pair
    text = "null" if value is None else repr(value)
    given_context = [_override(k, v) for k, v in context(key, value).items()]
    config = load_config(None, [*given_context, f"{space}{key}{space}={space}{text}"])
    assert config == from_dict(with_context(key, value))
    assert stored(config, key) == (default_in(config, key) if value is None else value)


def _dropped(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """`update` over `base` (flat), without what `base` set only for a choice `update` changes."""
    out = dict(base)
    if "method" in update:
        out = {k: v for k, v in out.items() if k.split(".")[0] not in METHODS or k.split(".")[0] in update["method"]}
    if update.get("scenario.name", "nns") != "nns":
        out = {k: v for k, v in out.items() if not k.startswith("scenario.nns.")}
    dropped = set()
    for key, (condition, _, applies, _) in ONLY_WHEN.items():  # a condition before what depends on it
        chosen = update.get(condition)
        if chosen is None and condition in ONLY_WHEN:  # null: not set, so the condition's own default
            below, _, applies_below, default = ONLY_WHEN[condition]
            merged = {**base, **update}
            chosen = default if applies_below(merged.get(below, DEFAULTS[below])) else None
        if key in update:
            continue
        if (condition in update and not applies(chosen)) or (
                condition not in update and condition in dropped and not applies(None)):
            out.pop(key, None)
            dropped.add(key)
    return {**out, **update}


@SETTINGS
@given(valid_values(), partial_values())
def test_overrides_apply_on_top_of_the_file(values, pairs):
    """Each override wins; the file's settings that only served a choice an override changes are dropped."""
    expected = _dropped(values, pairs)
    with tempfile.TemporaryDirectory() as directory:
        path = _write_yaml(directory, nested(values))
        try:
            config = load_config(path, [_override(k, v) for k, v in pairs.items()])
        except ConfigError:  # e.g. num_tasks 3 over the file's pair benchmark: refused either way
            with pytest.raises(ConfigError):
                from_dict(expected)
            return
    assert config == from_dict(expected)


# --- documented coercions --------------------------------------------------------------------------------------


def _int_range(key: str) -> st.SearchStrategy:
    low, high, closed = FLOAT_RANGES[key]
    first = math.ceil(low) if closed or low != math.ceil(low) else int(low) + 1
    return st.integers(min_value=first, max_value=min(2**53, 2**53 if high is None else math.floor(high)))


@SETTINGS
@given(st.sampled_from(FLOAT_KEYS).flatmap(lambda k: st.tuples(st.just(k), _int_range(k))))
def test_int_is_accepted_for_a_float_field(pair):
    key, value = pair
    got = stored(from_dict(with_context(key, value)), key)
    assert type(got) is float and got == value


@SETTINGS
@given(st.sampled_from(FLOAT_KEYS).flatmap(lambda k: st.tuples(st.just(k), _floats(k))))
def test_numeric_string_is_accepted_for_a_float_field(pair):
    key, value = pair
    for text in (repr(value), f"{value:e}"):
        assert stored(from_dict(with_context(key, text)), key) == float(text)


@SETTINGS
@given(st.sampled_from(TEXT_KEYS), st.booleans() | INTS | FLOATS)
def test_scalars_become_strings_in_a_str_field(key, value):
    expected = ("true" if value else "false") if isinstance(value, bool) else str(value)
    assert stored(from_dict(with_context(key, value)), key) == expected


@SETTINGS
@given(st.sampled_from([k for k in LIST_KEYS if k in NAMED]).flatmap(
    lambda k: st.tuples(st.just(k), st.sampled_from(NAMED[k]))))
def test_a_single_string_becomes_a_one_element_list(pair):
    key, value = pair
    assert stored(from_dict(with_context(key, [value])), key) == [value]
    assert stored(from_dict({**context(key, [value]), key: value}), key) == [value]
    overrides = [_override(k, v) for k, v in context(key, [value]).items()]
    assert stored(load_config(None, [*overrides, _override(key, value)]), key) == [value]


def test_none_is_accepted_exactly_for_optional_fields():
    for key in KEYS:
        if key in OPTIONAL_KEYS:
            config = from_dict(with_context(key, None))
            assert stored(config, key) == default_in(config, key) and (key in ONLY_WHEN or DEFAULTS[key] is None)
        else:
            with pytest.raises(ConfigError, match=f"^{key}: (expected|unknown value)"):
                from_dict(with_context(key, None))


# --- wrong types and values ------------------------------------------------------------------------------------

NOT_A_NUMBER_TEXT = TEXT.filter(lambda s: not _parses_as_float(s))
CONTAINERS = st.lists(INTS, max_size=3) | st.dictionaries(TEXT, INTS, max_size=2) | st.dates() | st.datetimes()


def _parses_as_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _wrong_types(key: str) -> st.SearchStrategy:
    base, optional = _base(TYPES[key])
    nothing = st.nothing() if optional else st.none()
    if base is int:
        return st.booleans() | FLOATS | st.just(math.nan) | TEXT | CONTAINERS | nothing
    if base is float:
        return st.booleans() | NOT_A_NUMBER_TEXT | st.sampled_from(["nan", "NaN", "-nan"]) | st.just(math.nan) \
            | CONTAINERS | nothing
    if base is bool:
        return INTS | FLOATS | TEXT | CONTAINERS | nothing
    if base is str:
        return st.lists(TEXT, max_size=3) | st.dictionaries(TEXT, TEXT, max_size=2) | st.dates() | nothing
    assert _is_list(base), key
    bad_items = st.none() | st.lists(TEXT, max_size=2) | st.dictionaries(TEXT, TEXT, max_size=1) | st.dates()
    good_items = st.sampled_from(NAMED[key]) if key in NAMED else st.floats(0.0, 1.0)
    empty = st.nothing() if key == "run.loggers" else st.just([])  # the one list that may be empty (its default)
    return empty | nothing | st.dictionaries(TEXT, TEXT, max_size=2) | st.lists(
        good_items, max_size=2).flatmap(lambda good: bad_items.map(lambda bad: [*good, bad]))


def _expected_name(key: str) -> str:
    base, _ = _base(TYPES[key])
    return typing.get_args(base)[0].__name__ if _is_list(base) else base.__name__


# Unions take their own wrong values (tests/runner/test_parallel_tasks.py: "expected bool or one of auto").
TYPED_KEYS = [k for k in KEYS if k not in CHOICE_KEYS and k not in UNION_KEYS]


@st.composite
def key_and_wrong_type(draw):
    key = draw(st.sampled_from(TYPED_KEYS))
    return key, draw(_wrong_types(key))


@SETTINGS
@given(key_and_wrong_type())
def test_a_wrong_type_raises_config_error_naming_key_and_type(pair):
    key, value = pair
    with pytest.raises(ConfigError) as info:
        from_dict(with_context(key, value))
    assert str(info.value).startswith(f"{key}: expected ")
    assert _expected_name(key) in str(info.value)


@SETTINGS
@given(key_and_wrong_type())
def test_a_wrong_type_in_an_override_or_a_file_raises_config_error(pair):
    key, value = pair
    given_context = [_override(k, v) for k, v in context(key, value).items()]
    with pytest.raises(ConfigError, match=f"^{key}: expected "):
        load_config(None, [*given_context, _override(key, value)])  # NaN is written as .nan
    with tempfile.TemporaryDirectory() as directory, pytest.raises(ConfigError, match=f"^{key}: expected "):
        load_config(_write_yaml(directory, nested(with_context(key, value))))


def _not_a_choice(key: str) -> st.SearchStrategy:
    choices = typing.get_args(_base(TYPES[key])[0])
    strategy = TEXT.filter(lambda s: s not in choices) | INTS | FLOATS | CONTAINERS
    strategy = strategy if key in OPTIONAL_KEYS else strategy | st.none()  # null: "not set", where optional
    # YAML's booleans stand for the words true and false, which may be choices.
    return strategy | st.sampled_from([b for b in (True, False) if str(b).lower() not in choices])


@SETTINGS
@given(st.sampled_from(CHOICE_KEYS).flatmap(lambda k: st.tuples(st.just(k), _not_a_choice(k))))
def test_a_value_outside_a_choice_raises_config_error_listing_the_choices(pair):
    key, value = pair
    choices = typing.get_args(_base(TYPES[key])[0])
    with pytest.raises(ConfigError) as info:
        from_dict(with_context(key, value))
    assert str(info.value).startswith(f"{key}: unknown value ")
    assert str(info.value).endswith(f"choose one of {', '.join(choices)}")


@SETTINGS
@given(st.sampled_from(INT_KEYS), st.integers(min_value=-(10**6), max_value=10**6), st.booleans())
def test_int_fields_refuse_floats_even_integral_ones(key, number, fractional):
    value = number + 0.5 if fractional else float(number)
    with pytest.raises(ConfigError, match=f"^{key}: expected int, got {value!r}"):
        from_dict(with_context(key, value))


@SETTINGS
@given(st.sampled_from(FLOAT_KEYS + INT_KEYS + STR_KEYS), st.integers(min_value=4400, max_value=6000))
def test_huge_integers_raise_config_error(key, digits):
    """Ints past the float range or Python's int-to-str digit limit: a ConfigError, not OverflowError/ValueError."""
    value = 10 ** (digits - 1)
    if key in INT_HIGH:
        with pytest.raises(ConfigError, match=f"^{key} must be in "):
            from_dict(with_context(key, value))
    elif key in INT_KEYS:
        assert stored(from_dict(with_context(key, value)), key) == value
    else:
        with pytest.raises(ConfigError, match=f"^{key}: expected"):
            from_dict(with_context(key, value))
    with pytest.raises(ConfigError):  # YAML cannot even read it: int(text) refuses past the digit limit
        load_config(None, [f"{key}=1{'0' * digits}"])


@SETTINGS
@given(st.sampled_from(sorted(INT_RANGES) + FLOAT_KEYS).flatmap(
    lambda k: st.tuples(st.just(k), _out_of_range(k))))
def test_a_number_outside_its_range_raises_config_error_naming_the_key(pair):
    key, value = pair
    with pytest.raises(ConfigError, match=f"^{key}"):
        from_dict(with_context(key, value))
    with pytest.raises(ConfigError, match=f"^{key}"):
        load_config(None, [*(_override(k, v) for k, v in context(key, value).items()), _override(key, value)])


# --- arbitrary input: ConfigError or a correctly typed config, nothing else -------------------------------------

ANY_YAML_VALUE = st.recursive(
    st.none() | st.booleans() | INTS | st.floats() | TEXT | st.dates(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=6,
)


def _check_types(config: ExperimentConfig) -> None:
    for key, tp in TYPES.items():
        value = stored(config, key)
        base, optional = _base(tp)
        if value is MISSING:
            continue
        if value is None:
            assert optional, key
        elif _is_list(base):
            item = typing.get_args(base)[0]
            empty_ok = key == "run.loggers"  # the one list whose default is empty
            assert isinstance(value, list) and (value or empty_ok) and all(type(v) is item for v in value), key
        elif _is_choice(base):
            assert value in typing.get_args(base), key
        elif key in UNION_KEYS:  # one of its arms: a bool, or one of a choice's values
            assert any(type(value) is arm if arm is bool else value in typing.get_args(arm)
                       for arm in typing.get_args(base)), key
        else:
            assert type(value) is base, key
            if base is float:
                assert math.isfinite(value), key


@SETTINGS
@given(st.sampled_from(list(KEYS)), ANY_YAML_VALUE)
def test_from_dict_on_any_value_gives_config_error_or_a_typed_config(key, value):
    try:
        config = from_dict(with_context(key, value))
    except ConfigError as exc:
        assert str(exc).startswith(key.split(".")[0])  # names its section (a combination names the other key)
    else:
        _check_types(config)


@SETTINGS
@given(st.text(max_size=40))
def test_any_override_text_gives_config_error_or_a_typed_config(text):
    try:
        config = load_config(None, [text])
    except ConfigError:
        return
    _check_types(config)


@SETTINGS
@given(st.sampled_from(list(KEYS)), st.text(max_size=30))
def test_any_override_value_gives_config_error_or_a_typed_config(key, raw):
    given_context = [_override(k, v) for k, v in context(key).items()]
    try:
        config = load_config(None, [*given_context, f"{key}={raw}"])
    except ConfigError as exc:
        assert key.split(".")[0] in str(exc)
        return
    _check_types(config)


@SETTINGS
@given(st.binary(max_size=80) | st.text(max_size=80).map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_any_file_content_gives_config_error_or_a_typed_config(content):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "any.yaml"
        path.write_bytes(content)
        try:
            config = load_config(path)
        except ConfigError:
            return
    _check_types(config)


# --- malformed overrides and unknown keys ----------------------------------------------------------------------


@SETTINGS
@given(st.text(max_size=30).filter(lambda t: "=" not in t))
def test_override_without_equals_sign_raises(text):
    with pytest.raises(ConfigError, match="not of the form key=value"):
        parse_override(text)


@SETTINGS
@given(st.text(" \t", max_size=4), st.text(max_size=20))
def test_override_with_empty_key_raises(blank, raw):
    with pytest.raises(ConfigError, match="not of the form key=value"):
        parse_override(f"{blank}={raw}")


# Names that mean something at the top of a config: the top-level keys, the sections, the old flat keys.
TOP_NAMES = {"name", "seed", "method", *SECTIONS, *METHODS, *OLD_KEYS}
UNKNOWN_KEY = st.text(max_size=30).filter(lambda k: k.split(".")[0].strip() not in TOP_NAMES)


@SETTINGS
@given(UNKNOWN_KEY | INTS | st.none() | st.tuples(INTS, TEXT))
def test_unknown_key_in_from_dict_is_named(key):
    with pytest.raises(ConfigError) as info:
        from_dict({key: 1})
    assert f"unknown config key {shown(str(key))}" in str(info.value)
    assert f"Valid keys: {', '.join(KEYS)}" in str(info.value)


@SETTINGS
@given(UNKNOWN_KEY.filter(lambda k: "=" not in k and k.strip()))
def test_unknown_key_in_an_override_is_named(key):
    with pytest.raises(ConfigError) as info:
        load_config(None, [f"{key}=1"])
    assert f"unknown config key {shown(key.strip())}" in str(info.value)


@SETTINGS
@given(valid_values(), UNKNOWN_KEY)
def test_unknown_key_in_a_file_is_named_even_among_valid_ones(values, key):
    with tempfile.TemporaryDirectory() as directory, pytest.raises(ConfigError) as info:
        load_config(_write_yaml(directory, {**nested(values), key: 1}))
    assert f"unknown config key {shown(key)}" in str(info.value)


TYPO_CHARS = "abcdefghijklmnopqrstuvwxyz_0123456789"


@st.composite
def one_edit_from_a_key(draw):
    key = draw(st.sampled_from(list(KEYS)))
    edit = draw(st.sampled_from(["delete", "insert", "substitute", "swap"]))
    if edit == "swap" and len(key) < 2:
        edit = "substitute"
    i = draw(st.integers(0, len(key) - (2 if edit == "swap" else 0 if edit == "insert" else 1)))
    char = draw(st.sampled_from(TYPO_CHARS))
    typo = {
        "delete": lambda: key[:i] + key[i + 1:],
        "insert": lambda: key[:i] + char + key[i:],
        "substitute": lambda: key[:i] + char + key[i + 1:],
        "swap": lambda: key[:i] + key[i + 1] + key[i] + key[i + 2:],
    }[edit]()
    # Not a key, a section, an old flat key (which names its new spelling instead), or an empty part.
    assume(typo not in KEYS and typo not in TOP_NAMES and "" not in typo.split("."))
    assume(not any(k.startswith(typo + ".") for k in KEYS))
    return typo


def _suggestion(message: str) -> str | None:
    marker = "Did you mean '"
    if marker not in message:
        return None
    return message.split(marker, 1)[1].split("'", 1)[0]


@settings(SETTINGS, max_examples=150)
@given(one_edit_from_a_key())
def test_a_key_one_edit_from_a_valid_key_gets_a_valid_suggestion(typo):
    assert _suggestion(unknown_key_message(typo)) in KEYS
    with pytest.raises(ConfigError) as info:
        load_config(None, [f"{typo}=1"])
    assert _suggestion(str(info.value)) in KEYS


@pytest.mark.parametrize("key", [k for k in KEYS if "_" in k])
def test_dashes_for_underscores_suggest_the_key(key):
    assert _suggestion(unknown_key_message(key.replace("_", "-"))) == key


# --- validate: only ConfigError, whatever the numbers -------------------------------------------------------------


@SETTINGS
@given(valid_values())
def test_validate_raises_only_config_error_for_any_valid_config(values):
    try:
        validate(from_dict(values))
    except ConfigError:
        pass


def _numeric(key: str) -> st.SearchStrategy:
    base, optional = _base(TYPES[key])
    strategy = st.integers(-(10**12), 10**12) | st.sampled_from([-1, 0, 1, 2]) if base is int else FLOATS
    return st.none() | strategy if optional else strategy


@st.composite
def numeric_configs(draw):
    """Every int and float setting random, with any methods that support the chosen scenario."""
    scenario = draw(st.sampled_from(sorted(SCENARIOS)))
    methods = [m for m in METHODS if scenario in method_spec(m).scenarios]
    assume(methods)
    chosen = draw(st.lists(st.sampled_from(methods), min_size=1, max_size=3, unique=True))
    keys = [k for k in INT_KEYS + FLOAT_KEYS if (k.split(".")[0] not in METHODS or k.split(".")[0] in chosen)
            and (scenario == "nns" or not k.startswith("scenario.nns."))]
    values = {k: draw(_numeric(k)) for k in keys}
    values["method"] = chosen
    values["scenario.name"] = scenario
    values["data.benchmark"] = [draw(st.sampled_from(["permuted", "rotated", "split", "pair"]))]
    values["data.label_mode"] = "keep" if scenario == "class" else "remap"
    values["model.mask_rule"] = draw(st.sampled_from(["threshold", "topk"]))
    values["model.batch_norm"] = draw(st.booleans())
    return values


@settings(SETTINGS, max_examples=80)
@given(numeric_configs())
def test_from_dict_and_validate_raise_only_config_error_for_random_numbers(values):
    try:
        validate(from_dict(values))
    except ConfigError:
        pass


@settings(SETTINGS, max_examples=60)
@given(st.sampled_from([k for k in KEYS if k != "data.data_dir"]).flatmap(
    lambda key: st.tuples(st.just(key), value_of(key))))
def test_validate_raises_only_config_error_for_any_single_setting(pair):
    key, value = pair
    try:
        validate(from_dict(with_context(key, value)))
    except ConfigError:
        pass
