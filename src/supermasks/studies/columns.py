"""What each column of a study table (`study.csv`) means: its definition, written beside the table."""

from __future__ import annotations

import pandas as pd

from supermasks.analysis.metrics import DEFINITIONS
from supermasks.runner.tables import MEMORY_DEFINITIONS

# Beyond the run's own metrics (metrics.DEFINITIONS, the memory figures): what the study adds.
STUDY_DEFINITIONS = {
    "first_task_accuracy": "R[T-1, 0]: accuracy on the first task after the last task was trained",
    "grid.<key>": "the value of <key> at this grid point of the part",
    "baseline_directory": "the run directory of this run's empirical overlap baseline: the same settings and seed "
                          "on unrelated tasks (the study file's overlap_baseline)",
    "baseline_benchmark": "the benchmark the baseline run ran",
}

# Short labels for figures: the metric and its definition.
AXIS_LABELS = {
    "ACC": "ACC = mean_j R[T-1, j] (%)",
    "first_task_accuracy": "first task after the last, R[T-1, 0] (%)",
}


def column_definitions(columns: list[str] | None = None) -> dict[str, str]:
    """Definitions of the metric columns of a study table (all known ones, or those among `columns`)."""
    known = {**DEFINITIONS, **MEMORY_DEFINITIONS, **STUDY_DEFINITIONS}
    if columns is None:
        return known
    grid = any(c.startswith("grid.") for c in columns)
    return {name: text for name, text in known.items() if name in columns or (name == "grid.<key>" and grid)}


def definitions_table(columns: list[str]) -> pd.DataFrame:
    """`column, definition` for the defined columns among `columns` (written as `definitions.csv`)."""
    return pd.DataFrame(list(column_definitions(columns).items()), columns=["column", "definition"])


__all__ = ["AXIS_LABELS", "STUDY_DEFINITIONS", "column_definitions", "definitions_table"]
