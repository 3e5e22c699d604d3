"""The empirical baseline of Experiment 1: each variant's overlap relative to the same statistic for unrelated tasks.

A chance level is a model of how two tasks' masks would overlap if nothing linked them; under a
shared initialisation no simple model is safe (`analysis.changes`: flips pile up where the
shared initial score is near the threshold). So a study file may declare, at its top level,

    overlap_baseline:
      data: {benchmark: [permuted], permute_fraction: 1.0}

settings that turn every run of the study into its baseline run: the same part, grid point and
seed (so the same network, mask rule, score init and initial scores), on tasks whose pairs are
unrelated (full permutations of the pixels). The study runs it beside each run (runs with the
same settings are run once, `<study>-baseline` whatever the part) and `overlap_study` reports,
per group, benchmark, layer and measure, the ratio of the pairs' mean Jaccard to the baseline
run's mean Jaccard over its pairs (same method, seed and layer), as a mean with a 95% interval
over seeds: 1 is "as much as unrelated tasks from the same start", whatever the chance model
says. Per seed the numbers are in `overlap_baseline.csv`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from supermasks.config import ConfigError, ExperimentConfig, idle_settings, without_settings
from supermasks.config.seeds import seeded
from supermasks.store.files import write_csv

BASELINE_KEY = "overlap_baseline"  # the study file's top-level key declaring the baseline run's settings
# measure -> (file in the method's directory, column of the pair's Jaccard in percent); the measures of `family.MEASURES`
STATISTICS = {"overlap": ("overlap.csv", "jaccard_pct"), "learned changes": ("changes.csv", "any_jaccard_pct")}
BASELINE_COLUMNS = ("baseline_jaccard_pct", "mean_ratio_to_baseline", "mean_ratio_to_baseline_low",
                    "mean_ratio_to_baseline_high")


def check_baseline(value: Any, path: Path) -> dict[str, Any] | None:
    """The study file's `overlap_baseline` settings (None where it declares none); ConfigError if not a mapping."""
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"{path}: {BASELINE_KEY}: the settings (sections or dotted keys) of the baseline run, e.g. "
                          "{data: {benchmark: [permuted], permute_fraction: 1.0}}")
    return value


def baseline_configs(layers: Sequence[Mapping[str, Any]], given: Mapping[str, Any], baseline: Mapping[str, Any],
                     name: str, seeds: list[int] | None) -> list[ExperimentConfig]:
    """The baseline run of a part's grid point, once per seed: its `layers` (file, part, grid point), the
    command line's `given` settings that apply to it, then `baseline` (last, so the baseline stays unrelated
    tasks whatever the command line sets), named `<name>-baseline`. It must run one benchmark."""
    idle = idle_settings([*layers, baseline], given)
    configs = seeded([*layers, without_settings(given, idle), baseline, {"name": f"{name}-baseline"}], seeds)
    if len(configs[0].data.benchmark) != 1:
        raise ConfigError(f"{BASELINE_KEY}: the baseline run must run one benchmark, got {configs[0].data.benchmark}")
    return configs


def run_baseline(config: ExperimentConfig | None, done: dict[Path, Path], *, force: bool,
                 progress: bool) -> dict[str, str]:
    """Run a study run's baseline (once per directory in `done`); the study row's `baseline_directory` and
    `baseline_benchmark`, or nothing where the run has no baseline."""
    if config is None:
        return {}
    from supermasks.runner import run
    from supermasks.config.records import run_directory

    directory = run_directory(config)
    if directory not in done:
        done[directory] = run(config, force=force, progress=progress).directory
    return {"baseline_directory": str(done[directory]), "baseline_benchmark": config.data.benchmark[0]}


def _mean_jaccard(method_dir: Path, measure: str) -> dict[str, tuple[float, int]] | None:
    """layer -> (mean Jaccard in percent over the ordered pairs, number of pairs) of a measure's table; None without it."""
    file, column = STATISTICS[measure]
    path = method_dir / file
    if not path.is_file():
        return None
    table = pd.read_csv(path)
    grouped = table.groupby("layer", sort=False)[column]
    return {str(layer): (float(mean), int(size)) for (layer, mean), size in zip(grouped.mean().items(), grouped.size())}


def with_baseline(table: pd.DataFrame, frame: pd.DataFrame, group_columns: list[str], directory: Path,
                  seed_of: Callable[[Path], int]) -> pd.DataFrame:
    """`table` (`overlap_study.csv`'s rows) with `BASELINE_COLUMNS`, from the runs of `frame` that name a baseline.

    For a row and each seed: the mean over the run's pairs of their Jaccard (`STATISTICS`) divided
    by the mean over the baseline run's pairs (same method, layer and measure); then the mean over
    seeds with its 95% Student t interval (`stats.mean_interval`), and `baseline_jaccard_pct`, the
    baseline's mean Jaccard averaged over seeds. NaN where a run has no baseline or its mean is 0.
    Writes the per-seed values to `overlap_baseline.csv` in `directory`; `table` unchanged (no
    columns added) where no run names a baseline. `seed_of` reads a run directory's seed.
    """
    from supermasks.analysis.stats import mean_interval

    if "baseline_directory" not in frame.columns or frame["baseline_directory"].isna().all():
        return table
    seed_rows = []
    groups = dict(iter(frame.groupby(group_columns, sort=False, dropna=False)))  # group key -> its runs (one per seed)
    values: dict[int, list[dict]] = {}
    for index, row in table.iterrows():
        key = tuple(row[c] for c in group_columns)
        group = next((g for k, g in groups.items() if _same(k, key)), None)
        values[index] = []
        for run in ([] if group is None else group.to_dict("records")):
            if not isinstance(run.get("baseline_directory"), str):
                continue
            own = _mean_jaccard(Path(run["run_directory"]) / run["benchmark"] / run["method"], row["measure"])
            base = _mean_jaccard(Path(run["baseline_directory"]) / run["baseline_benchmark"] / run["method"],
                                 row["measure"])
            if own is None or base is None or row["layer"] not in own or row["layer"] not in base:
                continue
            (mean, _), (base_mean, base_pairs) = own[row["layer"]], base[row["layer"]]
            ratio = mean / base_mean if base_mean > 0 else np.nan
            entry = {**{c: row[c] for c in group_columns}, "layer": row["layer"], "measure": row["measure"],
                     "seed": seed_of(Path(run["run_directory"])), "mean_jaccard_pct": mean,
                     "baseline_jaccard_pct": base_mean, "baseline_pairs": base_pairs, "ratio_to_baseline": ratio,
                     "baseline_directory": run["baseline_directory"]}
            values[index].append(entry)
            seed_rows.append(entry)
    columns: dict[str, list[float]] = {c: [] for c in BASELINE_COLUMNS}
    for index in table.index:
        ratios = np.array([e["ratio_to_baseline"] for e in values[index]], dtype=float)
        if not len(ratios) or not np.isfinite(ratios).all():
            mean = low = high = np.nan
        else:
            mean, _, low, high = mean_interval(ratios)
        base = [e["baseline_jaccard_pct"] for e in values[index]]
        columns["baseline_jaccard_pct"].append(float(np.mean(base)) if base else np.nan)
        columns["mean_ratio_to_baseline"].append(mean)
        columns["mean_ratio_to_baseline_low"].append(low)
        columns["mean_ratio_to_baseline_high"].append(high)
    write_csv(directory / "overlap_baseline.csv", pd.DataFrame(seed_rows))
    return table.assign(**columns)


def _same(a: tuple, b: tuple) -> bool:
    """Group keys equal, NaN equal to NaN (a grid column a part does not set)."""
    return all((x == y) or (pd.isna(x) and pd.isna(y)) for x, y in zip(a, b))


def baseline_clause(row: Mapping[str, Any]) -> str:
    """", 1.04x baseline [0.98, 1.10]" for a row of `overlap_study.csv` with a baseline; "" without one."""
    ratio = row.get("mean_ratio_to_baseline")
    if ratio is None or not np.isfinite(ratio):
        return ""
    low, high = row.get("mean_ratio_to_baseline_low"), row.get("mean_ratio_to_baseline_high")
    interval = f" [{low:.2f}, {high:.2f}]" if low is not None and np.isfinite(low) else ""
    return f", {ratio:.3f}x baseline{interval}"


__all__ = ["BASELINE_COLUMNS", "BASELINE_KEY", "baseline_clause", "baseline_configs", "check_baseline", "run_baseline",
           "with_baseline"]
