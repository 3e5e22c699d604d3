"""Checking one setting's value against its field's type: `Literal` choices, unions, lists, numbers, words.

A value is converted only where nothing is lost (an int where a float is wanted, YAML's `1e-4`
string as the number it spells); anything else is a ConfigError naming the key, what was
expected and what was given. Used by `config` for every field of every settings dataclass.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, Literal

from supermasks.errors import SHOWN_CHARS, ConfigError, shown  # noqa: F401 (shown: used here and by config)


def type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(key: str, value: Any, tp: Any, *, empty: bool = False) -> Any:
    """Check `value` against the field type `tp`, converting only where no information is lost.

    A list holds at least one item unless `empty` (a list setting whose default is the empty list)."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        if isinstance(value, bool):  # YAML reads `true` as a boolean; a choice of words means the word
            value = "true" if value else "false"
        if isinstance(value, str) and value in choices:
            return value
        raise ConfigError(f"{key}: unknown value {shown(value)}; choose one of {', '.join(choices)}")
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        alternatives = [a for a in args if a is not type(None)]
        for arg in alternatives:
            try:
                return coerce(key, value, arg, empty=empty)
            except ConfigError as exc:
                errors.append(str(exc))
        if len(errors) > 1:  # `bool | Literal["auto"]`: name every alternative
            wanted = " or ".join(f"one of {', '.join(typing.get_args(a))}" if typing.get_origin(a) is Literal
                                 else type_name(a) for a in alternatives)
            raise ConfigError(f"{key}: expected {wanted}, got {shown(value)} ({type(value).__name__})")
        raise ConfigError(errors[0])
    if origin is list:
        (item,) = typing.get_args(tp)
        values = value if isinstance(value, list) else [value]
        if not values and not empty:
            raise ConfigError(f"{key}: expected at least one {type_name(item)}")
        return [coerce(key, v, item) for v in values]
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
            return "true" if value else "false"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return str(value)
            except ValueError:  # an int past Python's digit limit
                pass
    raise ConfigError(f"{key}: expected {type_name(tp)}, got {shown(value)} ({type(value).__name__})")


@functools.cache
def hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)  # ~1 ms each: once per class, not per key


@functools.cache
def field_keys(cls: type) -> dict[str, dataclasses.Field]:
    """YAML key -> field: the field's name unless its metadata spells it otherwise (`lam` is `lambda`)."""
    return {f.metadata.get("key", f.name): f for f in dataclasses.fields(cls)}


def section_class(tp: Any) -> type | None:
    """The settings dataclass a field holds (also inside `X | None`), else None."""
    if dataclasses.is_dataclass(tp):
        return tp
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(inner) == 1 and dataclasses.is_dataclass(inner[0]):
            return inner[0]
    return None
