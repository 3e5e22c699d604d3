"""Names a config gives that become directory names and table rows: a run's `name`, a study part's keys."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from supermasks.config import typed
from supermasks.errors import ConfigError

# A run's name becomes its directory's name under run.out_dir, so it must be one safe path component.
NAME_RULE = ("1-100 characters from letters, digits, '.', '_' and '-', not starting with '.' or '-', "
             "without '..'")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")


def check_name(name: str, what: str = "name") -> None:
    """Raise ConfigError (naming `what` and the rule) unless `name` can name a run directory: no path
    separator, no `..`, no hidden or option-like name, short enough for any file system."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        # A name too long is shown whole up to twice the limit, so that the user sees how much to cut.
        raise ConfigError(f"{what}: {typed.shown(name, 2 * 100 + 2)} cannot name a run directory; use {NAME_RULE}")


# Words a table (pandas' CSV reader) reads back as no value, a boolean or a number, never as the name itself.
_READ_BACK_AS_OTHER = frozenset({"na", "nan", "null", "none", "true", "false"})


def check_names(names: Iterable[Any], what: str) -> None:
    """Raise ConfigError unless every key of a YAML mapping in `names` can name a study part's runs and rows: text
    (YAML reads null, ~, yes/no, on/off, true/false and bare numbers as other values), a safe directory name
    (`check_name`), a word the study's tables read back as itself (not `None`, `NaN`, `true` or a number), and
    different from the others in more than case (a case-insensitive disk makes `A` and `a` one directory)."""
    seen: dict[str, str] = {}
    for name in names:
        if not isinstance(name, str):
            spelled = "null" if name is None else str(name).lower() if isinstance(name, bool) else typed.shown(name)
            kind = "no value" if name is None else type(name).__name__
            raise ConfigError(f"{what} {spelled}: YAML reads this key as {kind}, not as a name; name it with a word "
                              f"(a quoted 'off' or 'yes' stays a word)")
        check_name(name, what)
        if name.lower() in _READ_BACK_AS_OTHER or _is_number(name):
            raise ConfigError(f"{what} {name!r}: the study's tables would read it back as "
                              f"{'a number' if _is_number(name) else 'no value or a boolean'}; choose another name")
        if name.lower() in seen:
            raise ConfigError(f"{what}s {seen[name.lower()]!r} and {name!r} differ only in case, which a "
                              f"case-insensitive disk makes one directory; rename one")
        seen[name.lower()] = name


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True

