"""Runs in, the aggregate out: tidy table, summary over seeds, paired comparisons, figures, skipped runs."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from supermasks.aggregate.collect import collect, settings_columns
from supermasks.aggregate.discover import Skipped
from supermasks.aggregate.files import PARQUET_MISSING, parquet_available, write_table
from supermasks.store.temporaries import remove_stale

log = logging.getLogger(__name__)


@dataclass
class Aggregate:
    """The tables of a set of runs; `settings` are the distinguishing settings (columns of every table)."""

    table: pd.DataFrame
    summary: pd.DataFrame
    comparisons: pd.DataFrame
    settings: list[str]
    skipped: list[Skipped] = field(default_factory=list)


def aggregate_runs(paths: Iterable[Path], *, by: str = "method", baseline: str | None = None,
                   confidence: float = 0.95) -> Aggregate:
    """Read the finished runs among `paths` and summarise them over seeds (see `supermasks.aggregate`)."""
    from supermasks.aggregate.paired import paired_comparisons
    from supermasks.aggregate.summary import summarize

    table, skipped = collect(paths)
    settings = settings_columns(table)
    summary = summarize(table, confidence=confidence)
    comparisons = paired_comparisons(table, by=by, baseline=baseline, confidence=confidence)
    return Aggregate(table, summary, comparisons, settings, skipped)


def write_aggregate(result: Aggregate, directory: Path, *, figures: bool = True,
                    figure_formats: Sequence[str] = ("png",)) -> list[Path]:
    """Write `runs`, `summary` and `comparisons` (CSV, and Parquet where pyarrow is installed), `skipped.csv`,
    the interval figures and, for two methods or settings or more, `accuracy_vs_bytes` into `directory`;
    returns the paths written."""
    directory = Path(directory)
    remove_stale(directory, recursive=True)  # an earlier aggregate here that was killed mid-write left these
    if not parquet_available():
        log.warning("warning: %s", PARQUET_MISSING)
    written = []
    for stem, frame in (("runs", result.table), ("summary", result.summary), ("comparisons", result.comparisons)):
        written += write_table(frame, directory, stem)
    skipped = pd.DataFrame([{"run_directory": str(s.directory), "reason": s.reason} for s in result.skipped],
                           columns=["run_directory", "reason"])
    written += write_table(skipped, directory, "skipped", parquet=False)
    if figures and len(result.table):
        from supermasks.aggregate.figures import write_figures

        written += write_figures(result.summary, result.settings, directory / "figures", formats=figure_formats)
        written += _write_storage_figure(result, directory / "figures", figure_formats)
    return written


def _write_storage_figure(result: Aggregate, directory: Path, formats: Sequence[str]) -> list[Path]:
    """`accuracy_vs_bytes` of every method or setting, when there are at least two to set against each other."""
    from supermasks.analysis.plots import save_figure
    from supermasks.analysis.storage import accuracy_vs_bytes, storage_rows

    rows = storage_rows(result.summary, result.settings)
    rows = rows[(rows["memory_total_bytes"] > 0) & rows["ACC"].notna()]
    if len(rows) < 2:
        return []
    return save_figure(accuracy_vs_bytes(rows), directory, "accuracy_vs_bytes", formats)
