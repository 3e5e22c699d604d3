"""Studies: one YAML file with shared settings and named parts, each part a run or a grid of runs.

A study file is a config plus a `parts` mapping; each part overrides settings (nested sections or
dotted keys, as in a config file) and may add a `grid` (dotted key -> list of values, e.g.
`replay.fraction: [0.1, 0.5]`) that expands into one run per combination. Layers apply in order:
the file's shared settings, the part, the grid point, then command-line overrides (see
`supermasks.config.compose`). A command-line setting that applies to some runs only (a method's
section, `scenario.nns`, `model.density`, `data.rotation_step`) is left out of the others, and is an
error when no run uses it. Each run is an ordinary run directory (so finished runs are reused);
the study directory collects one table, a figure per grid, and accuracy against total stored
bytes over all its runs (`studies.stored_bytes`). A top-level `overlap_baseline` adds to each run
its empirical overlap baseline, the same run on unrelated tasks (`studies._baseline`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from supermasks.config.typed import shown
from supermasks.config import (ConfigError, ExperimentConfig, check_name, check_names, idle_settings, parse_overrides,
                               read_yaml, stable_dict, without_settings)
from supermasks.config.seeds import SEEDS_KEY, seeded, take_seeds
from supermasks.runner import RunResult, run, validate
from supermasks.runner.checks import check_sources
from supermasks.runner.signals import sigterm_as_interrupt
from supermasks.store.files import write_csv
from supermasks.store.temporaries import remove_stale
from supermasks.studies._baseline import BASELINE_KEY, baseline_configs, check_baseline, run_baseline
from supermasks.studies.columns import AXIS_LABELS, column_definitions, definitions_table
from supermasks.config.workload import check_run_count
from supermasks.config.yaml_files import top_level_keys

log = logging.getLogger(__name__)


@dataclass
class StudyRun:
    part: str
    grid: dict[str, Any]
    config: ExperimentConfig
    baseline: ExperimentConfig | None = None  # the run's empirical overlap baseline (`studies._baseline`), if declared


@dataclass
class Study:
    name: str
    out_dir: str
    runs: list[StudyRun] = field(default_factory=list)
    seeded: bool = False  # some run names `seeds: [...]`: its tables carry a seed column and 95% intervals
    note: str | None = None  # what the output must say about the study as run (the fallback data source)
    # Every part and grid point of the file (first seed), from the file's settings alone, whatever `only` and
    # the command line select: what fixes Experiment 1's Holm family (`studies.family`).
    declared: list[StudyRun] = field(default_factory=list)

    def directory(self) -> Path:
        blob = json.dumps([[r.part, r.grid, _without_report(stable_dict(r.config)),
                            *([_without_report(stable_dict(r.baseline))] if r.baseline is not None else [])]
                           for r in self.runs], sort_keys=True, default=str)
        return Path(self.out_dir) / f"{self.name}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


def _without_report(config: dict[str, Any]) -> dict[str, Any]:
    """A config's dict without `run.report` (whether a page is written), which names no study directory."""
    return {**config, "run": {k: v for k, v in config["run"].items() if k != "report"}}


def is_study_file(path: Path) -> bool:
    """True when the YAML file at `path` has a `parts` section."""
    return "parts" in top_level_keys(path)


def _seed_count(layers: list[Any]) -> int:
    """How many seeds the last layer naming `seed` or `seeds` asks for (as `take_seeds` reads them; a value that is
    not a list counts one, and its own check reports it)."""
    count = 1
    for layer in layers:
        if isinstance(layer, dict) and SEEDS_KEY in layer:
            count = len(layer[SEEDS_KEY]) if isinstance(layer[SEEDS_KEY], list) else 1
        elif isinstance(layer, dict) and "seed" in layer:
            count = 1
    return max(count, 1)


def count_study_runs(loaded: dict, parts: dict, cli: dict, only: str | None) -> tuple[int, str]:
    """(runs, what they are the product of) of a study, counted from its lists before any run is built: per part,
    its grid's points times its seeds (baseline runs aside)."""
    total, sizes = 0, []
    for part, settings in parts.items():
        if only is not None and part != only:
            continue
        settings = settings if isinstance(settings, dict) else {}
        grid = settings.get("grid") or {}
        points = math.prod(len(v) for v in grid.values() if isinstance(v, list)) if isinstance(grid, dict) else 1
        grid_seeds = max((len(v) for v in (grid.get(SEEDS_KEY) or []) if isinstance(v, list)), default=0) \
            if isinstance(grid, dict) else 0
        seeds = grid_seeds or _seed_count([loaded, settings, cli])
        total += points * seeds
        sizes.append(f"{part}: {points:,} point{'s' * (points != 1)} x {seeds:,} seed{'s' * (seeds != 1)}")
    shown_sizes = "; ".join(sizes[:5]) + (f"; and {len(sizes) - 5} more parts" if len(sizes) > 5 else "")
    return total, shown_sizes


def load_study(path: Path, overrides: list[str] | tuple[str, ...] = (), only: str | None = None, *,
               max_runs: int | None = None) -> Study:
    """The study in `path`, with command-line `overrides` applied to every run (`only`: one part).

    A study of more than `max_runs` runs (None: `workload.DEFAULT_MAX_RUNS`) is refused before any is built."""
    path = Path(path)
    loaded = read_yaml(path)
    parts = loaded.pop("parts", None)
    if not isinstance(parts, dict) or not parts:
        raise ConfigError(f"{path}: `parts` must map part names to their settings")
    check_names(parts, f"{path}: part name")  # each run is named <name>-<part>, each row of the tables by <part>
    if only is not None and only not in parts:
        raise ConfigError(f"{path}: no part {shown(only)}; parts are {', '.join(parts)}")
    loaded.setdefault("name", path.stem)
    name = str(loaded["name"])
    check_name(name, f"{path}: name")
    cli = parse_overrides(overrides)
    total, sizes = count_study_runs(loaded, parts, cli, only)
    try:
        check_run_count(total, what="study", made_of=sizes, fewer="run fewer parts, grid values or seeds (--part runs "
                        "one part)", max_runs=max_runs)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    note = _fall_back(loaded, cli, loaded.pop(FALLBACK_KEY, None), path)
    baseline = check_baseline(loaded.pop(BASELINE_KEY, None), path)
    study: Study | None = None
    idle_everywhere: dict[str, str] | None = None  # command-line settings that did nothing in every run so far
    declared: list[StudyRun] = []
    for part, settings in parts.items():
        settings = dict(settings or {})
        grid = settings.pop("grid", {}) or {}
        if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
            raise ConfigError(f"part {part}: every grid entry must be a non-empty list of values")
        for combo in itertools.product(*grid.values()) if grid else [()]:
            point = dict(zip(grid, combo))
            try:
                declared.append(StudyRun(part, point, _declared_config(loaded, settings, point, f"{name}-{part}")))
            except ConfigError as exc:
                raise ConfigError(f"{path}: part {part}{_shown(point)}: {exc}") from None
            if only is not None and part != only:
                continue
            try:
                # `seeds: [...]` (file, part, grid or command line): the same run once per seed.
                (shared, own, at, given), seeds = take_seeds([loaded, settings, point, cli])
                # A command-line setting for some runs only (`ewc.samples=16` where one part runs EWC) skips the others.
                idle = idle_settings([shared, own, at], given)
                configs = seeded([shared, own, at, {"name": f"{name}-{part}"}, without_settings(given, idle)], seeds)
                bases = (baseline_configs([shared, own, at], given, baseline, name, seeds) if baseline is not None
                         else [None] * len(configs))
            except ConfigError as exc:
                raise ConfigError(f"{path}: part {part}{_shown(point)}: {exc}") from None
            if study is None:
                study = Study(name, configs[0].run.out_dir)
            study.seeded = study.seeded or seeds is not None
            study.runs.extend(StudyRun(part, point, config, base) for config, base in zip(configs, bases))
            idle_everywhere = idle if idle_everywhere is None else {k: idle[k] for k in idle_everywhere if k in idle}
    assert study is not None
    if idle_everywhere:
        key, why = next(iter(idle_everywhere.items()))
        raise ConfigError(f"{path}: {key} on the command line does nothing in any run of this study ({why}): remove it")
    for item in study.runs:
        try:
            validate(item.config)
            if item.baseline is not None:
                validate(item.baseline)
        except ConfigError as exc:
            raise ConfigError(f"part {item.part}{_shown(item.grid)}: {exc}") from None
    study.note = note
    study.declared = declared
    return study


def _declared_config(loaded: dict[str, Any], settings: dict[str, Any], point: dict[str, Any],
                     name: str) -> ExperimentConfig:
    """A part's config at one grid point from the file alone (its first seed): what the file declares."""
    (shared, own, at), seeds = take_seeds([loaded, settings, point])
    return seeded([shared, own, at, {"name": name}], seeds[:1] if seeds else None)[0]


FALLBACK_KEY = "fallback_source"  # a study file's data source where its own `data.source` is not installed


def _fall_back(loaded: dict[str, Any], cli: dict[str, Any], fallback: Any, path: Path) -> str | None:
    """Switch the file's `data.source` to `fallback` where that source is not available here; say so.

    Only the file's own source falls back: a `data.source` given on the command line is used as
    given (and is an error where it is missing, as for any run), and so is a source read from a
    `data.data_dir`. A fallback that is missing too is an error now, saying how to get either.
    Returns the sentence the study's output starts with, or None when nothing changed.
    """
    if fallback is None:
        return None
    from supermasks.data import SourceUnavailableError, list_sources

    data = loaded.get("data")
    source = data.get("source") if isinstance(data, dict) else None
    given = {**(cli.get("data") or {}), **{k.removeprefix("data."): v for k, v in cli.items() if k.startswith("data.")}}
    if source is None or "source" in given or data.get("data_dir") is not None or given.get("data_dir") is not None:
        return None
    sources = {info.name: info for info in list_sources()}
    if str(fallback) not in sources:
        raise ConfigError(f"{path}: {FALLBACK_KEY}: unknown source {shown(fallback)}; choose one of {', '.join(sources)}")
    if source not in sources or sources[source].available:
        return None
    if not sources[str(fallback)].available:  # found now, not when the first run that reads it starts
        raise SourceUnavailableError(
            f"{path}: data.source {source} is not available here, nor is its {FALLBACK_KEY} {fallback}: get either. "
            f"To get {source}: {sources[source].how_to_get}. To get {fallback}: {sources[str(fallback)].how_to_get}")
    data["source"] = str(fallback)
    note = (f"data: {fallback}, since {source} is not available here (to get it: {sources[source].how_to_get}); "
            f"the numbers below are not those of the study on {source}")
    log.warning(note)
    return note


def _shown(point: dict[str, Any]) -> str:
    """A grid point for a message (` {'training.lr': 0.01}`), nothing for a part without a grid."""
    return f" {point}" if point else ""


def run_study(study: Study, *, force: bool = False, progress: bool = True) -> pd.DataFrame:
    """Run every part; write `study.csv` and one figure per grid parameter into the study directory.

    Every source the runs read is looked for first (`checks.check_sources`). SIGTERM stops it as Ctrl-C does: the
    run in progress is marked `interrupted`, finished runs are kept.
    """
    with sigterm_as_interrupt():
        return _run_study(study, force=force, progress=progress)


def _run_study(study: Study, *, force: bool, progress: bool) -> pd.DataFrame:
    # Every source any run reads, before the first run starts: a missing one is found now, not after hours of work.
    check_sources((f"part {item.part}{_shown(item.grid)}", config) for item in study.runs
                  for config in (item.config, item.baseline) if config is not None)
    remove_stale(study.directory(), recursive=True)  # temporaries of an earlier study process that was killed
    baselines_too = any(item.baseline is not None for item in study.runs)
    log.info("study %s: %d runs%s", study.name, len(study.runs), " and their baseline runs" if baselines_too else "")
    rows = []
    baselines: dict[Path, Path] = {}  # runs shared by several parts' baselines run once
    for item in study.runs:
        log.info(f"== part {item.part} {item.grid or ''}")
        result: RunResult = run(item.config, force=force, progress=progress)
        table = _results_table(result)
        seed = {"seed": item.config.seed} if study.seeded else {}
        baseline = run_baseline(item.baseline, baselines, force=force, progress=progress)
        for row in table.to_dict("records"):
            rows.append({"part": item.part, **{f"grid.{k}": v for k, v in item.grid.items()}, **seed, **row,
                         "run_directory": str(result.directory), **baseline})
    frame = pd.DataFrame(rows)
    directory = study.directory()
    write_csv(directory / "study.csv", frame)
    write_csv(directory / "definitions.csv", definitions_table(list(frame.columns)))
    runs = len(dict.fromkeys(frame["run_directory"]))
    if study.seeded:  # the same tables as `supermasks aggregate` over the study's runs
        from supermasks.aggregate import aggregate_runs, write_aggregate

        log.info("study: aggregate over the seeds of %d runs", runs)

        write_aggregate(aggregate_runs(list(dict.fromkeys(frame["run_directory"]))), directory / "aggregate")
    from supermasks.studies.family import declared_tests
    from supermasks.studies.overlap import overlap_study
    from supermasks.studies.stored_bytes import write_study_storage

    log.info("study: accuracy against stored bytes, then Experiment 1's tests where the runs measured overlap")
    write_study_storage(frame, directory, study.name)  # ACC against total stored bytes, a point per run (mean over seeds)
    # Experiment 1 where runs wrote overlap tables with relatedness, Holm-corrected over what the file declares.
    # Its figure per test (one per variant, benchmark, layer and measure: dozens) only where the runs write figures
    # (run.figures); the report draws its one answer figure from the tables either way.
    drawn = [item.config.run for item in study.runs if item.config.run.figures]
    overlap_study(frame, directory, family=declared_tests(study.declared), figures=bool(drawn),
                  figure_formats=drawn[0].figure_formats if drawn else ("png",))
    curves = {}
    # With seeds, the learning curves of the first seed (one line per run, not per seed)
    shown = frame[frame["seed"] == frame["seed"].iloc[0]] if study.seeded else frame
    for row in shown.to_dict("records"):
        path = Path(row["run_directory"]) / row["benchmark"] / row["method"] / "curves.csv"
        if path.is_file():
            grid = " ".join(f"{k.removeprefix('grid.')}={v}" for k, v in row.items() if k.startswith("grid.") and pd.notna(v))
            curves[f"{row['method']} ({row['part']}{', ' + grid if grid else ''})"] = pd.read_csv(path)
    from supermasks.analysis.curves import learning_curves, metric_vs_parameter  # matplotlib: only to draw
    from supermasks.analysis.plots import save_figure

    log.info("study: figures")
    if curves:
        save_figure(learning_curves(curves, f"{study.name}: accuracy on every task seen, during training"),
                    directory / "figures", "learning_curves")
    for part, group in frame.groupby("part", sort=False):
        for column in [c for c in group.columns if c.startswith("grid.") and group[c].notna().any()]:
            parameter = column.removeprefix("grid.")
            data = group.rename(columns={column: parameter})
            if study.seeded:  # one point per value: the mean over the seeds
                data = data.groupby([parameter, "benchmark", "method"], sort=False, dropna=False)[
                    ["ACC", "first_task_accuracy"]].mean().reset_index()
            for metric in ("ACC", "first_task_accuracy"):
                fig = metric_vs_parameter(data, parameter, metric, f"{study.name} / {part}", ylabel=AXIS_LABELS[metric])
                save_figure(fig, directory / "figures", f"{part}_{metric}_vs_{parameter}")
    return frame


def _results_table(result: RunResult) -> pd.DataFrame:
    """The comparison table of a run, read back from disk when the run had already finished."""
    if result.skipped:
        table = pd.read_csv(result.directory / "comparison.csv")
        firsts = []
        for row in table.itertuples():
            acc = pd.read_csv(result.directory / row.benchmark / row.method / "accuracy.csv")
            firsts.append(float(acc.iloc[-1, 1]))
        return table.assign(first_task_accuracy=firsts)
    table = result.comparison()
    return table.assign(first_task_accuracy=[float(r.accuracy[-1, 0]) for r in result.results])


def study_summary(frame: pd.DataFrame) -> str:
    """A compact text table of a study: part, grid values, method, ACC, first task, memory; definitions under it."""
    if "seed" in frame.columns:
        return _seeded_summary(frame)
    grid_cols = [c for c in frame.columns if c.startswith("grid.")]
    names = [f"{b}/{m}" for b, m in zip(frame["benchmark"], frame["method"])]
    width = max(map(len, names))
    lines = []
    for part, group in frame.groupby("part", sort=False):
        lines.append(f"part {part}:")
        for row in group.to_dict("records"):
            grid = " ".join(f"{c.removeprefix('grid.')}={row[c]}" for c in grid_cols if pd.notna(row.get(c)))
            inferred = row.get("task_inference_accuracy")
            task_inf = f"  task inference {100 * inferred:6.2f}%" if inferred is not None and pd.notna(inferred) else ""
            cost = row.get("inference_ms")
            task_inf += f" ({cost:.1f} ms/batch)" if task_inf and cost is not None and pd.notna(cost) else ""
            grid = f"{grid:<32} " if grid_cols else ""
            lines.append(f"  {row['benchmark'] + '/' + row['method']:<{width}}  {grid}ACC {100 * row['ACC']:6.2f}%  "
                         f"first task {100 * row['first_task_accuracy']:6.2f}%  "
                         f"memory {_memory(row)}{task_inf}")
    lines.append("definitions:")
    shown = {"ACC", "first_task_accuracy", "memory_peak_training_bytes", "memory_total_bytes", "task_inference_accuracy"}
    lines += [textwrap.fill(f"{name}: {text}", 110, initial_indent="  ", subsequent_indent="    ")
              for name, text in column_definitions(list(frame.columns)).items() if name in shown]
    return "\n".join(lines)


def _seeded_summary(frame: pd.DataFrame) -> str:
    """`study_summary` of a study with seeds: each run's mean over the seeds with the half-width of its 95% t
    interval (`supermasks.aggregate.summary.summarize`, the path of `supermasks aggregate`)."""
    from supermasks.aggregate.report import interval_cell
    from supermasks.aggregate.summary import summarize

    grid_cols = [c for c in frame.columns if c.startswith("grid.")]
    keys = ["part", *grid_cols, "benchmark", "method"]
    metrics = [m for m in ("ACC", "first_task_accuracy", "memory_total_bytes", "task_inference_accuracy")
               if m in frame.columns and frame[m].notna().any()]
    long = frame.melt(id_vars=[*keys, "seed"], value_vars=metrics, var_name="metric", value_name="value")
    summary = summarize(long, by=[*keys, "metric"])
    names = [f"{b}/{m}" for b, m in zip(frame["benchmark"], frame["method"])]
    width = max(map(len, names))
    labels = {"ACC": "ACC", "first_task_accuracy": "first task", "memory_total_bytes": "memory",
              "task_inference_accuracy": "task inference"}
    lines = []
    for part, group in summary.groupby("part", sort=False):
        lines.append(f"part {part}:")
        for run_keys, rows in group.groupby(keys, sort=False, dropna=False):
            row = dict(zip(keys, run_keys))
            grid = " ".join(f"{c.removeprefix('grid.')}={row[c]}" for c in grid_cols if pd.notna(row.get(c)))
            cells = []
            for r in rows.to_dict("records"):
                metric = "ACC" if r["metric"] == "first_task_accuracy" else r["metric"]  # shown as an accuracy
                cell = interval_cell(metric, r["mean"], r["ci_low"], r["ci_high"])
                cells.append(f"{labels[r['metric']]} {cell}{'%' if r['metric'] != 'memory_total_bytes' else ''}")
            seeds = int(rows["n_seeds"].max())
            grid = f"{grid:<32} " if grid_cols else ""
            lines.append(f"  {row['benchmark'] + '/' + row['method']:<{width}}  {grid}{'  '.join(cells)}  "
                         f"({seeds} seed{'s' if seeds != 1 else ''})")
    lines.append("mean ± half-width of the 95% Student t interval over the seeds; the aggregate's tables are in "
                 "the study directory's aggregate/")
    return "\n".join(lines)


def _memory(row: dict) -> str:
    """`peak training X, kept Y`; only the bytes kept where the run predates the training peak."""
    from supermasks.units import human_bytes

    peak = row.get("memory_peak_training_bytes")
    kept = f"kept {human_bytes(row['memory_total_bytes'])}"
    return kept if peak is None or pd.isna(peak) else f"peak training {human_bytes(peak)}, {kept}"


__all__ = ["Study", "StudyRun", "is_study_file", "load_study", "run_study", "study_summary"]
