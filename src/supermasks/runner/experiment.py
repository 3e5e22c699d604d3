"""One config into its run directory: checks, the lock, resume or start, every (benchmark, method), the status.

A finished run is not repeated: its stored results are read back. An interrupted one (killed,
Ctrl-C) resumes after the last finished task of each method. Every run keeps its log in `run.log`.
"""

from __future__ import annotations

import hashlib
import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from supermasks.config import ExperimentConfig, to_dict
from supermasks.data import Task
from supermasks.compute.devices import bfloat16_note, device_info, resolve_device
from supermasks.loggers import Logger, numeric_metrics, open_loggers
from supermasks.runner import tables
from supermasks.runner.build import build_tasks, load_data, with_own
from supermasks.runner.checks import check_free_space, check_source_memory, check_writable, validate
from supermasks.runner.evaluate import check_sample
from supermasks.runner.loop import run_method
from supermasks.runner.parallel import prepare_cores, run_cores
from supermasks.runner.signals import sigterm_as_interrupt, signal_number
from supermasks.runner.tables import MethodResult
from supermasks.store.files import write_csv, write_json, write_yaml
from supermasks.store.json_files import read_json
from supermasks.store.lock import run_lock
from supermasks.errors import ConfigError, DataError, WorkerError
from supermasks.config.records import config_hash, run_directory
from supermasks.store.rundir import collect_meta, now, read_meta_checked
from supermasks.store.temporaries import remove_stale

log = logging.getLogger(__name__)


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a run: what finished is saved; the message says how to resume.

    `signum` is the signal that stopped it (SIGINT for Ctrl-C): the CLI exits with 128 + signum.
    """

    def __init__(self, message: str, signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.signum = signum


@dataclass
class RunResult:
    directory: Path
    results: list[MethodResult] = field(default_factory=list)
    skipped: bool = False  # True when the run had already finished and was not re-run: `results` are the stored ones

    def comparison(self) -> pd.DataFrame:
        """One row per (benchmark, method): the metrics table of `supermasks compare`."""
        return tables.comparison_table(self.results)

    def get(self, method: str | None = None, benchmark: str | None = None) -> MethodResult:
        """The result of `method` on `benchmark` (either may be left out where the run has one)."""
        chosen = [r for r in self.results if (method is None or r.method == method)
                  and (benchmark is None or r.benchmark == benchmark)]
        if len(chosen) != 1:
            held = ", ".join(f"{r.benchmark}/{r.method}" for r in self.results)
            raise KeyError(f"{'no' if not chosen else 'more than one'} result for method={method}, "
                           f"benchmark={benchmark}; this run holds {held}")
        return chosen[0]

    def accuracy(self, method: str | None = None, benchmark: str | None = None) -> pd.DataFrame:
        """The accuracy matrix R of `method` on `benchmark` as a DataFrame (`MethodResult.accuracy_frame`)."""
        return self.get(method, benchmark).accuracy_frame()

    def numbers(self, method: str | None = None, benchmark: str | None = None) -> dict[str, float]:
        """The numeric metrics of `method` on `benchmark` (`MethodResult.numbers`); definitions apart."""
        return self.get(method, benchmark).numbers

    def masks(self, task_id: int, method: str | None = None, benchmark: str | None = None) -> dict[str, np.ndarray]:
        """Task `task_id`'s binary masks per layer (`MethodResult.masks`)."""
        return self.get(method, benchmark).masks(task_id)


def run(config: ExperimentConfig, *, model: object = None, tasks: object = None, force: bool = False,
        progress: bool = True) -> RunResult:
    """Run every (benchmark, method) of `config` into its run directory.

    `model` (an `nn.Module`, `supermasks.masked` or plain) and `tasks` (`supermasks.tasks_from`'s list, or a pair
    `(train_sets, test_sets)`) run the config on a user's own network and tasks (`build.with_own`); the run's hash
    holds their fingerprints. A finished run is not run again unless `force`: its stored results are returned
    (`skipped`). SIGTERM stops it as Ctrl-C does (`RunInterrupted`, status `interrupted`, lock released).
    """
    config = with_own(config, model, tasks)
    with sigterm_as_interrupt():
        return _run(config, force=force, progress=progress)


def _run(config: ExperimentConfig, *, force: bool, progress: bool) -> RunResult:
    validate(config)
    directory = run_directory(config)
    meta, _ = read_meta_checked(directory)
    damaged = False  # a finished run whose result files cannot be read back
    if meta and meta.get("status") == "finished" and not force:
        stored = _stored_or_none(config, directory)
        if stored is not None:
            return RunResult(directory, stored, skipped=True)
        damaged = True
    check_writable(directory)
    prepare_cores(config)  # worker processes' imports, where planned, overlap the data loading below
    dataset = load_data(config)  # a Dataset in memory, or an image folder decoded per batch
    check_source_memory(config, dataset)
    all_tasks = {name: build_tasks(config, name, dataset) for name in config.data.benchmark}
    for tasks in all_tasks.values():  # each task's test set against run.eval_sample, before any directory exists
        check_sample(tasks, config.run.eval_sample)
    check_free_space(config, directory)
    with run_lock(directory), run_log(directory / "run.log"):
        remove_stale(directory, recursive=True)  # temporaries of an earlier process of this run that was killed
        meta, problem = read_meta_checked(directory)
        status = None if meta is None or problem else meta.get("status")
        if status == "finished" and not force and not damaged:  # finished while this process waited
            stored = _stored_or_none(config, directory)
            if stored is not None:
                return RunResult(directory, stored, skipped=True)
        # Checkpoints carry their own checksums, so whenever the status does not say that this
        # directory's state is worthless (a forced or diverged run), each method goes on from its newest
        # usable one; a method with none starts afresh, and says so.
        resume = not force and status != "diverged"
        if problem and resume:
            log.warning("warning: %s: going on from each method's newest usable checkpoint, if any", problem)
        elif resume and status in ("running", "interrupted", "failed"):
            log.info("%s did not finish (%s): each method goes on from its newest usable checkpoint, if any",
                     directory, status)
        write_yaml(directory / "config.yaml", to_dict(config))
        device = resolve_device(config.run.device)
        if config.training.precision == "bfloat16" and (note := bfloat16_note(device)) is not None:
            log.warning("warning: training.precision=bfloat16: %s", note)
        meta = collect_meta(seed=config.seed, config_hash=config_hash(config)) | device_info(device) | {
                                       "source": dataset.name, "source_is_subset": dataset.is_subset,
                                       "source_description": dataset.description, "status": "running"}
        write_json(directory / "meta.json", meta)
        with open_loggers(config.run.loggers, directory, name=config.name, settings=to_dict(config)) as loggers:
            return _run_all(config, directory, meta, all_tasks, dataset.description, resume=resume,
                            progress=progress, loggers=loggers)


class StoredResultsError(ConfigError):
    """A result file of a finished run is missing or cannot be read (one line naming it)."""


def _stored_or_none(config: ExperimentConfig, directory: Path) -> list[MethodResult] | None:
    """The stored results of a finished run; None, with a warning, when one of its files is damaged (it is then
    run again from its checkpoints, which writes them anew)."""
    try:
        stored = stored_results(config, directory)
    except StoredResultsError as error:
        log.warning("warning: %s; writing the results again from the run's checkpoints", error)
        return None
    log.info("%s has already finished; pass --force to run it again", directory)
    return stored


@contextmanager
def run_log(path: Path) -> Iterator[None]:
    """Copy the package's log records of INFO and above into `path` (appended: a resumed run adds to it)."""
    logger = logging.getLogger("supermasks")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.setLevel(logging.INFO)
    level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:  # the file holds INFO even when the console shows less
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()


def _run_all(config: ExperimentConfig, directory: Path, meta: dict, all_tasks: dict[str, list[Task]],
             description: str, *, resume: bool, progress: bool, loggers: Logger | None = None) -> RunResult:
    """Every (benchmark, method), then the run's own tables; meta.json ends `finished`, or says why it stopped:
    `interrupted` (Ctrl-C, SIGTERM), `diverged`, or `failed` with the error (any other, from a full disk to a bug)."""
    try:
        return _run_methods(config, directory, meta, all_tasks, description, resume=resume, progress=progress,
                            loggers=loggers)
    except KeyboardInterrupt as exc:
        write_json(directory / "meta.json", meta | {"status": "interrupted", "interrupted": now()})
        signum = signal_number(exc)
        how = "terminated (SIGTERM)" if signum == signal.SIGTERM else "interrupted"
        raise RunInterrupted(f"{how}; every finished task is saved in {directory}. Run the same command "
                             f"again to resume after the last finished task", signum) from None
    except FloatingPointError:
        write_json(directory / "meta.json", meta | {"status": "diverged", "stopped": now()})
        raise
    except (ConfigError, DataError, WorkerError) as exc:  # found mid-run (an image file that cannot be decoded): one line, and
        # the status says the run failed and why, so that running it again after the fix resumes after its last task
        _mark_failed(directory, meta, exc)
        raise type(exc)(f"{exc}. Every finished task is saved in {directory}: after the fix, run the same command "
                        f"again to resume") from None
    except Exception as exc:
        _mark_failed(directory, meta, exc)
        raise


def _mark_failed(directory: Path, meta: dict, error: Exception) -> None:
    """meta.json says `failed` and why; when even that cannot be written (the disk is full), it stays as it was, and
    the run's own error is the one reported."""
    try:
        write_json(directory / "meta.json", meta | {"status": "failed", "stopped": now(),
                                                    "error": f"{type(error).__name__}: {error}"})
    except OSError as exc:
        log.warning("warning: cannot record the failure in %s: %s", directory / "meta.json", exc.strerror or exc)


def _run_methods(config: ExperimentConfig, directory: Path, meta: dict, all_tasks: dict[str, list[Task]],
                 description: str, *, resume: bool, progress: bool, loggers: Logger | None = None) -> RunResult:
    result = RunResult(directory)
    with run_cores(config) as cores:  # worker processes, where planned, serve every (benchmark, method)
        meta.update(cores.meta())  # written with the status: the threads and workers that trained
        for bench, tasks in all_tasks.items():
            per_bench = []
            for method_name in config.method:
                log.info("%s/%s: %d tasks from %s", bench, method_name, len(tasks), description)
                per_bench.append(run_method(config, bench, method_name, tasks, directory / bench / method_name,
                                            progress=progress, resume=resume, cores=cores, loggers=loggers))
                if loggers is not None:
                    loggers.log_metrics(f"{bench}/{method_name}", numeric_metrics(per_bench[-1].metrics))
            tables.write_benchmark_summary(directory / bench, bench, tasks, per_bench, scenario=config.scenario.name,
                                           figures=config.run.figures,
                                           figure_formats=config.run.figure_formats)
            result.results.extend(per_bench)
    comparison = result.comparison()
    write_csv(directory / "comparison.csv", comparison)
    if len(config.method) > 1:  # a comparison: ACC against the bytes each method keeps (SupSup's Figure 2, right)
        tables.write_storage(comparison, directory, figures=config.run.figures, figure_formats=config.run.figure_formats)
    frames = [r.overlap_summary.assign(benchmark=r.benchmark, method=r.method) for r in result.results
              if r.overlap_summary is not None]
    if frames:
        write_csv(directory / "overlap_summary.csv", pd.concat(frames, ignore_index=True))
    write_json(directory / "meta.json", meta | {"status": "finished", "finished": now(),
                                                "results_sha256": _result_checksums(config, directory)})
    return result


# What `stored_results` reads back of each (benchmark, method): checksummed when the run finishes.
RESULT_FILES = ("accuracy.csv", "tasks.csv", "metrics.json", "overlap_summary.csv")


def _result_checksums(config: ExperimentConfig, directory: Path) -> dict[str, str]:
    """SHA-256 of every result file a finished run is read back from, by path relative to `directory`."""
    sums = {}
    for bench in config.data.benchmark:
        for method_name in config.method:
            for name in RESULT_FILES:
                path = directory / bench / method_name / name
                if path.is_file():
                    sums[path.relative_to(directory).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return sums


def stored_results(config: ExperimentConfig, directory: Path) -> list[MethodResult]:
    """The results of a finished run as its files hold them (R, b from tasks.csv, metrics.json, overlap summary).

    StoredResultsError naming the file when one is missing, cannot be read, or no longer has the
    checksum recorded in meta.json when the run finished (so a changed digit is never read back).
    """
    meta, _ = read_meta_checked(directory)
    sums = (meta or {}).get("results_sha256") or {}
    found = []
    for bench in config.data.benchmark:
        for method_name in config.method:
            where = directory / bench / method_name
            with _reading(where / "accuracy.csv", directory, sums) as path:
                r = pd.read_csv(path).drop(columns="after").to_numpy(dtype=float)
                if r.ndim != 2 or r.shape[0] != r.shape[1] or not len(r):
                    raise ValueError(f"a {r.shape[0]}x{r.shape[1]} matrix, not a square one")
            b = np.full(len(r), np.nan)  # the NNs stream has no untrained accuracy, nor tasks.csv
            if (where / "tasks.csv").is_file():
                with _reading(where / "tasks.csv", directory, sums) as path:
                    rows = pd.read_csv(path)
                    b[rows["task"].to_numpy()] = rows["untrained_accuracy"].to_numpy(dtype=float)
            with _reading(where / "metrics.json", directory, sums) as path:
                summary = read_json(path)
                if not isinstance(summary, dict):
                    raise ValueError("not a JSON object")
                # NaN is stored as null (strict JSON): back to NaN, the "no value" of the numbers read from it
                summary = {k: float("nan") if v is None else v for k, v in summary.items()}
            overlap = None
            if (where / "overlap_summary.csv").is_file():
                with _reading(where / "overlap_summary.csv", directory, sums) as path:
                    overlap = pd.read_csv(path)
            found.append(MethodResult(bench, method_name, where, r, b, summary, overlap))
    return found


@contextmanager
def _reading(path: Path, directory: Path, sums: dict[str, str]) -> Iterator[Path]:
    """Turn whatever reading `path` raises into a StoredResultsError naming it; check its recorded checksum first."""
    try:
        expected = sums.get(path.relative_to(directory).as_posix())
        if expected is not None and hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            raise ValueError("its SHA-256 differs from the one recorded when the run finished")
        yield path
    except FileNotFoundError:
        raise StoredResultsError(f"{path} is missing") from None
    except (OSError, ValueError, KeyError, IndexError, TypeError) as error:
        raise StoredResultsError(f"{path} cannot be read ({type(error).__name__}: {error})") from None
