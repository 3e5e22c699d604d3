"""Numbers as table cells: the text people read (percent, points, bytes) and the value the table sorts by."""

from __future__ import annotations

import math

from supermasks.report.model import Cell
from supermasks.report.text import _cell
from supermasks.units import human_bytes


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def metric_cell(column: str, value: float | None) -> Cell:
    """A run-level metric as `format_comparison` shows it (ACC in %, BWT in signed points, bytes in KiB...)."""
    if _missing(value):
        return Cell("n/a", None)
    return Cell(_cell(column, float(value)), float(value))


def number_cell(value: float | None, fmt: str = "{:.3g}") -> Cell:
    if _missing(value):
        return Cell("n/a", None)
    return Cell(fmt.format(float(value)), float(value))


def bytes_cell(value: float | None) -> Cell:
    return Cell(human_bytes(value), None if _missing(value) else float(value))


def text_cell(value: object) -> Cell:
    text = "" if _missing(value) else str(value)
    return Cell(text, text)
