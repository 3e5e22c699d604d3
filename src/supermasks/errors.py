"""Errors a user can cause, as one line each: bad settings and unusable data (no torch import, so the CLI can catch them),
and `shown`, how such a line quotes a value."""

from __future__ import annotations

from collections.abc import Iterable

import reprlib
from typing import Any


class ConfigError(ValueError):
    """A configuration problem, reported before any work starts."""


class DataError(Exception):
    """A data file or source cannot be used as it is (the specific kinds are in `supermasks.data.errors`)."""


class WorkerError(Exception):
    """A worker process of the run (`run.parallel_tasks`) died: the message names the task it was training."""


SHOWN_CHARS = 80  # the most of a user's value that an error message quotes

# Bounded work, not only bounded text: a list of a million items (or YAML aliases repeating one) is
# never turned into text whole just to be cut to SHOWN_CHARS.
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict, _REPR.maxset = 3, 6, 6, 4, 6
_REPR.maxstring = _REPR.maxlong = _REPR.maxother = SHOWN_CHARS


def shown(value: Any, chars: int = SHOWN_CHARS) -> str:
    """`repr(value)` for an error message, at most `chars` characters (then `...`) however large the
    value; ints past Python's digit limit cannot be shown in full."""
    if isinstance(value, str) and len(value) <= chars:  # whole, quotes and escapes included
        text = repr(value)
        if len(text) <= chars + 2:
            return text
    try:
        text = _REPR.repr(value)
    except ValueError:
        return f"an int of about {value.bit_length() * 0.30103:.0f} digits"
    return text if len(text) <= chars else text[:chars - 3] + "..."


def require_choice(what: str, value: object, choices: Iterable[str]) -> None:
    """Raise ValueError `unknown <what> <value>; choose one of ...` unless `value` is one of `choices`."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")


def require_number(name: str, value: float, *, minimum: float = 0.0, inclusive: bool = False,
                   maximum: float | None = None) -> None:
    """Raise ValueError (naming `name`) unless `value` is a finite number above `minimum` (or at it, if
    `inclusive`) and at most `maximum`; the settings dataclasses share this one range check."""
    above = value >= minimum if inclusive else value > minimum  # NaN fails both
    if not (above and value != float("inf") and (maximum is None or value <= maximum)):
        if maximum is not None:
            bound = f"in {'[' if inclusive else '('}{minimum:g}, {maximum:g}]"
        elif minimum == 0 and not inclusive:
            bound = "a positive finite number"
        else:  # unbounded above: say finite, or `inf` would look like it passes
            bound = f"a finite number {'>=' if inclusive else '>'} {minimum:g}"
        raise ValueError(f"{name} must be {bound}, got {value}")


__all__ = ["SHOWN_CHARS", "ConfigError", "DataError", "WorkerError", "require_choice", "require_number", "shown"]
