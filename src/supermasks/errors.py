"""Errors a user can cause, as one line each: bad settings and unusable data (no torch import, so the CLI can catch them)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration problem, reported before any work starts."""


class DataError(Exception):
    """A data file or source cannot be used as it is (the specific kinds are in `supermasks.data.errors`)."""


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


__all__ = ["ConfigError", "DataError", "require_number"]
