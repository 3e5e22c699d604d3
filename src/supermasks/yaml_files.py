"""Reading YAML files for configs and studies: UTF-8 only, duplicate keys refused, errors on one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from supermasks.errors import ConfigError


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} on lines {first} and {line}", key_node.start_mark)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml_text(text: str) -> Any:
    """The YAML document `text`, read safely; a key given twice in one mapping is a yaml.YAMLError."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 -- a SafeLoader subclass


def read_yaml_file(path: Path | str) -> Any:
    """The YAML document in the file `path`, read as UTF-8 (ConfigError when it cannot be read)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file {path} is a directory, not a YAML file")
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
                          f"save the config as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}") from None
    try:
        return load_yaml_text(text)
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an int past the digit limit
        raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from None


def _yaml_problem(exc: Exception) -> str:
    """A YAML error on one line: what is wrong and where (PyYAML's own text spans several lines)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        where = f" (line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1})" if exc.problem_mark else ""
        context = f"{exc.context}: " if exc.context else ""
        return f"{context}{exc.problem}{where}"
    return " ".join(str(exc).split())


def read_yaml(path: Path | str) -> dict[str, Any]:
    """The mapping at the top of the YAML file `path` (ConfigError when missing, empty or not a mapping)."""
    loaded = read_yaml_file(path)
    if loaded is None:  # no document: an empty file, only comments, /dev/null
        raise ConfigError(f"config file {path} is empty (no settings, only comments or nothing): "
                          f"give at least one setting (e.g. `name: my-run`; the other settings keep their defaults)")
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
    return loaded


def top_level_keys(path: Path | str) -> frozenset[str]:
    """The keys at the top of the YAML file `path`; empty when it cannot be read (its loader reports why)."""
    try:
        loaded = load_yaml_text(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):  # ValueError: not UTF-8
        return frozenset()
    return frozenset(k for k in loaded if isinstance(k, str)) if isinstance(loaded, dict) else frozenset()
