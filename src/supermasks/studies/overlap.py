"""Experiment 1 over a study's runs: does mask overlap follow task relatedness, over seeds, and by how much?

docs/algorithms.md section 2. Every run of a masked method writes, per benchmark, its overlap table
(`overlap.csv`: Jaccard and its ratio to chance per pair of tasks and layer), the learned-change
table where the initial masks were recorded (`changes.csv`) and the relatedness of its tasks
(`relatedness.csv`). This module groups a study's runs by everything but the seed and, per
benchmark, layer and measure ("overlap" of the masks, "learned changes" relative to the initial
masks), tests whether the measure follows relatedness and says how large the trend is:

- the Mantel correlation between the pairs' ratio to chance and their relatedness, r per seed,
  with its mean and 95% interval over seeds (Student t on Fisher's z), and one p-value from a
  permutation test stratified by seed (each seed's task labels permuted independently;
  `analysis.mantel`). Where no relabelling is as extreme as r, p is the floor 1 / (1 +
  permutations), a bound: `mantel_p_at_floor`, and the sentence says "p <= ...";
- effect sizes (`analysis.effects`, whose docstring defines the bins per kind of relatedness):
  the mean ratio to chance of the most related and of the least related pairs, their difference,
  and the least-squares slope per unit of relatedness (per 10 degrees, per shared class, per 0.1
  of the pixels both tasks leave in place), each a mean over seeds with its Student t 95%
  interval (none with one seed);
- the mean ratio to chance over pairs, per seed, with its mean and 95% interval;
- where the study file declares an `overlap_baseline`, the ratio of the pairs' Jaccard to that of
  unrelated tasks from the same init, with its 95% interval (`studies._baseline`).

The p-values are Holm-adjusted (`mantel_p_holm`) over the family the study file declares
(`studies.family`: every part, grid point, benchmark, layer and measure, run or not), so running
one part corrects as the whole study does: tests not run count as p = 1 (`analysis.stats.holm`).
`holm_family` is the family's size, `holm_family_tested` how many of its tests this table holds;
`mantel_p_holm_at_floor` marks adjusted values that a floored p makes bounds
(`analysis.stats.holm_is_bound`). A sentence calls a trend only where the adjusted p is below 0.05,
and then says how large it is.

`overlap_study` writes `overlap_study.csv` (one row per group, benchmark, layer and measure),
`overlap_study_seeds.csv` (each seed's own Mantel r and p, mean ratio, bins and slope),
`overlap_study_points.csv` (each seed's pairs of tasks: relatedness and ratio to chance) and a figure of
ratio to chance against relatedness per row, with each seed's pairs as points, and returns the
table; `finding` turns a row into the plain sentence the study prints.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from supermasks.analysis.overlap import pair_matrix
from supermasks.store.files import write_csv
from supermasks.studies._baseline import BASELINE_COLUMNS, baseline_clause, with_baseline
from supermasks.studies.family import MEASURES, MIN_TASKS, FamilyKey, family_key

log = logging.getLogger(__name__)

ALPHA = 0.05  # the level at which a sentence calls a trend detected
POINTS_FILE = "overlap_study_points.csv"  # every seed's pairs of tasks per row: the study's figure in the report
# What a measure's ratio is called in a sentence.
RATIO_LABELS = {"overlap": "overlap/chance", "learned changes": "learned changes/chance"}
# `analysis.effects.Effect` field -> its column in overlap_study.csv
EFFECT_COLUMNS = {"most_related": "ratio_most_related", "most_related_low": "ratio_most_related_low",
                  "most_related_high": "ratio_most_related_high", "least_related": "ratio_least_related",
                  "least_related_low": "ratio_least_related_low", "least_related_high": "ratio_least_related_high",
                  "difference": "ratio_difference", "difference_low": "ratio_difference_low",
                  "difference_high": "ratio_difference_high", "slope": "slope", "slope_low": "slope_low",
                  "slope_high": "slope_high", "slope_unit": "slope_unit", "most_relatedness": "relatedness_most",
                  "least_relatedness": "relatedness_least"}
STUDY_COLUMNS = ("benchmark", "method", "layer", "measure", "relatedness", "related_when", "seeds", "num_tasks",
                 "mantel_r", "mantel_r_low", "mantel_r_high", "mantel_p", "mantel_p_at_floor", "mantel_p_holm",
                 "mantel_p_holm_at_floor", "holm_family", "holm_family_tested", "permutations", "mean_ratio",
                 "mean_ratio_low", "mean_ratio_high", *EFFECT_COLUMNS.values())


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
    from supermasks.config.yaml_files import read_yaml

    return int(read_yaml(run_directory / "config.yaml")["seed"])


# Relabellings per test: the smallest permutation p-value is 1 / (1 + permutations), and Holm multiplies
# it by the size of the family the study file declares (`holm_family`, counted by `studies.family` and
# printed with the findings), which for experiment1.yaml is large enough that 999 could never reach 0.05.
PERMUTATIONS = 9999


def overlap_study(frame: pd.DataFrame, directory: Path, *, permutations: int = PERMUTATIONS, figures: bool = True,
                  figure_formats: tuple[str, ...] = ("png",),
                  family: Sequence[FamilyKey] | None = None) -> pd.DataFrame | None:
    """Experiment 1 over the runs of a study table (`studies.grid`): `overlap_study.csv`, figures; the table.

    `frame` has a row per run, benchmark and method with `part`, the grid values (`grid.*`),
    `benchmark`, `method` and `run_directory`. Runs that differ only in their seed form one group.
    `family`: the tests the study file declares (`studies.family.declared_tests`); Holm corrects
    over them and over any test made here that they lack, a declared test not made counting as
    p = 1. None: over the tests made here.
    Returns None when no run wrote an overlap table with a relatedness (nothing to test).
    """
    from supermasks.analysis.effects import over_seeds, seed_effects
    from supermasks.analysis.mantel import correlation_interval, mantel, mantel_over_seeds
    from supermasks.analysis.stats import holm, holm_is_bound, mean_interval

    group_columns = ["part", *[c for c in frame.columns if c.startswith("grid.") and c != "grid.seed"],
                     "benchmark", "method"]
    rows: list[dict] = []
    seed_rows: list[dict] = []
    keys: list[FamilyKey] = []
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
                if num_tasks < MIN_TASKS:
                    continue
                labels = dict(zip(group_columns, key))
                per_seed = [mantel(x, y, permutations=permutations, seed=s.seed) for (x, y), s in zip(pairs, by_seed)]
                means = [float(np.nanmean(x[~np.eye(len(x), dtype=bool)])) for x, _ in pairs]
                effects = seed_effects(pairs, name, related_when)
                for s, result, mean, effect in zip(by_seed, per_seed, means, effects):
                    seed_rows.append({**labels, "layer": layer, "measure": measure, "seed": s.seed,
                                      "mantel_r": result.r, "mantel_p": result.p, "mantel_p_at_floor": result.at_floor,
                                      "mean_ratio": mean, "ratio_most_related": effect.most_related,
                                      "ratio_least_related": effect.least_related,
                                      "ratio_difference": effect.difference, "slope": effect.slope})
                combined = mantel_over_seeds(pairs, permutations=permutations, seed=0)
                r_mean, r_low, r_high = correlation_interval([result.r for result in per_seed])
                m_mean, _, m_low, m_high = mean_interval(np.asarray(means))
                effect_columns = {EFFECT_COLUMNS[k]: v for k, v in over_seeds(effects, name).columns().items()}
                rows.append({**labels, "layer": layer, "measure": measure, "relatedness": name,
                             "related_when": related_when, "seeds": len(pairs), "num_tasks": num_tasks,
                             "mantel_r": r_mean, "mantel_r_low": r_low, "mantel_r_high": r_high,
                             "mantel_p": combined.p, "mantel_p_at_floor": combined.at_floor,
                             "permutations": combined.permutations, "mean_ratio": m_mean,
                             "mean_ratio_low": m_low, "mean_ratio_high": m_high, **effect_columns})
                grid = {c.removeprefix("grid."): v for c, v in labels.items() if c.startswith("grid.") and pd.notna(v)}
                keys.append(family_key(labels["part"], grid, labels["benchmark"], labels["method"], layer, measure))
                points[len(rows) - 1] = _points(by_seed, layer)
    if not rows:
        return None
    table = pd.DataFrame(rows)
    size = len(dict.fromkeys([*(family or ()), *keys]))
    p, at_floor = table["mantel_p"].to_numpy(float), table["mantel_p_at_floor"].to_numpy(bool)
    table["mantel_p_holm"] = holm(p, size)
    table["mantel_p_holm_at_floor"] = holm_is_bound(p, at_floor, size)
    table["holm_family"], table["holm_family_tested"] = size, len(table)
    table = table[[*[c for c in group_columns if c not in STUDY_COLUMNS], *STUDY_COLUMNS]]
    table = with_baseline(table, frame, group_columns, directory, _seed_of)  # ratio to unrelated tasks, if declared
    write_csv(directory / "overlap_study.csv", table)
    write_csv(directory / "overlap_study_seeds.csv", pd.DataFrame(seed_rows))
    write_csv(directory / POINTS_FILE, point_table(table, points))  # what the report's one figure draws
    if figures:
        _figures(table, points, directory / "figures", figure_formats)
    return table


def point_table(table: pd.DataFrame, points: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """Every row's pairs of tasks (`_points`) under that row's labels: part, grid values, benchmark, method, layer,
    measure, then seed, relatedness, relative_to_chance."""
    labels = [c for c in table.columns if c in ("part", "benchmark", "method", "layer", "measure")
              or c.startswith("grid.")]
    return pd.concat([points[i].assign(**{c: table.at[i, c] for c in labels})[[*labels, *points[i].columns]]
                      for i in sorted(points)], ignore_index=True)


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


def _finite(value: object) -> bool:
    return isinstance(value, (int, float, np.number)) and bool(np.isfinite(value))


def _estimate(row: dict, column: str, spec: str) -> str:
    """"2.620 [2.580, 2.660]": a mean over seeds with its 95% interval where there is one."""
    value = format(row[column], spec)
    low, high = row.get(f"{column}_low"), row.get(f"{column}_high")
    return f"{value} [{format(low, spec)}, {format(high, spec)}]" if _finite(low) and _finite(high) else value


def _effect(row: dict) -> str | None:
    """"overlap/chance 2.620 [..] for the most related pairs (angle difference (degrees) 15) vs ..., slope ..."."""
    if not _finite(row.get("ratio_most_related")):
        return None
    label = RATIO_LABELS.get(row["measure"], f"{row['measure']}/chance")
    text = (f"{label} {_estimate(row, 'ratio_most_related', '.3f')} for the most related pairs "
            f"({row['relatedness']} {row['relatedness_most']:.3g}) vs "
            f"{_estimate(row, 'ratio_least_related', '.3f')} for the least related ({row['relatedness_least']:.3g}), "
            f"difference {_estimate(row, 'ratio_difference', '+.3f')}")
    if _finite(row.get("slope")):
        text += f", slope {_estimate(row, 'slope', '+.3g')} per {row['slope_unit']}"
    return text


def _test(row: dict) -> str:
    """"Mantel r = -0.94 [-0.99, -0.70], p <= 0.0001, Holm p <= 0.0132 over 132 tests"."""
    from supermasks.analysis.mantel import format_p

    interval = (f" [{row['mantel_r_low']:+.2f}, {row['mantel_r_high']:+.2f}]"
                if _finite(row["mantel_r_low"]) else "")
    family = row.get("holm_family")
    tests = f" over {int(family)} tests" if _finite(family) else ""
    return (f"Mantel r = {row['mantel_r']:+.2f}{interval}, "
            f"{format_p(row['mantel_p'], bool(row.get('mantel_p_at_floor', False)))}, "
            f"{format_p(row['mantel_p_holm'], bool(row.get('mantel_p_holm_at_floor', False)), 'Holm p')}{tests}")


def _trend(row: dict) -> str:
    """"overlap falls with angle difference (degrees): related tasks share more", or "no detectable trend"."""
    if not np.isfinite(row["mantel_r"]):  # `mantel`: a relatedness (or overlap) constant over the pairs
        return f"{row['measure']}: not tested, {row['relatedness']} is the same for every pair of tasks"
    if not row["mantel_p_holm"] < ALPHA:
        return f"{row['measure']}: no detectable trend with {row['relatedness']}"
    direction = "rise" if row["mantel_r"] > 0 else "fall"
    if not row["measure"].endswith("s"):  # "overlap falls", "learned changes fall"
        direction += "s"
    related_share_more = (row["mantel_r"] > 0) == (row["related_when"] == "higher")
    meaning = "related tasks share more" if related_share_more else "related tasks share less"
    difference = row.get("ratio_difference")
    if _finite(difference) and difference != 0 and (difference > 0) != related_share_more:
        meaning += " (though its most related bin averages the other way)"
    return f"{row['measure']} {direction} with {row['relatedness']}: {meaning}"


def _row_text(row: dict) -> str:
    """One measure's part of a finding: the verdict, how large (bins, difference, slope), then the test."""
    seeds = f"{row['seeds']} seed{'s' if row['seeds'] != 1 else ''}"
    if row["seeds"] == 1:
        seeds += " (no interval over seeds)"
    seeds += f"; {row['mean_ratio']:.3f}x chance"
    if not np.isfinite(row["mantel_r"]):
        return f"{_trend(row)} (Mantel r undefined, {seeds}{baseline_clause(row)})"
    effect = _effect(row)
    return f"{_trend(row)}{': ' + effect if effect else ''} ({_test(row)}, {seeds}{baseline_clause(row)})"


def finding(rows: list[dict]) -> str:
    """The plain sentence for one group, benchmark and layer of `overlap_study.csv` (its one or two measures).

    "rotated fc1 (threshold-shared): overlap falls with angle difference (degrees): related tasks
    share more: overlap/chance 2.620 [2.580, 2.660] for the most related pairs (angle difference
    (degrees) 15) vs 2.460 [..] for the least related (75), difference +0.160 [..], slope -0.031 [..]
    per 10 degrees (Mantel r = -0.94 [-0.99, -0.70], p <= 0.0001, Holm p <= 0.0054 over 54 tests,
    2 seeds; 2.571x chance); learned changes ...". A trend is called when the p-value of the permutation test stratified by seed,
    Holm-adjusted over the study's declared family (`mantel_p_holm`), is below 0.05; whether
    related tasks then share more follows from the sign of r and from whether relatedness is higher
    or lower for related tasks, and the difference between the extreme bins says how much. "p <="
    marks a p-value at the permutation floor, and a Holm-adjusted value that such a p sets.
    """
    first = rows[0]
    grid = ", ".join(f"{c.removeprefix('grid.')}={first[c]}" for c in first
                     if c.startswith("grid.") and pd.notna(first[c]))
    where = f"{first['benchmark']} {first['layer']} ({first['part']}{', ' + grid if grid else ''})"
    return f"{where}: " + "; ".join(_row_text(row) for row in rows)


def family_text(table: pd.DataFrame) -> str:
    """"Holm family: the 132 tests the study file declares ...": how many tests the correction spans."""
    tested = len(table)
    size = int(table["holm_family"].iloc[0]) if "holm_family" in table.columns else tested
    if size == tested:
        return f"Holm family: {size} tests (variant, benchmark, layer and measure), all of them run here."
    return (f"Holm family: the {size} tests the study file declares (variant, benchmark, layer and measure), "
            f"of which {tested} ran here; those not run count as p = 1, so a part run alone is corrected as in "
            f"the whole study.")


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
    """The size of the Holm family, then the sentences of the `overlap_study.csv` in a study directory; None where
    there is none."""
    path = directory / "overlap_study.csv"
    if not path.is_file():
        return None
    table = pd.read_csv(path)
    return f"{family_text(table)}\n{findings(table)}"


__all__ = ["MEASURES", "family_text", "findings", "finding", "overlap_study", "read_relatedness", "study_findings"]
