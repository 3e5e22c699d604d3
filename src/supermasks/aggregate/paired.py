"""Paired comparisons over seeds: two methods (or two values of another column) on the same seeds.

The same seed draws the same network, task sequence and batch order for every method, so the
per-seed differences `d_s = x_s(a) - x_s(b)` remove the seed-to-seed variation. For each metric
and each pair of methods in a group (all other settings, benchmark and task equal): the number
of seeds both have (`n_pairs`), the mean difference `a - b` with its Student t interval, and the
two-sided paired t-test's p-value (`analysis.efficiency.paired_p_value`: NaN with fewer than two
pairs or constant differences). `p_holm` is Holm's step-down adjustment (Holm 1979,
`analysis.stats.holm`) over the comparisons of one metric in one group: the family of tests a
reader of that metric's table looks at. NaN p-values are left out of the family.
"""

from __future__ import annotations

import itertools
import math
import numpy as np
import pandas as pd

from supermasks.aggregate.collect import method_settings

COMPARISON_COLUMNS = ("a", "b", "n_pairs", "mean_difference", "diff_ci_low", "diff_ci_high", "p_value", "p_holm")


def _levels(levels: list[tuple], own: list[str]) -> list[str]:
    """Each level's name: `method` alone, or `method (lambda=10, ...)` with those of the method's own settings
    that tell its levels apart (readable, as `aggregate.labels` writes them)."""
    from supermasks.aggregate.labels import short_names, value_text

    names = short_names(own)
    texts = []
    for name, *settings in levels:
        same = [values for values in levels if values[0] == name]
        shown = [f"{names[key]}={value_text(value)}" for i, (key, value) in enumerate(zip(own, settings))
                 if not pd.isna(value) and len({repr(values[1 + i]) for values in same}) > 1]
        texts.append(f"{name} ({', '.join(shown)})" if shown else str(name))
    if len(set(texts)) < len(texts):  # never two levels under one name: every own setting then
        full = [(name, ", ".join(f"{k}={v}" for k, v in zip(own, settings) if not pd.isna(v)))
                for name, *settings in levels]
        texts = [f"{name} ({inner})" if inner else str(name) for name, inner in full]
    return texts


def _grouped(table: pd.DataFrame, keys: list[str], level_columns: list[str]) -> dict[tuple, dict[tuple, dict]]:
    """{group's key values: {level's values: {seed: value}}}, groups and levels in order of first appearance (as
    `groupby(sort=False, dropna=False)` orders them; missing values are one key), seeds ascending, each seed's first
    value that is not missing; seeds whose values are all missing are left out. One pass over the rows: a pandas
    groupby per group and level cost seconds on a study of a few dozen runs."""
    def canonical(values: tuple) -> tuple:
        return tuple(None if pd.isna(v) else v for v in values)

    groups: dict[tuple, tuple] = {}  # canonical key -> the first values seen (what the output shows)
    found: dict[tuple, dict[tuple, tuple[tuple, dict]]] = {}
    n_keys, n_levels = len(keys), len(level_columns)
    for row in table[[*keys, *level_columns, "seed", "value"]].itertuples(index=False, name=None):
        key, level, seed, value = row[:n_keys], row[n_keys:n_keys + n_levels], row[-2], row[-1]
        if pd.isna(seed):
            continue
        group_key = canonical(key)
        groups.setdefault(group_key, key)
        _, values = found.setdefault(group_key, {}).setdefault(canonical(level), (level, {}))
        if not pd.isna(value) and seed not in values:
            values[seed] = value
    return {groups[k]: {shown: dict(sorted(values.items())) for shown, values in by_level.values()}
            for k, by_level in found.items()}


def paired_comparisons(table: pd.DataFrame, *, by: str = "method", baseline: str | None = None,
                       run_level_only: bool = True, confidence: float = 0.95) -> pd.DataFrame:
    """Every pair of `by` values compared within each group of the tidy `table` (columns: the group's keys,
    then `COMPARISON_COLUMNS`; `a` and `b` are the two values of `by`, `mean_difference` is `a - b`).

    `baseline`: compare every other value with this one only (`a` the other, `b` the baseline).
    `run_level_only`: only the metrics of a whole run (ACC, BWT, ...), not those of single tasks.
    """
    from supermasks.analysis.efficiency import mean_interval, paired_p_value  # scipy: only when comparing
    from supermasks.analysis.stats import holm

    if by not in table.columns:
        choices = [c for c in table.columns if c not in ("run_directory", "seed", "task", "metric", "value")]
        raise ValueError(f"cannot compare by {by!r}: not a column of the table; choose one of {', '.join(choices)}")
    if run_level_only:
        table = table[table["task"].isna()]
    keys = [c for c in table.columns if c not in ("run_directory", "seed", "value", by)]
    # Comparing methods: a method's own settings (`ewc.lambda`) are part of what is compared, not of the
    # group (the other method has none), so `ewc (ewc.lambda=100)` and `ewc (ewc.lambda=1000)` are two levels.
    own = method_settings(keys, table["method"]) if by == "method" else []
    keys = [c for c in keys if c not in own]
    rows = []
    for group_keys, by_level in _grouped(table, keys, [by, *own]).items():
        names = _levels(list(by_level), own)
        per_seed = dict(zip(names, by_level.values()))
        levels = list(per_seed)
        if baseline is not None:
            if baseline not in per_seed:
                continue
            pairs = [(level, baseline) for level in levels if level != baseline]
        else:
            pairs = list(itertools.combinations(levels, 2))
        family = []
        for a, b in pairs:
            seeds = [seed for seed in per_seed[a] if seed in per_seed[b]]  # the seeds both have, in order
            x = np.array([per_seed[a][seed] for seed in seeds], dtype=np.float64)
            y = np.array([per_seed[b][seed] for seed in seeds], dtype=np.float64)
            mean, _, low, high = mean_interval(x - y, confidence)
            family.append({**dict(zip(keys, group_keys)), "a": a, "b": b, "n_pairs": len(x),
                           "mean_difference": mean, "diff_ci_low": low, "diff_ci_high": high,
                           "p_value": paired_p_value(x, y) if len(x) else math.nan, "p_holm": math.nan})
        p = np.array([row["p_value"] for row in family], dtype=np.float64)
        finite = np.isfinite(p)
        if finite.any():
            for row, adjusted in zip([r for r, f in zip(family, finite) if f], holm(p[finite])):
                row["p_holm"] = float(adjusted)
        rows.extend(family)
    out = pd.DataFrame(rows, columns=[*keys, *COMPARISON_COLUMNS])
    for column in keys:
        out[column] = out[column].astype(table[column].dtype)
    return out
