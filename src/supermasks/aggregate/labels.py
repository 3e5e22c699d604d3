"""Readable names of settings, of their combinations and of runs: `lr=1e-3, seed=2`, never `key=nan` or a hash.

A dotted setting is named by its last part (`training.lr` -> `lr`) unless two of the settings named
together share that part (`ewc.lambda` and `si.lambda` keep their sections). A missing value (a setting
that does not apply to a row: NaN, None, empty) is left out of the name. Numbers are written short
(`0.001` -> `1e-3`, `0.5` -> `0.5`, `3.0` -> `3`). A study's part names (`name`, all beginning with the
study's own name) lose the shared beginning: `experiment1-quick-threshold-independent` of a study whose
runs all begin `experiment1-quick-` reads `threshold-independent`, and the settings its part fixes (a part
`topk10-shared` sets `mask_rule=topk` and `score_init=shared` for all its runs) are left out of its name: the
part's name stands for them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from supermasks.aggregate.tidy import IGNORED_SETTINGS, flat_settings, method_bound_settings


def missing(value: Any) -> bool:
    """True for a value that is not there: None, NaN, an empty string."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    try:
        return bool(isinstance(value, float) and math.isnan(value))
    except TypeError:
        return False


def value_text(value: Any) -> str:
    """`value` written short: `1e-3` for 0.001, `0.5`, `3` for 3.0, text as it is."""
    if isinstance(value, np.generic):  # a numpy scalar read back from a table
        return value_text(value.item())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    if value == 0 or 1e-2 <= abs(value) < 1e6:
        return f"{value:.6g}"
    mantissa, exponent = f"{value:.5e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def short_names(settings: Sequence[str]) -> dict[str, str]:
    """Each dotted setting by its last part, or whole where another setting of `settings` shares that part."""
    last = [s.rsplit(".", 1)[-1] for s in settings]
    return {s: (part if last.count(part) == 1 else s) for s, part in zip(settings, last)}


def _common_prefix(names: Sequence[str]) -> str:
    """The beginning, up to and including a `-`, that every one of `names` shares (when they are not all one)."""
    if len(set(names)) < 2:
        return ""
    shared = names[0]
    for name in names[1:]:
        while not name.startswith(shared):
            shared = shared[:-1]
    return shared[: shared.rfind("-") + 1] if "-" in shared else ""


def fixed_by_name(settings: Sequence[str], rows: Sequence[Sequence[Any]]) -> set[str]:
    """The settings of `settings` whose value each row's `name` (a study's part) fixes: one value per name,
    when there are several names. Empty without a `name` among `settings`."""
    if "name" not in settings:
        return set()
    index = list(settings).index("name")
    names = {repr(row[index]) for row in rows}
    if len(names) < 2:
        return set()
    fixed = set()
    for position, setting in enumerate(settings):
        if setting == "name":
            continue
        values: dict[str, set[str]] = {}
        for row in rows:
            values.setdefault(repr(row[index]), set()).add(repr(row[position]))
        if all(len(v) == 1 for v in values.values()):
            fixed.add(setting)
    return fixed


def part_prefix(names: Sequence[Any]) -> str:
    """The beginning every part name of a study shares (`experiment1-quick-`), to be left out of readable names."""
    return _common_prefix([str(name) for name in names if not missing(name)])


def combination_labels(settings: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """One readable name per row of `settings`' values: `lr=1e-3, seed=2`; `name` as the part's name alone, without
    the settings the part fixes."""
    names = short_names(settings)
    prefix = ""
    fixed = fixed_by_name(settings, rows)
    if "name" in settings:
        index = list(settings).index("name")
        prefix = part_prefix([row[index] for row in rows])
    labels = []
    for row in rows:
        parts = []
        for setting, value in zip(settings, row):
            if missing(value) or setting in fixed:
                continue
            if setting == "name":
                parts.append(str(value).removeprefix(prefix) or str(value))
            else:
                parts.append(f"{names[setting]}={value_text(value)}")
        labels.append(", ".join(parts))
    return labels


def run_labels(configs: Sequence[Mapping[str, Any]]) -> list[str]:
    """One name per run config (config.yaml's contents) from the settings that differ among them, seed last:
    `method=supsup, lr=1e-3, seed=2`; empty strings where nothing tells them apart (one run)."""
    flats = []
    for config in configs:
        lists = {key: "+".join(str(v) for v in value) if isinstance(value, list) else value
                 for key, value in config.items()}  # `method: [naive]` reads naive
        flat = {key: value for key, value in flat_settings(lists).items() if key not in IGNORED_SETTINGS}
        flat["seed"] = flat.pop("seed", None)  # last
        flats.append(flat)
    # A setting some runs lack (another method's section, one that does not apply to them) tells nothing apart
    # that the settings every run has do not.
    keys = [k for k in flats[0] if all(k in flat for flat in flats)] if flats else []
    differ = [k for k in keys if len({repr(flat[k]) for flat in flats}) > 1]
    if "method" in differ:  # settings that count only for some methods (`run.overlap`) follow the method
        bound = method_bound_settings()
        differ = [k for k in differ if k not in bound]
    return combination_labels(differ, [[flat.get(k) for k in differ] for flat in flats])
