"""Property-based tests of config parsing (supermasks.config), over every dotted key of every section.

The rules tested are the ones `_coerce` documents: values are checked against the field's type and converted
only where no information is lost -- an int is accepted for a float field, a numeric string for a float field
(YAML 1.1 reads `1e-4` as a string), a bool/int/float for a free-text str field (YAML reads `true`, `3` as
non-strings), a single string for a list field; never a float (even 3.0) or a bool for an int field, never NaN
for a float. Each settings class then checks its own ranges, and the config the combinations: a setting that
does nothing in its combination is an error, so every key is tested together with the settings that make it
count (`CONTEXT`).

Over 400 lines because it is one property per parsing rule, over every key; what the properties draw from (the
keys, their contexts, the strategies) is tests/reliability/config_strategies.py.
"""

from __future__ import annotations

import math
import tempfile
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from supermasks.config.typed import shown
from supermasks.config import (OLD_KEYS, SECTIONS, ConfigError, ExperimentConfig, from_dict, load_config,
                               parse_override, to_dict, unknown_key_message)
from supermasks.methods import method_spec
from supermasks.runner import validate
from supermasks.scenarios import SCENARIOS

from tests.reliability.config_strategies import (_base, BOOL_KEYS, _check_values, CHOICE_KEYS, context, default_in,
                                                 DEFAULTS, FLOAT_KEYS, FLOAT_RANGES, FLOATS, _floats, INT_HIGH,
                                                 INT_KEYS, INT_RANGES, INTS, _is_choice, _is_list, key_and_value,
                                                 KEYS, LIST_KEYS, METHODS, MISSING, NAMED, nested, ONLY_WHEN,
                                                 OPTIONAL_KEYS, _out_of_range, _override, partial_values, SETTINGS,
                                                 stored, STR_KEYS, TEXT, TEXT_KEYS, TYPES, UNION_KEYS, valid_values,
                                                 value_of, with_context, _write_yaml)


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
