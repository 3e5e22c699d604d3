"""Numbers as people read them: byte counts in binary units."""

from __future__ import annotations

import math


def human_bytes(n: float) -> str:
    """`1536` -> `1.5 KiB`; NaN -> `n/a`."""
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "n/a"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
