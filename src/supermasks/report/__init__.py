"""Presenting results to people: the plain-text comparison table (`text`) and the HTML report (`html`).

`supermasks report DIR... -o report.html` (and every `supermasks run` unless `run.report: false`)
writes one self-contained page: a plain-words summary computed from the numbers, then sections
(metrics with their definitions, accuracy matrices, curves, memory and time, mask overlap, task
inference, results over seeds with paired tests, Experiments 1 and 3, provenance), each figure drawn by
the plot functions the runs save and embedded as PNG data. An Experiment 2 (transfer study)
directory gets a page of its own (`transfer`).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = ("REPORT_FILE", "build_report", "render", "write_report")


def __getattr__(name: str) -> Any:
    # Imported on first use: `supermasks.report.text` (the CLI's tables) stays free of jinja2 and the runner.
    if name not in _EXPORTS:
        raise AttributeError(f"module 'supermasks.report' has no attribute {name!r}")
    return getattr(importlib.import_module("supermasks.report.html"), name)


__all__ = ["REPORT_FILE", "build_report", "render", "write_report"]
