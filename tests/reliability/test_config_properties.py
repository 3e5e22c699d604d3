"""Property-based tests of config parsing (supermasks.config) and of the range checks in `validate`.

The rules tested are the ones `_coerce` documents: values are checked against the field's type and converted
only where no information is lost -- an int is accepted for a float field, a numeric string for a float field
(YAML 1.1 reads `1e-4` as a string), a bool/int/float for a str field (YAML reads `true`, `3` as non-strings),
a single string for a list field; never a float (even 3.0) or a bool for an int field, never NaN for a float.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import typing
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from supermasks.runner import validate
from supermasks.config import (
    FIELDS,
    ConfigError,
    ExperimentConfig,
    from_dict,
    load_config,
    parse_override,
    to_dict,
    unknown_key_message,
)

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HINTS = typing.get_type_hints(ExperimentConfig)
DEFAULT = ExperimentConfig()


def _base(tp):
    """(base type, optional?) of a field type: `int | None` -> (int, True), `list[str]` -> (list[str], False)."""
    if typing.get_origin(tp) in (typing.Union, __import__("types").UnionType):
        (arg,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return arg, True
    return tp, False


def _is_list(tp) -> bool:
    return typing.get_origin(tp) is list


def _fields_of(base) -> list[str]:
    return [k for k, tp in HINTS.items() if _base(tp)[0] == base]


INT_FIELDS = _fields_of(int)
FLOAT_FIELDS = _fields_of(float)
BOOL_FIELDS = _fields_of(bool)
STR_FIELDS = _fields_of(str)
LIST_FIELDS = [k for k, tp in HINTS.items() if _is_list(tp)]
OPTIONAL_FIELDS = [k for k, tp in HINTS.items() if _base(tp)[1]]


def test_every_field_has_a_type_these_tests_cover():
    assert set(INT_FIELDS + FLOAT_FIELDS + BOOL_FIELDS + STR_FIELDS + LIST_FIELDS) == set(FIELDS)
    assert INT_FIELDS and FLOAT_FIELDS and BOOL_FIELDS and STR_FIELDS and LIST_FIELDS and OPTIONAL_FIELDS


# Text that YAML can write and read back unchanged (no lone surrogates, which no encoder accepts).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
INTS = st.integers(min_value=-(10**30), max_value=10**30)
FLOATS = st.floats(allow_nan=False)  # infinities included: YAML writes .inf and reads it back


def value_of(tp) -> st.SearchStrategy:
    """Valid values of the field type `tp`, in the Python type the field stores."""
    base, optional = _base(tp)
    if _is_list(base):
        (item,) = typing.get_args(base)
        strategy = st.lists(value_of(item), min_size=1, max_size=4)
    else:
        strategy = {bool: st.booleans(), int: INTS, float: FLOATS, str: TEXT}[base]
    return st.none() | strategy if optional else strategy


FIELD = st.sampled_from(sorted(FIELDS))
ALL_VALUES = st.fixed_dictionaries({key: value_of(tp) for key, tp in HINTS.items()})


@st.composite
def field_and_value(draw, fields=FIELD):
    key = draw(fields)
    return key, draw(value_of(HINTS[key]))


def _write_yaml(directory: str, values: dict) -> Path:
    path = Path(directory) / "cfg.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


# --- round trips ---------------------------------------------------------------------------------------------


@SETTINGS
@given(ALL_VALUES)
def test_from_dict_keeps_valid_values_and_round_trips_through_to_dict(values):
    config = from_dict(values)
    for key, value in values.items():
        stored = getattr(config, key)
        assert stored == value
        if _base(HINTS[key])[0] is float and value is not None:
            assert type(stored) is float
    assert from_dict(to_dict(config)) == config
    assert to_dict(from_dict(to_dict(config))) == to_dict(config)


@SETTINGS
@given(ALL_VALUES)
def test_yaml_file_round_trip(values):
    config = from_dict(values)
    with tempfile.TemporaryDirectory() as directory:
        assert load_config(_write_yaml(directory, to_dict(config))) == config


@SETTINGS
@given(st.dictionaries(FIELD.filter(lambda k: k != "name"), st.just(None), max_size=8).flatmap(
    lambda keys: st.fixed_dictionaries({k: value_of(HINTS[k]) for k in keys})))
def test_partial_yaml_file_sets_its_keys_and_defaults_the_rest(values):
    with tempfile.TemporaryDirectory() as directory:
        config = load_config(_write_yaml(directory, values))
    assert config.name == "cfg"  # the file's stem when the file names none
    for key in FIELDS:
        if key != "name":
            assert getattr(config, key) == values.get(key, getattr(DEFAULT, key))


@SETTINGS
@given(st.lists(field_and_value(), max_size=6))
def test_overrides_round_trip_and_set_exactly_their_fields(pairs):
    texts = [f"{key}={yaml.safe_dump(value)}" for key, value in pairs]
    for text, (key, value) in zip(texts, pairs):
        assert parse_override(text) == (key, value)
    config = load_config(None, texts)
    expected = dict(pairs)  # a later override of the same key wins
    for key in FIELDS:
        assert getattr(config, key) == expected.get(key, getattr(DEFAULT, key)), key


@SETTINGS
@given(field_and_value(st.sampled_from(INT_FIELDS + FLOAT_FIELDS + BOOL_FIELDS)), st.sampled_from(["", " ", "  "]))
def test_plain_command_line_spelling_of_scalars(pair, space):
    """`key=3`, `key=1e-05`, `key=True` as typed on a command line (str/repr, not YAML dumps)."""
    key, value = pair
    text = "null" if value is None else repr(value)  # repr(inf) is 'inf', which float() reads back
    assert load_config(None, [f"{space}{key}{space}={space}{text}"]) == dataclasses.replace(DEFAULT, **{key: value})


@SETTINGS
@given(ALL_VALUES, st.lists(field_and_value(), max_size=4))
def test_overrides_apply_on_top_of_the_file(values, pairs):
    with tempfile.TemporaryDirectory() as directory:
        path = _write_yaml(directory, values)
        config = load_config(path, [f"{k}={yaml.safe_dump(v)}" for k, v in pairs])
    assert config == dataclasses.replace(from_dict(values), **dict(pairs))


# --- documented coercions ------------------------------------------------------------------------------------


@SETTINGS
@given(st.sampled_from(FLOAT_FIELDS), st.integers(min_value=-(2**53), max_value=2**53))
def test_int_is_accepted_for_a_float_field(key, value):
    stored = getattr(from_dict({key: value}), key)
    assert type(stored) is float and stored == value


@SETTINGS
@given(st.sampled_from(FLOAT_FIELDS), st.floats(allow_nan=False))
def test_numeric_string_is_accepted_for_a_float_field(key, value):
    for text in (repr(value), f"{value:e}"):
        assert getattr(from_dict({key: text}), key) == float(text)


@SETTINGS
@given(st.sampled_from(STR_FIELDS), st.booleans() | INTS | FLOATS)
def test_scalars_become_strings_in_a_str_field(key, value):
    expected = ("true" if value else "false") if isinstance(value, bool) else str(value)
    assert getattr(from_dict({key: value}), key) == expected


@SETTINGS
@given(st.sampled_from(LIST_FIELDS), TEXT)
def test_a_single_string_becomes_a_one_element_list(key, value):
    assert getattr(from_dict({key: value}), key) == [value]
    assert getattr(load_config(None, [f"{key}={yaml.safe_dump(value)}"]), key) == [value]


def test_none_is_accepted_exactly_for_optional_fields():
    for key in FIELDS:
        if key in OPTIONAL_FIELDS:
            assert getattr(from_dict({key: None}), key) is None
        else:
            with pytest.raises(ConfigError, match=f"^{key}: expected"):
                from_dict({key: None})


# --- wrong types ---------------------------------------------------------------------------------------------

NOT_A_NUMBER_TEXT = TEXT.filter(lambda s: not _parses_as_float(s))
CONTAINERS = st.lists(INTS, max_size=3) | st.dictionaries(TEXT, INTS, max_size=2) | st.dates() | st.datetimes()


def _parses_as_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _wrong_values(key: str) -> st.SearchStrategy:
    base, optional = _base(HINTS[key])
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
    assert _is_list(base)
    bad_items = st.none() | st.lists(TEXT, max_size=2) | st.dictionaries(TEXT, TEXT, max_size=1) | st.dates()
    return st.just([]) | st.none() | st.dictionaries(TEXT, TEXT, max_size=2) | st.lists(
        TEXT, max_size=2).flatmap(lambda good: bad_items.map(lambda bad: [*good, bad]))


def _expected_name(key: str) -> str:
    base, _ = _base(HINTS[key])
    return typing.get_args(base)[0].__name__ if _is_list(base) else base.__name__


@st.composite
def field_and_wrong_value(draw):
    key = draw(FIELD)
    return key, draw(_wrong_values(key))


@SETTINGS
@given(field_and_wrong_value())
def test_a_wrong_type_raises_config_error_naming_key_and_type(pair):
    key, value = pair
    with pytest.raises(ConfigError) as info:
        from_dict({key: value})
    assert str(info.value).startswith(f"{key}: expected ")
    assert _expected_name(key) in str(info.value)


@SETTINGS
@given(field_and_wrong_value())
def test_a_wrong_type_in_an_override_or_a_file_raises_config_error(pair):
    key, value = pair
    text = yaml.safe_dump(value)  # NaN is written as .nan
    with pytest.raises(ConfigError, match=f"^{key}: expected "):
        load_config(None, [f"{key}={text}"])
    with tempfile.TemporaryDirectory() as directory, pytest.raises(ConfigError, match=f"^{key}: expected "):
        load_config(_write_yaml(directory, {key: value}))


@SETTINGS
@given(st.sampled_from(INT_FIELDS), st.integers(min_value=-(10**6), max_value=10**6), st.booleans())
def test_int_fields_refuse_floats_even_integral_ones(key, number, fractional):
    value = number + 0.5 if fractional else float(number)
    with pytest.raises(ConfigError, match=f"^{key}: expected int, got {value!r}"):
        from_dict({key: value})


@SETTINGS
@given(st.sampled_from(FLOAT_FIELDS + INT_FIELDS + STR_FIELDS), st.integers(min_value=4400, max_value=6000))
def test_huge_integers_raise_config_error(key, digits):
    """Ints past the float range or Python's int-to-str digit limit: a ConfigError, not OverflowError/ValueError."""
    value = 10 ** (digits - 1)
    if key in INT_FIELDS:
        assert getattr(from_dict({key: value}), key) == value
    else:
        with pytest.raises(ConfigError, match=f"^{key}: expected"):
            from_dict({key: value})
    with pytest.raises(ConfigError):  # YAML cannot even read it: int(text) refuses past the digit limit
        load_config(None, [f"{key}=1{'0' * digits}"])


# --- arbitrary input: ConfigError or a correctly typed config, nothing else -----------------------------------

ANY_YAML_VALUE = st.recursive(
    st.none() | st.booleans() | INTS | st.floats() | TEXT | st.dates(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=6,
)


def _check_types(config: ExperimentConfig) -> None:
    for key, tp in HINTS.items():
        value = getattr(config, key)
        base, optional = _base(tp)
        if value is None:
            assert optional, key
        elif _is_list(base):
            assert isinstance(value, list) and value and all(type(v) is str for v in value), key
        else:
            assert type(value) is base, key
            if base is float:
                assert not math.isnan(value), key


@SETTINGS
@given(FIELD, ANY_YAML_VALUE)
def test_from_dict_on_any_value_gives_config_error_or_a_typed_config(key, value):
    try:
        config = from_dict({key: value})
    except ConfigError as exc:
        assert str(exc).startswith(f"{key}: expected")
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
@given(FIELD, st.text(max_size=30))
def test_any_override_value_gives_config_error_or_a_typed_config(key, raw):
    try:
        config = load_config(None, [f"{key}={raw}"])
    except ConfigError as exc:
        assert key in str(exc)
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


# --- malformed overrides and unknown keys --------------------------------------------------------------------


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


UNKNOWN_KEY = st.text(max_size=30).filter(lambda k: k not in FIELDS)


@SETTINGS
@given(UNKNOWN_KEY | INTS | st.none() | st.tuples(INTS, TEXT))
def test_unknown_key_in_from_dict_is_named(key):
    with pytest.raises(ConfigError) as info:
        from_dict({key: 1})
    assert f"unknown config key {str(key)!r}" in str(info.value)
    assert f"Valid keys: {', '.join(FIELDS)}" in str(info.value)


@SETTINGS
@given(UNKNOWN_KEY.filter(lambda k: "=" not in k and k.strip() and k.strip() not in FIELDS))
def test_unknown_key_in_an_override_is_named(key):
    with pytest.raises(ConfigError) as info:
        load_config(None, [f"{key}=1"])
    assert f"unknown config key {key.strip()!r}" in str(info.value)


@SETTINGS
@given(ALL_VALUES, UNKNOWN_KEY)
def test_unknown_key_in_a_file_is_named_even_among_valid_ones(values, key):
    with tempfile.TemporaryDirectory() as directory, pytest.raises(ConfigError) as info:
        load_config(_write_yaml(directory, {**values, key: 1}))
    assert f"unknown config key {key!r}" in str(info.value)


TYPO_CHARS = "abcdefghijklmnopqrstuvwxyz_0123456789"


@st.composite
def one_edit_from_a_field(draw):
    key = draw(FIELD)
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
    assume(typo not in FIELDS)
    return typo


def _suggestion(message: str) -> str | None:
    marker = "Did you mean '"
    if marker not in message:
        return None
    return message.split(marker, 1)[1].split("'", 1)[0]


@settings(SETTINGS, max_examples=150)
@given(one_edit_from_a_field())
def test_a_key_one_edit_from_a_field_gets_a_valid_suggestion(typo):
    assert _suggestion(unknown_key_message(typo)) in FIELDS
    with pytest.raises(ConfigError) as info:
        load_config(None, [f"{typo}=1"])
    assert _suggestion(str(info.value)) in FIELDS


@pytest.mark.parametrize("key", [k for k in FIELDS if "_" in k])
def test_dashes_for_underscores_suggest_the_field(key):
    assert _suggestion(unknown_key_message(key.replace("_", "-"))) == key


# --- validate: range checks ----------------------------------------------------------------------------------


POSITIVE_INTS = ["num_tasks", "output_size", "batch_size", "steps_per_task", "eval_batch_size"]


def _in_range():
    return st.fixed_dictionaries({
        **{k: st.integers(1, 10**9) for k in POSITIVE_INTS},
        "lr": st.floats(min_value=1e-300, max_value=1e300),
        "eval_every": st.integers(0, 10**9),
        "classes_per_task": st.integers(2, 10**6),
        "density": st.floats(min_value=0.0, max_value=1.0, exclude_min=True),
        "rotation_step": st.none() | st.floats(min_value=0.0, max_value=360.0, exclude_min=True),
        "seed": INTS,
    })


@SETTINGS
@given(_in_range())
def test_validate_accepts_values_inside_the_documented_ranges(values):
    validate(from_dict(values))


OUT_OF_RANGE = {
    **{k: st.integers(max_value=0) for k in POSITIVE_INTS},
    "lr": st.floats(max_value=0.0),
    "eval_every": st.integers(max_value=-1),
    "classes_per_task": st.integers(max_value=1),
    "density": st.floats(max_value=0.0) | st.floats(min_value=1.0, exclude_min=True),
    "rotation_step": st.floats(max_value=0.0) | st.floats(min_value=360.0, exclude_min=True),
}


@st.composite
def one_out_of_range(draw):
    key = draw(st.sampled_from(sorted(OUT_OF_RANGE)))
    return key, draw(OUT_OF_RANGE[key])


@SETTINGS
@given(_in_range(), one_out_of_range())
def test_validate_refuses_a_value_outside_its_range_naming_the_key(values, bad):
    key, value = bad
    with pytest.raises(ConfigError, match=key):
        validate(from_dict({**values, key: value}))


def _numeric(key: str) -> st.SearchStrategy:
    base, optional = _base(HINTS[key])
    strategy = st.integers(-(10**12), 10**12) | st.sampled_from([-1, 0, 1, 2]) if base is int else FLOATS
    return st.none() | strategy if optional else strategy


@st.composite
def numeric_configs(draw):
    """Every int and float field random, with any method that supports the chosen scenario."""
    from supermasks.methods import list_methods, method_spec
    from supermasks.scenarios import SCENARIOS

    scenario = draw(st.sampled_from(sorted(SCENARIOS)))
    methods = [m for m in list_methods() if scenario in method_spec(m).scenarios]
    assume(methods)
    values = {k: draw(_numeric(k)) for k in INT_FIELDS + FLOAT_FIELDS}
    values["method"] = draw(st.lists(st.sampled_from(methods), min_size=1, max_size=3, unique=True))
    values["scenario"] = scenario
    values["benchmark"] = [draw(st.sampled_from(["permuted", "rotated", "split", "pair"]))]
    values["label_mode"] = "keep" if scenario == "class" else "remap"
    values["batch_norm"] = draw(st.booleans())
    return from_dict(values)


@settings(SETTINGS, max_examples=80)
@given(numeric_configs())
def test_validate_raises_only_config_error_for_random_numbers(config):
    try:
        validate(config)
    except ConfigError:
        pass


@settings(SETTINGS, max_examples=60)
@given(FIELD.filter(lambda k: k not in ("data_dir",)).flatmap(
    lambda key: st.tuples(st.just(key), value_of(HINTS[key]))))
def test_validate_raises_only_config_error_for_any_single_field(pair):
    key, value = pair
    try:
        validate(from_dict({key: value}))
    except ConfigError:
        pass
