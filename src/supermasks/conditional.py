"""Settings that apply only in some combinations, declared where they are defined.

A settings field that does something only when another setting has certain values (`density` only
under `mask_rule: topk`, `classes_per_task` only for the split benchmark) declares so in its field
metadata with `only_when(...)` and defaults to None, meaning "not set". Its settings class calls
`complete(self, section)` first thing in `__post_init__`: where the field applies and was not given it takes
its default; where it does not apply and was given, that is an error (a setting that does nothing
is never silently accepted). A condition on another section (`"scenario.name"`) or on the config's
top level (`"method"`) is resolved by the experiment config, which knows every section (`supermasks.config`).
A switch whose "off" value asks for what happens anyway where it does not apply (`run.overlap: false`
without a masked method) declares that value `inert`: accepted there, and None like an unset one.
A condition may be conditional itself (`data.permute_fraction` applies under `permute_subsets:
independent`, which only the permuted benchmark has): it is declared first, so it is resolved
first, and where it does not apply it is None.

The same declarations let the config loader drop a setting an earlier layer made for a choice a
later layer changes, and let a study leave out an override that does nothing in one of its runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

_KEY = "only_when"


@dataclass(frozen=True)
class Capability:
    """The values of a condition named by what they can do rather than listed: `Capability("masks")` on the key
    `method` is every method that learns masks. A settings module cannot list them (the registry is built from
    modules above it); the registry declares each capability's members once (`declare_capability`)."""

    name: str

    def __call__(self) -> frozenset[Any]:
        if self.name not in _CAPABILITIES:
            raise LookupError(f"no values declared for the capability {self.name!r}: import the registry that "
                              f"declares them (supermasks.methods) first")
        return _CAPABILITIES[self.name]()


_CAPABILITIES: dict[str, Callable[[], frozenset[Any]]] = {}


def declare_capability(name: str, members: Callable[[], frozenset[Any]]) -> None:
    """Declare the values that have the capability `name` (`members()` is asked each time a condition is resolved)."""
    _CAPABILITIES[name] = members


@dataclass(frozen=True)
class OnlyWhen:
    """A setting applies only when the setting `key` (a field of the same section, or a dotted
    `section.field`) has a value in `values` (for a list value: holds one of them)."""

    key: str
    values: frozenset[Any] | Callable[[], frozenset[Any]]  # a function where a registry holds them (method names)
    reason: str  # what it applies to, for messages: "the split benchmark", "mask_rule topk"
    default: Any = None  # its value where it applies and is not given (None: required or resolved by its class)
    default_factory: Callable[[], Any] | None = None
    fix: str = ""  # the other way to make it count, for messages: "set run.figures=true"
    inert: frozenset[Any] = frozenset()  # values accepted where it does not apply: they ask for nothing

    def applies(self, value: Any) -> bool:
        """Whether the setting does something when the condition's setting has `value`."""
        items = value if isinstance(value, (list, tuple)) else [value]
        values = self.values() if callable(self.values) else self.values
        try:
            return any(item in values for item in items)
        except TypeError:  # unhashable: not a valid value of the condition, which its own check reports
            return False

    def is_inert(self, value: Any) -> bool:
        """Whether `value` is accepted where the setting does not apply (the same type: `0` is not `False`)."""
        return any(value == v and type(value) is type(v) for v in self.inert)

    def fallback(self) -> Any:
        return self.default_factory() if self.default_factory is not None else self.default


def only_when(key: str, values: Any, reason: str, *, default: Any = None,
              default_factory: Callable[[], Any] | None = None, fix: str = "", inert: tuple[Any, ...] = (),
              **metadata: Any) -> dict[str, Any]:
    """Field metadata declaring that a setting applies only when `key` is one of `values`.

    `key` names a field of the same settings class, or else a dotted `section.field` or a top-level
    setting of the config (`method`); `values` may be a function returning them, for a registry's
    names. `fix` says how else to make the setting count; `inert` lists values accepted where it
    does not apply (an "off" that asks for what happens there anyway).
    """
    chosen = (values if callable(values) else frozenset(values) if isinstance(values, (set, frozenset, list, tuple))
              else frozenset({values}))
    return {**metadata, _KEY: OnlyWhen(key, chosen, reason, default, default_factory, fix, frozenset(inert))}


def rule_of(f: dataclasses.Field) -> OnlyWhen | None:
    """The field's `only_when` declaration, if any."""
    return f.metadata.get(_KEY)


def rules(cls: type) -> Iterator[tuple[str, OnlyWhen]]:
    """(field name, rule) for each conditional field of the settings class `cls`."""
    for f in dataclasses.fields(cls):
        rule = rule_of(f)
        if rule is not None:
            yield f.name, rule


def resolved(name: str, value: Any, rule: OnlyWhen, condition: Any, *, condition_name: str | None = None) -> Any:
    """`value` of the setting `name` given its condition's value: its default where it applies and is
    unset; ValueError where it is set (to a value that is not inert) and does not apply. The message
    calls the condition `condition_name` (default: the rule's key)."""
    if rule.applies(condition):
        return rule.fallback() if value is None else value
    if value is not None and not rule.is_inert(value):
        # A condition that is None does not apply itself (a setting of a setting: permute_fraction under
        # permute_subsets, which only the permuted benchmark has): its value says nothing.
        shown = "" if condition is None else f" ({condition_name or rule.key} is {condition!r})"
        fix = f", or {rule.fix}" if rule.fix else ""
        raise ValueError(f"{name} does nothing here: it applies only to {rule.reason}{shown}: remove it{fix}")
    return None


def is_local(cls: type, rule: OnlyWhen) -> bool:
    """Whether the rule's condition is a field of the settings class `cls` itself (resolved by `complete`)."""
    return rule.key in {f.name for f in dataclasses.fields(cls)}


def complete(settings: Any, section: str) -> None:
    """Resolve the conditional fields of the frozen `settings` (the config's section `section`, which messages
    name the condition by) whose condition is in the same section; call it first in `__post_init__`."""
    for name, rule in rules(type(settings)):
        if is_local(type(settings), rule):
            value = resolved(name, getattr(settings, name), rule, getattr(settings, rule.key),
                             condition_name=f"{section}.{rule.key}")
            object.__setattr__(settings, name, value)


__all__ = ["Capability", "OnlyWhen", "declare_capability", "complete", "is_local", "only_when", "resolved", "rule_of", "rules"]
