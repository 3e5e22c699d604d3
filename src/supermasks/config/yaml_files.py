"""Reading YAML files for configs and studies: UTF-8 only, duplicate keys refused, errors on one line.

Every YAML text the project reads (configs, study files, sweep specs, `key=value` overrides, the
config.yaml of stored runs) is bounded while it is read: its size (MAX_YAML_BYTES), how deeply it
nests (MAX_YAML_DEPTH) and how many values it stands for once each alias is counted as the values
it repeats (MAX_YAML_VALUES). A text past one of them is a YAMLLimitError naming the limit, so a
few lines of aliases that would expand to millions of values never reach the code that would
expand them (an error message, a deep copy), and a deeply nested text never exhausts the stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from supermasks.errors import ConfigError


# Configs are a few kilobytes and nest five levels; these bounds leave room for far larger ones.
MAX_YAML_BYTES = 256 * 1024
MAX_YAML_DEPTH = 64
MAX_YAML_VALUES = 100_000


class YAMLLimitError(yaml.YAMLError):
    """A YAML text past one of the bounds above; its message names the bound (and the line, where known)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last silently), and
    refusing a document nested deeper than MAX_YAML_DEPTH or standing for more than MAX_YAML_VALUES values.

    While composing, each node's size is the values it stands for: 1 plus its children's sizes, where an
    alias child counts the full size of the node it repeats. The running total is checked at every node,
    so an alias bomb stops at the first alias past the bound, before anything is expanded.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._values = 0
        self._sizes: dict[int, int] = {}

    def fetch_flow_collection_start(self, TokenClass: type) -> None:  # noqa: N803 (PyYAML's name)
        # The scanner's work per token grows with the open brackets of a line; stop it at the depth limit too.
        if self.flow_level >= MAX_YAML_DEPTH:
            raise YAMLLimitError(f"nested more than {MAX_YAML_DEPTH} levels deep{_line(self.get_mark())}")
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        alias = self.check_event(yaml.AliasEvent)
        mark = self.peek_event().start_mark
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise YAMLLimitError(f"nested more than {MAX_YAML_DEPTH} levels deep{_line(mark)}")
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if alias:
            size = self._sizes.get(id(node))  # the anchored node, composed (and sized) before its alias
            if size is None:  # `&a [*a]`: a value that holds itself, which no walk over it would finish
                raise yaml.composer.ComposerError(None, None, "an alias inside the value it names", mark)
        else:
            children = node.value if isinstance(node, yaml.CollectionNode) else []
            size = 1 + sum(self._sizes[id(c)] for child in children
                           for c in (child if isinstance(child, tuple) else (child,)))
            self._sizes[id(node)] = size
        self._values += size if alias else 1  # a new node's children were counted as they were composed
        if self._values > MAX_YAML_VALUES:
            raise YAMLLimitError(f"more than {MAX_YAML_VALUES} values, counting each alias as all the values it "
                                 f"repeats{_line(mark)}")
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`: merged by the base class, no key of its own
                continue
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


def _line(mark: Any) -> str:
    return f" (line {mark.line + 1})" if mark is not None else ""


def load_yaml_text(text: str) -> Any:
    """The YAML document `text`, read safely; a key given twice in one mapping is a yaml.YAMLError, and a
    text past the bounds (size, depth, values) a YAMLLimitError, which is one too."""
    if len(text) > MAX_YAML_BYTES:
        raise YAMLLimitError(f"{len(text)} characters, more than the limit of {MAX_YAML_BYTES}")
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 -- a SafeLoader subclass


def read_yaml_file(path: Path | str) -> Any:
    """The YAML document in the file `path`, read as UTF-8 (ConfigError when it cannot be read)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file {path} is a directory, not a YAML file")
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    try:
        with path.open("rb") as fh:  # at most one byte past the limit: /dev/zero or a huge file is not read whole
            data = fh.read(MAX_YAML_BYTES + 1)
        if len(data) > MAX_YAML_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_YAML_BYTES // 1024} KiB, the limit of a YAML config "
                              f"(configs are a few kilobytes): check that this is the file you meant")
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
                          f"save the config as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}") from None
    try:
        return load_yaml_text(text)
    except YAMLLimitError as exc:
        raise ConfigError(f"{path}: YAML past its limits: {exc}; a config stays far within them: "
                          f"check the file") from None
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an int past the digit limit
        raise ConfigError(f"{path}: not valid YAML: {yaml_problem(exc)}") from None


def yaml_problem(exc: Exception) -> str:
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
        loaded = read_yaml_file(path)
    except ConfigError:  # ValueError: not UTF-8
        return frozenset()
    return frozenset(k for k in loaded if isinstance(k, str)) if isinstance(loaded, dict) else frozenset()
