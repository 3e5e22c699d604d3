"""Experiment 1 over a study's runs: does mask overlap follow task relatedness, over seeds?

ALGORITHMS.md section 2. Every run of a masked method writes, per benchmark, its overlap table
(`overlap.csv`: Jaccard and its ratio to chance per pair of tasks and layer), the learned-change
table where the initial masks were recorded (`changes.csv`) and the relatedness of its tasks
(`relatedness.csv`). This module groups a study's runs by everything but the seed and, per
benchmark, layer and measure ("overlap" of the masks, "learned changes" relative to the initial
masks), tests whether the measure follows relatedness:

- the Mantel correlation between the pairs' ratio to chance and their relatedness, r per seed,
  with its mean and 95% interval over seeds (Student t on Fisher's z), and one p-value from a permutation test
  stratified by seed (each seed's task labels permuted independently; `analysis.mantel`);
- the mean ratio to chance over pairs, per seed, with its mean and 95% interval;
- where the study file declares an `overlap_baseline`, the ratio of the pairs' Jaccard to that of
  unrelated tasks from the same init, with its 95% interval (`studies._baseline`).

The p-values are also Holm-adjusted over all the study's tests (`mantel_p_holm`), and a sentence
calls a trend only where the adjusted p is below 0.05.

`overlap_study` writes `overlap_study.csv` (one row per group, benchmark, layer and measure),
`overlap_study_seeds.csv` (each seed's own Mantel r and p, and mean ratio) and a figure of ratio to chance against relatedness per row, with each seed's pairs as points, and
returns the table; `finding` turns a row into the plain sentence the study prints.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from supermasks.analysis.overlap import pair_matrix
from supermasks.store.files import write_csv
from supermasks.studies._baseline import BASELINE_COLUMNS, baseline_clause, with_baseline

log = logging.getLogger(__name__)

ALPHA = 0.05  # the level at which a sentence calls a trend detected
# measure -> (file in the method's directory, column holding the pair's ratio to chance)
MEASURES = {"overlap": ("overlap.csv", "relative_to_chance"),
            "learned changes": ("changes.csv", "any_relative_to_chance")}
STUDY_COLUMNS = ("benchmark", "method", "layer", "measure", "relatedness", "related_when", "seeds", "num_tasks",
                 "mantel_r", "mantel_r_low", "mantel_r_high", "mantel_p", "mantel_p_holm", "permutations", "mean_ratio",
                 "mean_ratio_low", "mean_ratio_high")


@dataclass(frozen=True)
class SeedMatrices:
    """One seed's run of one benchmark: a measure's ratio-to-chance matrix per layer, and the relatedness."""

    seed: int
    ratios: dict[str, np.ndarray]  # layer -> (T, T) ratio to chance, NaN diagonal
    relatedness: np.ndarray  # (T, T)


def _matrix(table: pd.DataFrame, column: str, num_tasks: int) -> np.ndarray:
    """A (T, T) matrix of `column` from a table with task_i, task_j (task ids 0..T-1); NaN where no row."""
    matrix = np.full((num_tasks, num_tasks), np.nan)
    matrix[table["task_i"].to_numpy(int), table["task_j"].to_numpy(int)] = table[column].to_numpy(float)
    return matrix


def read_relatedness(directory: Path) -> tuple[str, str, np.ndarray] | None:
    """(name, related_when, (T, T) matrix) from `relatedness.csv` in a method's directory; None without one."""
    path = directory / "relatedness.csv"
    if not path.is_file():
        return None
    table = pd.read_csv(path)
    size = int(max(table["task_i"].max(), table["task_j"].max())) + 1
    return str(table["name"].iloc[0]), str(table["related_when"].iloc[0]), _matrix(table, "value", size)


def _seed_of(run_directory: Path) -> int:
    """The seed a run used, from its config.yaml."""
    from supermasks.yaml_files import read_yaml

    return int(read_yaml(run_directory / "config.yaml")["seed"])


# Relabellings per test: the smallest permutation p-value is 1 / (1 + permutations), and Holm multiplies
# it by up to the study's number of tests (144 in experiment1.yaml), so 999 could never reach 0.05.
PERMUTATIONS = 9999


def overlap_study(frame: pd.DataFrame, directory: Path, *, permutations: int = PERMUTATIONS, figures: bool = True,
                  figure_formats: tuple[str, ...] = ("png",)) -> pd.DataFrame | None:
    """Experiment 1 over the runs of a study table (`studies.grid`): `overlap_study.csv`, figures; the table.

    `frame` has a row per run, benchmark and method with `part`, the grid values (`grid.*`),
    `benchmark`, `method` and `run_directory`. Runs that differ only in their seed form one group.
    Returns None when no run wrote an overlap table with a relatedness (nothing to test).
    """
    from supermasks.analysis.mantel import correlation_interval, mantel, mantel_over_seeds
    from supermasks.analysis.stats import holm, mean_interval

    group_columns = ["part", *[c for c in frame.columns if c.startswith("grid.") and c != "grid.seed"],
                     "benchmark", "method"]
    rows: list[dict] = []
    seed_rows: list[dict] = []
    points: dict[int, pd.DataFrame] = {}
    for key, group in frame.groupby(group_columns, sort=False, dropna=False):
        seeds = _collect(group)
        if not seeds:
            continue
        name, related_when = seeds[0][0], seeds[0][1]
        for measure, by_seed in _by_measure(seeds).items():
            for layer in by_seed[0].ratios:
                pairs = [(s.ratios[layer], s.relatedness) for s in by_seed]
                num_tasks = len(pairs[0][1])
                if num_tasks < 3:
                    continue
                labels = dict(zip(group_columns, key))
                per_seed = [mantel(x, y, permutations=permutations, seed=s.seed) for (x, y), s in zip(pairs, by_seed)]
                means = [float(np.nanmean(x[~np.eye(len(x), dtype=bool)])) for x, _ in pairs]
                for s, result, mean in zip(by_seed, per_seed, means):
                    seed_rows.append({**labels, "layer": layer, "measure": measure, "seed": s.seed,
                                      "mantel_r": result.r, "mantel_p": result.p, "mean_ratio": mean})
                combined = mantel_over_seeds(pairs, permutations=permutations, seed=0)
                r_mean, r_low, r_high = correlation_interval([result.r for result in per_seed])
                m_mean, _, m_low, m_high = mean_interval(np.asarray(means))
                rows.append({**labels, "layer": layer, "measure": measure, "relatedness": name,
                             "related_when": related_when, "seeds": len(pairs), "num_tasks": num_tasks,
                             "mantel_r": r_mean, "mantel_r_low": r_low, "mantel_r_high": r_high,
                             "mantel_p": combined.p, "permutations": combined.permutations, "mean_ratio": m_mean,
                             "mean_ratio_low": m_low, "mean_ratio_high": m_high})
                points[len(rows) - 1] = _points(by_seed, layer)
    if not rows:
        return None
    table = pd.DataFrame(rows)
    table["mantel_p_holm"] = holm(table["mantel_p"].to_numpy(float))
    table = table[[*[c for c in group_columns if c not in STUDY_COLUMNS], *STUDY_COLUMNS]]
    table = with_baseline(table, frame, group_columns, directory, _seed_of)  # ratio to unrelated tasks, if declared
    write_csv(directory / "overlap_study.csv", table)
    write_csv(directory / "overlap_study_seeds.csv", pd.DataFrame(seed_rows))
    if figures:
        _figures(table, points, directory / "figures", figure_formats)
    return table


def _collect(group: pd.DataFrame) -> list[tuple[str, str, dict[str, SeedMatrices]]]:
    """Per run of the group (one per seed): relatedness name, direction, and each measure's matrices."""
    seeds = []
    for row in group.to_dict("records"):
        method_dir = Path(row["run_directory"]) / row["benchmark"] / row["method"]
        related = read_relatedness(method_dir)
        if related is None or not (method_dir / "overlap.csv").is_file():
            continue
        name, related_when, relatedness = related
        seed = _seed_of(Path(row["run_directory"]))
        measures = {}
        for measure, (file, column) in MEASURES.items():
            path = method_dir / file
            if not path.is_file():
                continue
            table = pd.read_csv(path)
            measures[measure] = SeedMatrices(seed, {layer: pair_matrix(table, layer, column)[0]
                                                    for layer in pd.unique(table["layer"])}, relatedness)
        seeds.append((name, related_when, measures))
    return seeds


def _by_measure(seeds: list[tuple[str, str, dict[str, SeedMatrices]]]) -> dict[str, list[SeedMatrices]]:
    """measure -> its matrices in every seed (a measure some seed lacks is left out)."""
    common = set.intersection(*(set(m) for _, _, m in seeds))
    return {measure: [m[measure] for _, _, m in seeds] for measure in MEASURES if measure in common}


def _points(by_seed: list[SeedMatrices], layer: str) -> pd.DataFrame:
    """One row per seed and unordered pair of tasks: seed, relatedness, relative_to_chance (symmetrised)."""
    frames = []
    for s in by_seed:
        ratio = s.ratios[layer]
        ii, jj = np.triu_indices(len(ratio), k=1)
        frames.append(pd.DataFrame({"seed": s.seed, "relatedness": s.relatedness[ii, jj],
                                    "relative_to_chance": (ratio[ii, jj] + ratio[jj, ii]) / 2}))
    return pd.concat(frames, ignore_index=True)


def _figures(table: pd.DataFrame, points: dict[int, pd.DataFrame], fig_dir: Path,
             figure_formats: tuple[str, ...]) -> None:
    from supermasks.analysis.plots import overlap_vs_relatedness, save_figure

    for index, row in table.iterrows():
        grid = "_".join(f"{c.removeprefix('grid.')}-{row[c]}" for c in table.columns
                        if c.startswith("grid.") and pd.notna(row[c]))
        stem = "_".join(p for p in (str(row["part"]), grid, row["benchmark"], row["layer"],
                                    row["measure"].replace(" ", "-")) if p)
        title = f"{row['benchmark']} {row['layer']} ({row['part']}{', ' + grid if grid else ''}): {row['measure']}"
        save_figure(overlap_vs_relatedness(points[index], row["relatedness"], title), fig_dir,
                    f"relatedness_{stem}", figure_formats)


def _statistics(row: dict) -> str:
    """"Mantel r = -0.80 [-0.91, -0.69], p = 0.001, 3 seeds; 1.020x chance" for one row."""
    seeds = f"{row['seeds']} seed{'s' if row['seeds'] != 1 else ''}; {row['mean_ratio']:.3f}x chance"
    if not np.isfinite(row["mantel_r"]):
        return f"Mantel r undefined, {seeds}"
    interval = (f" [{row['mantel_r_low']:+.2f}, {row['mantel_r_high']:+.2f}]"
                if np.isfinite(row["mantel_r_low"]) else "")
    return f"Mantel r = {row['mantel_r']:+.2f}{interval}, p = {row['mantel_p']:.3g} (Holm {row['mantel_p_holm']:.3g}), {seeds}"


def _trend(row: dict) -> str:
    """"overlap falls with angle difference (degrees): related tasks share more", or "no detectable trend"."""
    if not np.isfinite(row["mantel_r"]):  # `mantel`: a relatedness (or overlap) constant over the pairs
        return f"{row['measure']}: not tested, {row['relatedness']} is the same for every pair of tasks"
    if not row["mantel_p_holm"] < ALPHA:
        return f"{row['measure']}: no detectable trend with {row['relatedness']}"
    direction = "rises" if row["mantel_r"] > 0 else "falls"
    related_share_more = (row["mantel_r"] > 0) == (row["related_when"] == "higher")
    meaning = "related tasks share more" if related_share_more else "related tasks share less"
    return f"{row['measure']} {direction} with {row['relatedness']}: {meaning}"


def finding(rows: list[dict]) -> str:
    """The plain sentence for one group, benchmark and layer of `overlap_study.csv` (its one or two measures).

    "rotated fc1 (threshold-shared): overlap falls with angle difference (degrees): related tasks
    share more (Mantel r = -0.94 [-1.04, -0.83], p = 0.001, 2 seeds; 2.571x chance); learned
    changes ...". A trend is called when the p-value of the permutation test stratified by seed,
    Holm-adjusted over every test of the study (`mantel_p_holm`), is below 0.05; whether related tasks then share more follows from the sign of r and from
    whether relatedness is higher or lower for related tasks.
    """
    first = rows[0]
    grid = ", ".join(f"{c.removeprefix('grid.')}={first[c]}" for c in first
                     if c.startswith("grid.") and pd.notna(first[c]))
    where = f"{first['benchmark']} {first['layer']} ({first['part']}{', ' + grid if grid else ''})"
    return f"{where}: " + "; ".join(f"{_trend(row)} ({_statistics(row)}{baseline_clause(row)})" for row in rows)


def findings(table: pd.DataFrame) -> str:
    """One sentence per group, benchmark and layer, one per line (in the table's order)."""
    measured = (*STUDY_COLUMNS, *BASELINE_COLUMNS)
    keys = [c for c in table.columns if c not in measured or c in ("benchmark", "method", "layer")]
    table = table.assign(_order=range(len(table)))
    lines = []
    for _, group in table.groupby(keys, sort=False, dropna=False):
        lines.append(finding(group.sort_values("_order").drop(columns="_order").to_dict("records")))
    return "\n".join(lines)


def study_findings(directory: Path) -> str | None:
    """The sentences of the `overlap_study.csv` in a study directory; None where there is none."""
    path = directory / "overlap_study.csv"
    if not path.is_file():
        return None
    return findings(pd.read_csv(path))


__all__ = ["MEASURES", "findings", "finding", "overlap_study", "read_relatedness", "study_findings"]
