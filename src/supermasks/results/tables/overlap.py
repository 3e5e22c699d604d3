"""The Experiment 1 tables (README, docs/experiment1.md): the rows of its study's overlap_study.csv."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from supermasks.results.tables._format import markdown, study_directory
from supermasks.config.yaml_files import read_yaml_file


# Experiment 1 (`configs/experiment1*.yaml`): the rows of its study's overlap_study.csv.
_VARIANTS = {"threshold-independent": "threshold, independent init (SupSup)", "threshold-shared": "threshold, shared init",
             "topk10-independent": "top-k 10%, independent init", "topk10-shared": "top-k 10%, shared init",
             "topk50-independent": "top-k 50%, independent init", "topk50-shared": "top-k 50%, shared init"}
_RELATEDNESS = {"angle difference (degrees)": "angle difference, degrees",
                "fraction of pixels both leave in place": "pixels both leave in place",
                "shared classes": "shared classes"}
_SLOPE_UNITS = {"0.1 of the pixels both leave in place": "0.1 of pixels in place"}
_SOURCES = {"mnist-5k": "the embedded MNIST subset (`mnist-5k`)", "fashion-mnist": "full-size Fashion-MNIST"}


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _estimate(row: dict, column: str, spec: str = ".3f", interval_spec: str = ".2f") -> str:
    """`2.663 [2.57, 2.75]`: a mean over seeds with its 95% interval over seeds; the mean alone without one."""
    value, low, high = row.get(column), row.get(f"{column}_low"), row.get(f"{column}_high")
    if not _finite(value):
        return "n/a"
    if _finite(low) and _finite(high):
        return f"{value:{spec}} [{low:{interval_spec}}, {high:{interval_spec}}]"
    return f"{value:{spec}}"


def _holm_p(row: dict) -> str:
    """The Holm-adjusted p in three significant digits, `<= x` where a p at the permutation floor makes it a bound."""
    if not _finite(row["mantel_r"]):
        return "not tested"
    return f"{'<= ' if bool(row['mantel_p_holm_at_floor']) else ''}{row['mantel_p_holm']:.3g}"


def _mantel_r(row: dict, *, interval: bool) -> str:
    if not _finite(row["mantel_r"]):
        return "undefined"
    return _estimate(row, "mantel_r", "+.2f", "+.2f") if interval else f"{row['mantel_r']:+.2f}"


def _related_bin(row: dict, which: str) -> str:
    """`2.663 [2.57, 2.75] at 15`: a bin's ratio to chance with its interval, then the bin's mean relatedness."""
    if not _finite(row[f"ratio_{which}_related"]):
        return "n/a"
    return f"{_estimate(row, f'ratio_{which}_related')} at {row[f'relatedness_{which}']:.2g}"


def _slope(row: dict) -> str:
    """`-0.035 [-0.047, -0.023] per 10 degrees`."""
    if not _finite(row["slope"]):
        return "n/a"
    return f"{_estimate(row, 'slope', '+.3f', '+.3f')} per {_SLOPE_UNITS.get(row['slope_unit'], row['slope_unit'])}"


def _benchmark_cell(row: dict) -> str:
    return f"{row['benchmark']} ({_RELATEDNESS.get(row['relatedness'], row['relatedness'])})"


def _variant(row: dict) -> str:
    """The part's name for a reader, with its grid point where the part has one (`fraction-shared (permute_fraction 0.25)`)."""
    point = [f"{key.rsplit('.', 1)[-1]} {value:g}" if isinstance(value, float) else f"{key.rsplit('.', 1)[-1]} {value}"
             for key, value in row.items() if key.startswith("grid.") and not pd.isna(value)]
    name = _VARIANTS.get(row["part"], row["part"])
    return f"{name} ({', '.join(point)})" if point else name


def _grid_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c.startswith("grid.")]


def _overlap_study(result_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The study's overlap_study.csv (in its own order: variant, benchmark, layer, measure) and its study.csv."""
    directory = study_directory(result_dir)
    return pd.read_csv(directory / "overlap_study.csv"), pd.read_csv(directory / "study.csv")


def _seeds(seeds: list[int]) -> str:
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds[:-1]))} and {seeds[-1]}"


def _experiment1_setting(result_dir: Path, table: pd.DataFrame, runs: pd.DataFrame) -> str:
    """What the study ran (data, tasks, steps, seeds: from its first run's config and its runs) and how p was taken
    (relabellings, Holm family: from its table)."""
    config = read_yaml_file(result_dir / Path(runs["run_directory"].iloc[0]).name / "config.yaml")
    data, first = config["data"], table.iloc[0]
    seeds = _seeds(sorted(int(s) for s in runs["seed"].unique()))
    return (f"{_SOURCES.get(data['source'], '`' + data['source'] + '`')}, {data['num_tasks']} tasks per benchmark, "
            f"{config['training']['steps_per_task']} steps per task, {seeds}; "
            f"p from {int(first['permutations']):,} relabellings stratified by seed, Holm-adjusted over the "
            f"{int(first['holm_family'])} tests the study file declares")


def experiment1_table(result_dir: Path, layer: str = "fc1") -> str:
    """README's Experiment 1, one layer: per variant and benchmark, the Mantel test of the masks' overlap / chance
    against relatedness, how large the trend is (most and least related pairs, slope), and the ratios of the overlap
    and of the learned changes to the baseline. A caption rendered from the files precedes the table."""
    table, runs = _overlap_study(result_dir)
    table = table[table["layer"] == layer]
    changes = {(_variant(r), r["benchmark"]): r for r in table[table["measure"] == "learned changes"].to_dict("records")}
    rows = []
    for row in table[table["measure"] == "overlap"].to_dict("records"):
        changed = changes.get((_variant(row), row["benchmark"]), {})
        rows.append([_variant(row), _benchmark_cell(row), _mantel_r(row, interval=False), _holm_p(row),
                     _related_bin(row, "most"), _related_bin(row, "least"), _slope(row),
                     _estimate(row, "mean_ratio_to_baseline"), _estimate(changed, "mean_ratio_to_baseline")])
    caption = (f"Layer {layer}: {_experiment1_setting(result_dir, table, runs)}; `<=` marks a bound set "
               f"by the permutation floor. Most and least related pairs: their overlap / chance, and where their "
               f"relatedness sits; x baseline: the pairs' mean Jaccard over that of unrelated tasks (fully permuted) "
               f"from the same start; each a mean over the seeds [95% interval over seeds].")
    return caption + "\n\n" + markdown(
        ["variant", "benchmark (relatedness)", "Mantel r", "Holm p", "most related pairs", "least related pairs",
         "slope", "overlap x baseline", "learned changes x baseline"], ["l", "l", "r", "l", "l", "l", "l", "l", "l"],
        rows)


def experiment1_study_table(result_dir: Path, layer: str = "fc1") -> str:
    """docs/experiment1.md's short study, one layer: for the masks' overlap and the learned changes, the ratios to
    chance and to the baseline, the Mantel test, the most and least related pairs and the slope."""
    table, runs = _overlap_study(result_dir)
    table = table[table["layer"] == layer]
    rows = [[_variant(row), _benchmark_cell(row), row["measure"], _estimate(row, "mean_ratio"),
             _estimate(row, "mean_ratio_to_baseline"), _mantel_r(row, interval=True), _holm_p(row),
             _related_bin(row, "most"), _related_bin(row, "least"), _slope(row)] for row in table.to_dict("records")]
    caption = (f"Layer {layer}: {_experiment1_setting(result_dir, table, runs)}; `<=` marks a bound set by the "
               f"permutation floor. x chance: the pairs' mean ratio to chance (for learned changes under shared "
               f"init, chance within strata of the initial scores); x baseline: their mean Jaccard over that of "
               f"unrelated tasks from the same start; "
               f"most / least related pairs: their ratio to chance, and where their relatedness sits; each a mean "
               f"over the seeds [95% interval over seeds].")
    return caption + "\n\n" + markdown(
        ["variant", "benchmark (relatedness)", "measure", "x chance", "x baseline", "Mantel r", "Holm p",
         "most related pairs", "least related pairs", "slope"], ["l"] * 10, rows)


def experiment1_layers_table(result_dir: Path) -> str:
    """docs/experiment1.md's short study in every layer: per variant, benchmark and measure, `r (Holm p), ratio x`
    (the ratio to the baseline)."""
    table, _ = _overlap_study(result_dir)
    layers = list(dict.fromkeys(table["layer"]))
    rows = []
    keys = ["part", *_grid_columns(table), "benchmark", "measure"]
    for _, group in table.groupby(keys, sort=False, dropna=False):
        by_layer = {row["layer"]: row for row in group.to_dict("records")}
        first = group.iloc[0].to_dict()
        cells = [_variant(first), first["benchmark"], first["measure"]]
        for layer in layers:
            row = by_layer.get(layer)
            ratio = "" if row is None or not _finite(row.get("mean_ratio_to_baseline")) else \
                f", {row['mean_ratio_to_baseline']:.3f}x"
            cells.append("n/a" if row is None else f"{_mantel_r(row, interval=False)} ({_holm_p(row)}){ratio}")
        rows.append(cells)
    return markdown(["variant", "benchmark", "measure", *layers], ["l"] * (3 + len(layers)), rows)
