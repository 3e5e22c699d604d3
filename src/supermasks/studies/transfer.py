"""Experiment 2: how fast a new SupSup task learns when its scores start from earlier tasks.

ALGORITHMS.md section 3. For every benchmark, seed and transfer mode (`random`, SupSup's `mean`,
similarity-guided `similar` and `soft`), SupSup with per-task BatchNorm learns the task sequence;
each task's own test accuracy (task id given) is measured after `budgets` steps of its training.
Because a task's mask never changes once trained, these numbers are the task's final accuracy for
that training budget. The study file is a config plus a `transfer_study` section:

    transfer_study:
      transfers: [random, mean, similar, soft]
      budgets: [25, 50, 100, 200, 500, 1000]   # the largest is the training length of each task
      seeds: [0, 1, 2, 3, 4]
      benchmarks:                                # name -> config overrides (nested or dotted keys)
        rotated_small: {data: {benchmark: [rotated], rotation_step: 10}}
        permuted: {data.benchmark: [permuted]}

Each (benchmark, seed, transfer) is saved as soon as it finishes (`units/`), so an interrupted
study resumes where it stopped. A unit's files are listed, with their SHA-256 and size, in its
`.done.json`, written last: a unit whose files are missing or do not match is run again, with a
warning naming the file. After all units: `evaluation.csv`, `prediction.csv` (signature-based
task inference with every mode's masks), `alphas.csv`, E2 similarity matrices (`similarity/`) and
the tasks' relatedness (`relatedness/`, where the benchmark defines it), `summary.csv` and
`final.csv` (mean, 95% interval, paired test against `random`), `meta.json` (provenance), and
figures, among them the signatures' similarity against relatedness per layer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import signal
import time
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from supermasks.config.typed import shown
from supermasks.config import (ConfigError, ExperimentConfig, check_name, check_names, compose, idle_settings,
                               parse_overrides, read_yaml, stable_dict, updated, without_settings)
from supermasks.config.seeds import SEEDS_KEY, check_seeds
from supermasks.data import Task
from supermasks.runner import RunInterrupted, validate
from supermasks.runner.build import build_tasks, load_data
from supermasks.runner.checks import check_source_memory, check_writable
from supermasks.runner.evaluate import evaluated_part
from supermasks.runner.signals import sigterm_as_interrupt, signal_number
from supermasks.methods import supsup
from supermasks.scenarios import INFERENCE_BATCH_SIZE
from supermasks.methods._warm_start import TRANSFERS
from supermasks.store.files import write_csv, write_json
from supermasks.store.json_files import read_json
from supermasks.store.lock import run_lock
from supermasks.training import Probe, accuracy
from supermasks.store.temporaries import remove_stale
from supermasks.config.workload import check_run_count
from supermasks.config.yaml_files import top_level_keys

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)
STUDY_KEY = "transfer_study"


@dataclass(frozen=True)
class TransferStudy:
    """One Experiment 2: a config per benchmark, and the modes, budgets and seeds to cross."""

    name: str
    out_dir: str
    benchmarks: dict[str, dict[str, ExperimentConfig]]  # benchmark -> transfer mode -> the config of its runs
    transfers: list[str]
    budgets: list[int]
    seeds: list[int]
    source: dict[str, Any] = field(default_factory=dict)  # the resolved file, for the directory hash
    # Test images per signature inference (the prediction table): the file's scenario.inference_batch_size, which
    # the study's own runs (scenario task) do not read.
    inference_batch_size: int = INFERENCE_BATCH_SIZE

    def directory(self) -> Path:
        blob = json.dumps(self.source, sort_keys=True, default=str)
        return Path(self.out_dir) / f"{self.name}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


def is_transfer_study_file(path: Path) -> bool:
    """True when the YAML file at `path` has a `transfer_study` section."""
    return STUDY_KEY in top_level_keys(path)


def _int_list(value: Any, key: str, minimum: int) -> list[int]:
    if not isinstance(value, list) or not value or not all(isinstance(v, int) and not isinstance(v, bool)
                                                            and v >= minimum for v in value):
        raise ConfigError(f"{STUDY_KEY}.{key} must be a non-empty list of integers >= {minimum}, got {shown(value)}")
    if len(set(value)) != len(value):
        raise ConfigError(f"{STUDY_KEY}.{key} names a value twice: {shown(value)}")
    return list(value)


def _signature_batch(loaded: dict[str, Any], cli: dict[str, Any]) -> int:
    """The study's `scenario.inference_batch_size` (file, then command line; taken out of both, since its runs are of
    scenario task, where it does nothing): the batch of its signature inference, INFERENCE_BATCH_SIZE when not given."""
    value: Any = INFERENCE_BATCH_SIZE
    for layer in (loaded, cli):
        if "scenario.inference_batch_size" in layer:
            value = layer.pop("scenario.inference_batch_size")
        scenario = layer.get("scenario")
        if isinstance(scenario, dict) and "inference_batch_size" in scenario:
            value = scenario.pop("inference_batch_size")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"scenario.inference_batch_size (the test images per signature inference) must be a "
                          f"positive number, got {value!r}")
    return value


def load_transfer_study(path: Path, overrides: list[str] | tuple[str, ...] = (), *,
                        max_runs: int | None = None) -> TransferStudy:
    """The study in `path` with `key=value` overrides applied to every benchmark's config; checked before any work.
    More than `max_runs` runs (benchmarks x transfer modes x seeds; None: `workload.DEFAULT_MAX_RUNS`) are refused
    before any config is built."""
    path = Path(path)
    loaded = read_yaml(path)
    spec = loaded.pop(STUDY_KEY)
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: `{STUDY_KEY}` must be a mapping")
    unknown = set(spec) - {"transfers", "budgets", "seeds", "benchmarks"}
    if unknown:
        raise ConfigError(f"{path}: unknown {STUDY_KEY} key(s) {sorted(unknown)}; valid: transfers, budgets, seeds, "
                          f"benchmarks")
    transfers = spec.get("transfers", list(TRANSFERS))
    if not isinstance(transfers, list) or not transfers or any(t not in TRANSFERS for t in transfers):
        raise ConfigError(f"{STUDY_KEY}.transfers must list modes from {', '.join(TRANSFERS)}, got {shown(transfers)}")
    if "random" not in transfers:
        raise ConfigError(f"{STUDY_KEY}.transfers must include random: every mode is compared with it")
    transfers = ["random", *[t for t in transfers if t != "random"]]  # random first: two_pass reads its signatures
    budgets = sorted(_int_list(spec.get("budgets"), "budgets", 1))
    seeds = _int_list(spec.get("seeds"), "seeds", 0)
    benches = spec.get("benchmarks")
    if not isinstance(benches, dict) or not benches:
        raise ConfigError(f"{STUDY_KEY}.benchmarks must map names to config overrides")
    loaded.setdefault("name", path.stem)
    study_name = str(loaded["name"])
    check_name(study_name, f"{path}: name")
    check_names(benches, f"{path}: benchmark name")  # each benchmark's runs are named <name>-<benchmark>
    cli = parse_overrides(overrides)
    batch = _signature_batch(loaded, cli)
    if SEEDS_KEY in cli:  # `seeds=[0,1]` on the command line: this study's own seeds
        seeds = check_seeds(cli.pop(SEEDS_KEY))
    try:
        check_run_count(len(benches) * len(transfers) * len(seeds), what="transfer study",
                        made_of=f"{len(benches):,} benchmarks x {len(transfers)} transfer modes x {len(seeds):,} seeds",
                        fewer="give fewer benchmarks, modes or seeds", max_runs=max_runs)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    budget = {"training": {"steps_per_task": budgets[-1]}}
    configs: dict[str, dict[str, ExperimentConfig]] = {}
    idle_everywhere: dict[str, str] | None = None  # command-line settings that did nothing in every run so far
    for name, settings in benches.items():
        configs[name] = {}
        for transfer in transfers:
            unit = {"supsup": {"transfer": transfer}, "scenario": {"name": "task"}}
            try:
                # A command-line setting for some runs only (`data.rotation_step=5`, `supsup.transfer_temperature=1`)
                # skips the others.
                idle = idle_settings([loaded, budget, settings or {}, unit], cli)
                config = compose(loaded, budget, settings or {}, unit, {"name": f"{study_name}-{name}"},
                                 without_settings(cli, idle))
                validate(config)
            except ConfigError as exc:
                raise ConfigError(f"{path}: benchmark {name}, transfer {transfer}: {exc}") from None
            idle_everywhere = idle if idle_everywhere is None else {k: idle[k] for k in idle_everywhere if k in idle}
            configs[name][transfer] = config
        config = configs[name]["random"]
        if len(config.data.benchmark) != 1:
            raise ConfigError(f"benchmark {name}: give exactly one data.benchmark, got {config.data.benchmark}")
        if config.method != ["supsup"]:
            raise ConfigError(f"benchmark {name}: Experiment 2 studies SupSup's transfer; method must be [supsup]")
        if not config.model.batch_norm:
            raise ConfigError(f"benchmark {name}: similarity needs per-task BatchNorm signatures: set model.batch_norm=true")
        if config.training.steps_per_task != budgets[-1]:
            raise ConfigError(f"benchmark {name}: training.steps_per_task is the largest budget ({budgets[-1]}); do not set it")
    if idle_everywhere:
        key, why = next(iter(idle_everywhere.items()))
        raise ConfigError(f"{path}: {key} on the command line does nothing in any run of this study ({why}): remove it")
    out_dir = next(iter(configs.values()))["random"].run.out_dir
    source = {"transfers": transfers, "budgets": budgets, "seeds": seeds,
              "benchmarks": {n: {t: _unit_source(c, batch) for t, c in units.items()} for n, units in configs.items()}}
    return TransferStudy(study_name, out_dir, configs, transfers, budgets, seeds, source, batch)


def _unit_source(config: ExperimentConfig, batch: int) -> dict[str, Any]:
    """A unit's config as the directory hash reads it: the signature batch where each unit's config held it once."""
    values = stable_dict(updated(config, {"run.out_dir": ""}))
    values["scenario"]["inference_batch_size"] = batch
    return values


def run_unit(config: ExperimentConfig, tasks: list[Task], transfer: str, budgets: list[int], *,
             reference: list | None = None, progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, supsup.SupSup]:
    """Train SupSup with one transfer mode on `tasks`; each task's accuracy at every budget, and the alphas chosen.

    Returns (evaluation rows: task, budget, accuracy, seconds; alpha rows: task, layer, source_task,
    alpha; the trained method).
    """
    config = updated(config, {"supsup.transfer": transfer, "scenario.name": "task"})
    method = supsup.from_config(config, reference_signatures=reference)
    wanted = set(budgets)
    rows, alpha_rows = [], []
    every = 0
    for b in budgets:
        every = gcd(every, b)
    for task in tasks:
        start = time.perf_counter()
        method.begin_task(task)
        tested = evaluated_part(task, None, config.seed)

        def record(step: int, task: Task = tested) -> None:
            if step in wanted:
                acc = accuracy(lambda x: method.predict(x, task.task_id), task.x_test, task.y_test,
                               config.run.eval_batch_size)
                rows.append({"task": task.task_id, "budget": step, "accuracy": acc})

        method.learn(task, progress=progress, probe=Probe(every, record))
        rows[-1]["seconds"] = time.perf_counter() - start
        for layer, alphas in method.alphas_[task.task_id].items():
            alpha_rows += [{"task": task.task_id, "layer": layer, "source_task": s, "alpha": float(a)}
                           for s, a in enumerate(alphas)]
    return pd.DataFrame(rows), pd.DataFrame(alpha_rows, columns=["task", "layer", "source_task", "alpha"]), method


def signature_prediction(method: supsup.SupSup, tasks: list[Task], batch_size: int, seed: int) -> pd.DataFrame:
    """Signature-based task inference on every task's test set (GNu counting), with its cost per batch.

    The test images are read in the run's fixed shuffled order (`runner.evaluate.evaluated_part`), as
    every evaluation reads them, so no test batch is sorted by class.
    """
    from supermasks.runner.evaluate import infer_and_classify

    method.task_inference = "signature"
    rows = []
    for task in tasks:
        start = time.perf_counter()
        task = evaluated_part(task, None, seed)
        acc, inferred, _ = infer_and_classify(method, task, batch_size, unshared=True)
        batches = -(-len(task.y_test) // batch_size)
        rows.append({"task": task.task_id, "accuracy": acc, "task_inference_accuracy": inferred,
                     "seconds_per_batch": (time.perf_counter() - start) / batches})
    return pd.DataFrame(rows)


def _unit_paths(directory: Path, bench: str, seed: int, transfer: str) -> dict[str, Path]:
    stem = directory / "units" / f"{bench}-seed{seed}-{transfer}"
    return {k: stem.with_name(f"{stem.name}.{k}.csv") for k in ("evaluation", "alphas", "prediction")}


def _done_file(paths: dict[str, Path]) -> Path:
    stem = paths["evaluation"].name.removesuffix(".evaluation.csv")
    return paths["evaluation"].with_name(f"{stem}.done.json")


def _record_unit(directory: Path, paths: dict[str, Path], extra: list[Path]) -> None:
    """List the unit's files with their checksums: written last, it says the unit finished whole."""
    files = {str(p.relative_to(directory)): {"sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
                                             "bytes": p.stat().st_size} for p in [*paths.values(), *extra]}
    write_json(_done_file(paths), {"files": files})


def _unit_problem(directory: Path, paths: dict[str, Path]) -> str | None:
    """Why a unit must be run (again): None when every file it recorded is there and matches its checksum."""
    done = _done_file(paths)
    if not done.is_file():  # not finished, or finished by a version that kept no checksums
        missing = [p for p in paths.values() if not p.is_file()]
        if missing:
            return "" if len(missing) == len(paths) else f"{missing[0]} is missing"
        try:
            for p in paths.values():
                pd.read_csv(p)
        except (OSError, ValueError) as error:
            return f"{p} cannot be read ({type(error).__name__})"
        return None
    try:
        files = read_json(done)["files"]
        items = [(directory / name, rec["sha256"], rec["bytes"]) for name, rec in files.items()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        return f"{done} cannot be read ({type(error).__name__})"
    for path, digest, size in items:
        if not path.is_file():
            return f"{path} is missing"
        data = path.read_bytes()
        if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
            return f"{path} does not match the checksum in {done.name} (truncated or corrupt)"
    return None


def run_transfer_study(study: TransferStudy, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Run every (benchmark, seed, transfer) not already saved; then write the tables and figures."""
    directory = study.directory()
    check_writable(directory)
    # Every data source before any training: a missing one fails now, not after hours of work. Each is checked to
    # fit in memory with one seed's tasks, which are held one seed at a time.
    datasets = {bench: load_data(units["random"]) for bench, units in study.benchmarks.items()}
    for bench, units in study.benchmarks.items():
        check_source_memory(units["random"], datasets[bench])
    with sigterm_as_interrupt(), run_lock(directory):
        remove_stale(directory, recursive=True)  # temporaries of an earlier process of this study that was killed
        try:
            return _run_units(study, directory, datasets, progress=progress)
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: the units written so far are kept
            signum = signal_number(exc)
            how = "terminated (SIGTERM)" if signum == signal.SIGTERM else "interrupted"
            raise RunInterrupted(f"{how}; every finished (benchmark, seed, transfer) is saved in {directory}. Run "
                                 f"the same command again to go on from there", signum) from None


def _run_units(study: TransferStudy, directory: Path, datasets: dict, *, progress: bool) -> dict[str, pd.DataFrame]:
    from supermasks.config.records import config_hash
    from supermasks.store.rundir import collect_meta, now

    write_json(directory / "study.json", study.source)
    # Provenance of this invocation (code, libraries, machine, start and end); each unit's seed is in its name.
    first = next(iter(study.benchmarks.values()))["random"]
    meta = {k: v for k, v in collect_meta(seed=first.seed, config_hash=config_hash(first)).items()
            if k not in ("status", "seed", "config_hash")}
    evaluation, alphas, prediction = [], [], []
    for bench, units in study.benchmarks.items():
        dataset = datasets[bench]
        # The guided modes' two_pass protocol reads the random run's signatures, kept only in memory.
        two_pass = any(c.settings("supsup").transfer_protocol == "two_pass" for c in units.values())
        for seed in study.seeds:
            tasks = build_tasks(updated(units["random"], {"seed": seed}), units["random"].data.benchmark[0], dataset)
            reference = None
            for transfer in study.transfers:
                seeded = updated(units[transfer], {"seed": seed})
                paths = _unit_paths(directory, bench, seed, transfer)
                key = {"benchmark": bench, "seed": seed, "transfer": transfer}
                problem = _unit_problem(directory, paths)
                if problem is None and not (transfer == "random" and two_pass):
                    log.info(f"{bench} seed {seed} {transfer}: already done")
                else:
                    if problem:
                        log.warning(f"warning: {problem}; running {bench} seed {seed} {transfer} again")
                    log.info(f"{bench} seed {seed} {transfer}: {len(tasks)} tasks x {study.budgets[-1]} steps")
                    ev, al, method = run_unit(seeded, tasks, transfer, study.budgets,
                                              reference=reference if transfer in ("similar", "soft") else None,
                                              progress=progress)
                    similarity = []
                    if transfer == "random":
                        reference = method.signatures_  # the "classic" run of the two-pass protocol
                        similarity = _write_similarity(directory, bench, seed, method, tasks)
                    pred = signature_prediction(method, tasks, study.inference_batch_size, seed)
                    for name, frame in (("evaluation", ev), ("alphas", al), ("prediction", pred)):
                        write_csv(paths[name], frame)
                    _record_unit(directory, paths, similarity)
                for name, out in (("evaluation", evaluation), ("alphas", alphas), ("prediction", prediction)):
                    frame = pd.read_csv(paths[name])
                    if len(frame):
                        out.append(frame.assign(**key))
    tables = write_study_tables(study, evaluation, alphas, prediction)
    write_json(directory / "meta.json", meta | {"seeds": study.seeds, "finished": now()})
    return tables


def _write_similarity(directory: Path, bench: str, seed: int, method: supsup.SupSup, tasks: list[Task]) -> list[Path]:
    """The E2 similarity matrices of the random run's signatures, and the tasks' relatedness where defined."""
    from supermasks.analysis.similarity import e2_matrices
    from supermasks.data import task_relatedness
    from supermasks.runner.overlap import relatedness_table

    written = []
    for layer, matrix in e2_matrices(method.signatures_).items():
        labels = [f"task_{t}" for t in range(len(matrix))]
        written.append(directory / "similarity" / f"{bench}-seed{seed}-{layer}.csv")
        write_csv(written[-1], pd.DataFrame(matrix, columns=labels).assign(task=labels).set_index("task").reset_index())
    related = task_relatedness(tasks)
    if related is not None:
        written.append(_relatedness_path(directory, bench, seed))
        write_csv(written[-1], relatedness_table(related))
    return written


def _relatedness_path(directory: Path, bench: str, seed: int) -> Path:
    return directory / "relatedness" / f"{bench}-seed{seed}.csv"


def similarity_points(directory: Path, bench: str, seeds: list[int]) -> tuple[dict[str, pd.DataFrame], str] | None:
    """Per layer, every pair of distinct tasks and seed: `seed, relatedness, similarity` (|cos| of their
    signatures), from the study's `similarity/` and `relatedness/` files; with the relatedness's name.
    None where no seed has both (a benchmark without relatedness, a study written before it was saved)."""
    import numpy as np

    points: dict[str, list[pd.DataFrame]] = {}
    name = ""
    for seed in seeds:
        path = _relatedness_path(directory, bench, seed)
        if not path.is_file():
            continue
        related = pd.read_csv(path)
        name = str(related["name"].iloc[0])
        matrix = related.pivot(index="task_i", columns="task_j", values="value").to_numpy(dtype=float)
        stem = f"{bench}-seed{seed}-"
        for layer_path in sorted((directory / "similarity").glob(f"{stem}*.csv")):
            similarity = pd.read_csv(layer_path).set_index("task").to_numpy(dtype=float)
            ii, jj = np.triu_indices(len(similarity), k=1)
            points.setdefault(layer_path.stem.removeprefix(stem), []).append(pd.DataFrame(
                {"seed": seed, "relatedness": matrix[ii, jj], "similarity": similarity[ii, jj]}))
    if not points:
        return None
    return {layer: pd.concat(frames, ignore_index=True) for layer, frames in points.items()}, name


def _front(frame: pd.DataFrame, first: list[str]) -> pd.DataFrame:
    return frame[first + [c for c in frame.columns if c not in first]]


def write_study_tables(study: TransferStudy, evaluation: list[pd.DataFrame], alphas: list[pd.DataFrame],
                       prediction: list[pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The study-level tables and figures from every unit's rows."""
    from supermasks.analysis.plots import save_figure
    from supermasks.analysis.efficiency import (alphas_figure, budget_summary, efficiency_curves, final_summary,
                                              similarity_heatmaps)

    directory = study.directory()
    keys = ["benchmark", "seed", "transfer"]
    tables = {"evaluation": _front(pd.concat(evaluation, ignore_index=True), keys),
              "prediction": _front(pd.concat(prediction, ignore_index=True), keys)}
    tables["alphas"] = (_front(pd.concat(alphas, ignore_index=True), keys) if alphas
                        else pd.DataFrame(columns=[*keys, "task", "layer", "source_task", "alpha"]))
    tables["summary"] = budget_summary(tables["evaluation"])
    tables["final"] = final_summary(tables["evaluation"])
    for name, frame in tables.items():
        write_csv(directory / f"{name}.csv", frame)
    figures = directory / "figures"
    first_seed = study.seeds[0]
    for bench in study.benchmarks:
        save_figure(efficiency_curves(tables["summary"], bench), figures, f"efficiency_{bench}")
        matrices = {}
        for path in sorted((directory / "similarity").glob(f"{bench}-seed{first_seed}-*.csv")):
            layer = path.stem.removeprefix(f"{bench}-seed{first_seed}-")
            matrices[layer] = pd.read_csv(path).set_index("task").to_numpy()
        if matrices:
            save_figure(similarity_heatmaps(matrices, f"{bench}: |cos| between task signatures (seed {first_seed})"),
                        figures, f"similarity_{bench}")
        found = similarity_points(directory, bench, study.seeds)
        for layer, points in (found[0].items() if found else []):
            save_figure(similarity_vs_relatedness(points, found[1], bench, layer), figures,
                        f"similarity_vs_relatedness_{bench}_{layer}")
        for transfer in study.transfers:
            chosen = tables["alphas"]
            chosen = chosen[(chosen.benchmark == bench) & (chosen.transfer == transfer) & (chosen.seed == first_seed)]
            if transfer in ("similar", "soft") and len(chosen):
                save_figure(alphas_figure(tables["alphas"], bench, transfer, first_seed), figures,
                            f"alphas_{bench}_{transfer}")
    return tables


def similarity_vs_relatedness(points: pd.DataFrame, name: str, bench: str, layer: str) -> Figure:
    """|cos| between task signatures against the tasks' relatedness, one point per pair and seed (a Figure)."""
    from supermasks.analysis.plots import overlap_vs_relatedness

    return overlap_vs_relatedness(points, name, f"{bench}, {layer}: signature similarity against relatedness",
                                  value="similarity", ylabel="|cos| between task signatures", chance=None)


def study_text(tables: dict[str, pd.DataFrame]) -> str:
    """A short text summary: per benchmark and budget, each mode's mean accuracy and its difference from random."""
    summary = tables["summary"]
    lines = []
    for bench, group in summary.groupby("benchmark", sort=False):
        lines.append(f"{bench}: mean accuracy of tasks 1.. (95% interval) after each budget; p: paired t-test vs random")
        for budget, rows in group.groupby("budget"):
            cells = []
            for row in rows.itertuples():
                cell = f"{row.transfer} {100 * row.mean:5.1f}%"
                if row.transfer != "random" and pd.notna(row.p_value):
                    cell += f" ({100 * row.mean_difference:+.1f}, p={row.p_value:.3f})"
                cells.append(cell)
            lines.append(f"  {budget:>5} steps: " + "   ".join(cells))
    return "\n".join(lines)


__all__ = ["TransferStudy", "is_transfer_study_file", "load_transfer_study", "run_transfer_study", "run_unit",
           "signature_prediction", "similarity_points", "similarity_vs_relatedness", "study_text", "write_study_tables"]
