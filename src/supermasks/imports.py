"""A user's own code named in a config: `"package.module:function"` import paths, checked and imported once."""

from __future__ import annotations

import importlib
import re
from typing import Any

from supermasks.errors import ConfigError, shown

_NAME = r"[A-Za-z_]\w*"
_PATH = re.compile(rf"{_NAME}(\.{_NAME})*:{_NAME}(\.{_NAME})*")

_IMPORTED: dict[str, Any] = {}  # import path -> what it names: each path is imported once per process


def is_import_path(value: object) -> bool:
    """Whether `value` is a string of the form `package.module:attribute` (the attribute may be dotted)."""
    return isinstance(value, str) and _PATH.fullmatch(value) is not None


def load_target(path: str, key: str) -> Any:
    """What the import path `path` names (the setting `key` gave it); a one-line ConfigError when its module cannot
    be imported or has no such attribute. Imported once: later calls return the same object."""
    if path in _IMPORTED:
        return _IMPORTED[path]
    if not is_import_path(path):
        raise ConfigError(f"{key}: {shown(path)} is not an import path of the form package.module:function")
    module_name, _, attribute = path.partition(":")
    try:
        value: Any = importlib.import_module(module_name)
    except ImportError as error:  # ModuleNotFoundError too
        raise ConfigError(f"{key}: cannot import {module_name} for {path} ({type(error).__name__}: {error}): put "
                          "its folder on PYTHONPATH, or install its package") from None
    except Exception as error:  # the user's module failed while it was imported
        first = str(error).splitlines()[0] if str(error) else ""
        raise ConfigError(f"{key}: importing {module_name} for {path} failed: {type(error).__name__}: {first}") from None
    for part in attribute.split("."):
        if not hasattr(value, part):
            raise ConfigError(f"{key}: module {module_name} has no attribute {attribute!r} (from {path})")
        value = getattr(value, part)
    if not callable(value):
        raise ConfigError(f"{key}: {path} is a {type(value).__name__}, not a function")
    _IMPORTED[path] = value
    return value


__all__ = ["is_import_path", "load_target"]
