"""The tidy table of many runs: every finished run read, the unreadable ones skipped with a warning.

Columns: `run_directory`, `seed`, then the settings that differ between the runs (the
distinguishing settings: a setting every run shares says nothing about a row), then `benchmark`,
`method`, `task` (missing for run-level metrics), `metric` and `value`. Two runs with the same
settings and the same seed (a run directory copied elsewhere) would count one seed twice: the
first is kept, the other skipped with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from supermasks.aggregate.discover import Listing, Skipped, find_runs
from supermasks.aggregate.tidy import KEY_COLUMNS, ROW_COLUMNS, method_bound_settings, read_run
from supermasks.errors import ConfigError

log = logging.getLogger(__name__)


def settings_columns(table: pd.DataFrame) -> list[str]:
    """The distinguishing settings of a tidy table: its columns besides the keys and the row columns."""
    return [c for c in table.columns if c not in KEY_COLUMNS and c not in ROW_COLUMNS]


def tidy_table(directories: Iterable[Path]) -> tuple[pd.DataFrame, list[Skipped]]:
    """The tidy table of the finished runs in `directories`, and the runs that could not be read (warned)."""
    frames = []
    skipped = []
    for directory in directories:
        try:
            seed, rows = read_run(Path(directory))
        except (ConfigError, OSError, ValueError) as error:
            skipped.append(Skipped(Path(directory), f"cannot be read: {error}"))
            log.warning("warning: skipping %s: cannot be read: %s", directory, error)
            continue
        frames.append(pd.DataFrame(rows).assign(run_directory=str(directory), seed=seed))
    if not frames:
        return pd.DataFrame(columns=[*KEY_COLUMNS, *ROW_COLUMNS]), skipped
    table = pd.concat(frames, ignore_index=True)
    settings = [c for c in table.columns if c not in KEY_COLUMNS and c not in ROW_COLUMNS]
    varying = [c for c in settings if _varies(table, c)]
    table = table[[*KEY_COLUMNS, *varying, *ROW_COLUMNS]].copy()
    for column in varying:
        table[column] = _one_type(table[column])
    table["task"] = table["task"].astype("Int64")
    table["seed"] = table["seed"].astype("int64")
    table["value"] = table["value"].astype("float64")
    table, duplicated = _without_repeated_seeds(table, varying)
    return table, skipped + duplicated


def method_settings(columns: Iterable[str], methods: Iterable[str]) -> list[str]:
    """The columns that are a method's own settings (`ewc.lambda`: its section is named by a method)."""
    names = set(methods)
    return [c for c in columns if c.split(".")[0] in names]


def _varies(table: pd.DataFrame, column: str) -> bool:
    """True when `column` takes more than one value: among all rows for a shared setting, among the rows of
    its method for a method's own setting (the other methods' rows do not have it), and among the rows that have it
    for a shared setting that counts only for some methods."""
    if method_settings([column], table["method"]):
        rows = table.loc[table["method"] == column.split(".")[0], column]
    elif column in method_bound_settings():  # `run.overlap`: the rows of the methods it counts for
        rows = table.loc[table[column].notna(), column]
    else:
        rows = table[column]
    return len({"missing" if _missing(v) else repr(v) for v in rows}) > 1  # null and absent alike


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _one_type(column: pd.Series) -> pd.Series:
    """A settings column whose values are all numbers (or missing) stays numeric; any other becomes text,
    so that CSV and Parquet keep it as it is (Parquet refuses a column of numbers and words)."""
    present = column.dropna()
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return pd.to_numeric(column)
    return pd.Series([None if _missing(v) else str(v) for v in column], index=column.index)


def _without_repeated_seeds(table: pd.DataFrame, settings: list[str]) -> tuple[pd.DataFrame, list[Skipped]]:
    """Keep one run per (settings, benchmark, method, seed); a later one with the same key is skipped."""
    key = [*settings, "benchmark", "method", "seed"]
    labels = pd.Series([repr(values) for values in table[key].itertuples(index=False, name=None)], index=table.index)
    first: dict[str, str] = {}
    skipped = []
    keep = []
    for label, directory in zip(labels, table["run_directory"]):
        owner = first.setdefault(label, directory)
        keep.append(owner == directory)
    for label, directory in dict.fromkeys((l, d) for l, d, k in zip(labels, table["run_directory"], keep) if not k):
        rows = table[(labels == label) & (table["run_directory"] == directory)].iloc[0]
        reason = f"{rows['benchmark']}/{rows['method']}: same settings and seed {rows['seed']} as {first[label]}"
        skipped.append(Skipped(Path(directory), reason))
        log.warning("warning: skipping %s: %s", directory, reason)
    return table[keep].reset_index(drop=True), skipped


def collect(paths: Iterable[Path]) -> tuple[pd.DataFrame, list[Skipped]]:
    """The tidy table of the finished runs among `paths` (runs, or directories of runs), and every run left
    out with its reason; each left-out run is also logged as a warning."""
    listing: Listing = find_runs(paths)
    for item in listing.skipped:
        log.warning("warning: skipping %s: %s", item.directory, item.reason)
    table, unreadable = tidy_table(listing.finished)
    return table, listing.skipped + unreadable
