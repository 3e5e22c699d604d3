"""The summary over seeds: per group of everything but the seed, the mean with its Student t interval.

For the finite values `x_1..x_n` of one group (one per seed): `mean`, the sample standard
deviation `std` (n - 1 in the denominator), and the interval `mean +- t_{0.975, n-1} std / sqrt(n)`
(`ci_low`, `ci_high`; Student 1908), computed by `analysis.efficiency.mean_interval`. `n_seeds`
counts the finite values: a metric that is undefined in a run (FWT with the task given) leaves
it, so a group may have fewer seeds than runs. With one seed, `std` and the interval are missing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

SUMMARY_COLUMNS = ("n_seeds", "mean", "std", "ci_low", "ci_high")


def group_columns(table: pd.DataFrame) -> list[str]:
    """What a tidy table's rows are grouped by: every column but `run_directory`, `seed` and `value`."""
    return [c for c in table.columns if c not in ("run_directory", "seed", "value")]


def summarize(table: pd.DataFrame, by: Sequence[str] | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """One row per group of `table` (`by`, default `group_columns`): `SUMMARY_COLUMNS` of its `value`s.

    Groups keep the order of their first row; missing keys (a run-level metric's task) form groups too.
    """
    from supermasks.analysis.efficiency import mean_interval  # scipy: only when summarising

    by = list(group_columns(table) if by is None else by)
    rows = []
    for keys, group in table.groupby(by, sort=False, dropna=False):
        values = group["value"].to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        mean, sd, low, high = mean_interval(values, confidence)
        rows.append({**dict(zip(by, keys)), "n_seeds": int(values.size), "mean": mean, "std": sd,
                     "ci_low": low, "ci_high": high})
    summary = pd.DataFrame(rows, columns=[*by, *SUMMARY_COLUMNS])
    for column in by:  # the key columns keep the table's types (task stays an integer)
        summary[column] = summary[column].astype(table[column].dtype)
    return summary
