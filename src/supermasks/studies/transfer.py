"""Experiment 2: how fast a new SupSup task learns when its scores start from earlier tasks.

docs/algorithms.md section 3. For every benchmark, seed and transfer mode (`random`, SupSup's `mean`,
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

This module runs the units and keeps their records; `transfer_file` reads the study file into a
`TransferStudy`, and `transfer_results` writes the similarity files, tables and figures.
"""

from __future__ import annotations

import hashlib
import logging
import signal
import time
from math import gcd
from pathlib import Path

import pandas as pd

from supermasks.config import ExperimentConfig, updated
from supermasks.data import Task
from supermasks.runner import RunInterrupted
from supermasks.runner.build import build_tasks, load_data
from supermasks.runner.checks import check_source_memory, check_writable
from supermasks.runner.evaluate import evaluated_part
from supermasks.runner.signals import sigterm_as_interrupt, signal_number
from supermasks.methods import supsup
from supermasks.store.files import write_csv, write_json
from supermasks.store.json_files import read_json
from supermasks.store.lock import run_lock
from supermasks.studies.transfer_file import TransferStudy
from supermasks.studies.transfer_results import write_similarity, write_study_tables
from supermasks.training import Probe, accuracy
from supermasks.store.temporaries import remove_stale

log = logging.getLogger(__name__)


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
                        similarity = write_similarity(directory, bench, seed, method, tasks)
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


__all__ = ["run_transfer_study", "run_unit", "signature_prediction"]
