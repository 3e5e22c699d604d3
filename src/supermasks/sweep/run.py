"""Run a sweep: skip the finished runs, hand the others to an executor, record each outcome as it comes.

Nothing here schedules: the executor (this process, or Ray) decides the order and the placement.
What a killed sweep leaves behind is safe to start again: a finished run's directory says so in
its meta.json and is skipped; an unfinished one resumes from its checkpoints (the runner's own
resume); the sweep's record is rewritten whole after every run. One sweep process at a time works
on a sweep directory (the same kernel lock as a run directory).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from tqdm.auto import tqdm

from supermasks.config import to_dict
from supermasks.runner.experiment import StoredResultsError, stored_results
from supermasks.runner.signals import sigterm_as_interrupt
from supermasks.store.lock import run_lock
from supermasks.store.temporaries import remove_stale
from supermasks.store.rundir import read_meta_checked
from supermasks.sweep.estimate import estimate, estimate_text
from supermasks.sweep.executors import Executor
from supermasks.sweep.grid import Sweep, SweepRun
from supermasks.sweep.job import Job, Outcome
from supermasks.sweep.record import Record, write_record

log = logging.getLogger(__name__)


def finished(run: SweepRun) -> bool:
    """Whether the run's directory holds a finished run whose results read back (checksums included)."""
    meta, problem = read_meta_checked(run.directory)
    if problem or not meta or meta.get("status") != "finished":
        return False
    try:
        stored_results(run.config, run.directory)
    except StoredResultsError:
        return False  # the runner writes the damaged files again
    return True


def run_sweep(sweep: Sweep, executor: Executor, *, executor_name: str = "local", cpus_per_run: float = 1,
              progress: bool = True) -> Record:
    """Run every unfinished run of `sweep` with `executor`; the record of how each ended (also in sweep.json).

    Each run gets max(1, floor(cpus_per_run)) torch threads. A failed run is recorded with its
    error and the others go on; Ctrl-C or SIGTERM stops the sweep, keeping what finished.
    """
    directory = sweep.directory()
    with sigterm_as_interrupt(), run_lock(directory):
        remove_stale(directory)  # the sweep's own files' temporaries of a killed earlier sweep (each run cleans its own)
        record = Record(sweep, executor_name)
        todo, done = [], []
        for run in sweep.runs:
            if finished(run):
                record.note(Outcome(run.key, "skipped"))
                done.append(run)
            else:
                todo.append(run)
        write_record(record)
        log.info("sweep of %d runs (%s): %d already finished, %s", len(sweep.runs), executor_name, len(done),
                 estimate_text(estimate(todo, done)))
        threads = max(1, math.floor(cpus_per_run))
        jobs = [Job(run.key, to_dict(run.config), threads) for run in todo]
        outcomes = executor(jobs)
        try:
            _collect(record, outcomes, todo, progress)
        finally:
            outcomes.close()  # now, while SIGTERM is still ours: the executor stops the runs in flight
            write_record(record)
    return record


def _collect(record: Record, outcomes, todo: Sequence[SweepRun], progress: bool) -> None:
    """Note each outcome as it arrives, rewrite the record, advance the progress bar."""
    names = {run.key: run for run in todo}
    with tqdm(total=len(todo), desc="sweep", unit="run", disable=not progress or not todo, dynamic_ncols=True) as bar:
        for outcome in outcomes:
            record.note(outcome)
            write_record(record)
            if outcome.status == "failed":
                run = names[outcome.key]
                log.warning("warning: run %s (%s, seed %d) failed: %s", run.directory.name, _point(run), run.seed,
                            outcome.error)
            bar.update(1)
            bar.set_postfix(record.summary(), refresh=False)


def _point(run: SweepRun) -> str:
    return " ".join(f"{k}={v}" for k, v in run.grid.items()) or "no grid"


def summary_text(record: Record) -> str:
    """The sweep's closing lines: the counts, the failed runs with their errors, the sweep directory."""
    counts = record.summary()
    lines = [f"sweep: {len(record.sweep.runs)} runs: {counts['done']} done, {counts['skipped']} skipped "
             f"(already finished), {counts['failed']} failed"
             + (f", {counts['pending']} not run" if counts["pending"] else "")]
    for run in record.sweep.runs:
        if record.status[run.key] == "failed":
            lines.append(f"  failed: {run.directory} ({_point(run)}, seed {run.seed}): {record.errors[run.key]}")
    if counts["failed"]:
        lines.append(f"  tracebacks in {record.sweep.directory() / 'failures'}; run the same command again to retry "
                     f"the failed runs (finished ones are skipped)")
    lines.append(f"sweep directory: {record.sweep.directory()}")
    return "\n".join(lines)


__all__ = ["finished", "run_sweep", "summary_text"]
