"""One run of a sweep as a unit of work: what an executor hands to a worker, and what comes back.

`run_job` is the whole of a worker's part: it sets the torch threads to the CPUs the run was
given, runs the config through the ordinary runner (which skips a finished run and resumes an
unfinished one from its checkpoints; a directory still locked by a worker of a killed sweep is
waited for, briefly), and turns any exception into a `failed` outcome that
carries the error, so that one failing run never stops the others. `mark_interrupted` is the
driver's part where a worker was killed before it could say so itself.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["done", "skipped", "failed"]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """A run to do: its config as a plain dict (`config.to_dict`), its config hash and its torch thread count."""

    key: str
    config: dict[str, Any]
    threads: int


@dataclass(frozen=True)
class Outcome:
    """How a run ended: `done` (it ran), `skipped` (it had already finished) or `failed` (`error`, `details`)."""

    key: str
    status: Status
    error: str | None = None
    details: str | None = None  # the traceback of a failure

    @classmethod
    def failed(cls, key: str, error: BaseException, details: str | None = None) -> Outcome:
        return cls(key, "failed", f"{type(error).__name__}: {error}",
                   details if details is not None else "".join(traceback.format_exception(error)))


def run_job(job: Job) -> Outcome:
    """Run `job` in this process with `job.threads` torch threads; every exception becomes a failed outcome.

    Ctrl-C and SIGTERM (KeyboardInterrupt) are not failures: they propagate, and the run resumes
    when the sweep is started again.
    """
    from supermasks.compute.threads import apply_threads, plan_threads

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    # A fresh worker sets OpenMP's variables before torch loads; where torch is loaded (this process
    # runs the sweep) they are read already, so only the thread count changes, and comes back after.
    apply_threads(plan_threads(job.threads, os.environ), os.environ if torch is None else {})
    try:
        return _run(job)
    finally:
        if before is not None:
            torch.set_num_threads(before)


def _run(job: Job) -> Outcome:
    try:
        from supermasks.config import from_dict
        from supermasks.config.records import config_hash

        config = from_dict(job.config)
        if config_hash(config) != job.key:  # a worker running other code than the driver reads settings otherwise
            raise RuntimeError(f"this worker reads the run's settings with hash {config_hash(config)}, the sweep with "
                               f"{job.key}: install the same supermasks version on every machine of the cluster")
        result = _run_when_free(config)
    except Exception as error:  # noqa: BLE001 - any failure of one run is recorded, the others go on
        return Outcome.failed(job.key, error)
    return Outcome(job.key, "skipped" if result.skipped else "done")


# A run directory locked by a worker of a sweep that was just killed is free as soon as that worker is
# gone (the kernel drops its lock); a run still locked after this long is another live process's.
LOCK_WAIT_SECONDS = 30.0


def _run_when_free(config: Any) -> Any:
    """`runner.run(config)`, waiting up to LOCK_WAIT_SECONDS for a lock another process holds on its directory."""
    from supermasks.runner import run
    from supermasks.store.lock import RunLockedError

    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            return run(config, progress=False)
        except RunLockedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def mark_interrupted(job: Job) -> None:
    """Mark `job`'s run directory `interrupted` where it still says `running` and no live process holds it (its
    worker was killed mid-run); the next sweep resumes it either way, this keeps meta.json truthful."""
    from supermasks.config import from_dict
    from supermasks.store.files import write_json
    from supermasks.store.lock import RunLockedError, run_lock
    from supermasks.config.records import run_directory
    from supermasks.store.rundir import now, read_meta

    directory = run_directory(from_dict(job.config))
    if (read_meta(directory) or {}).get("status") != "running":
        return
    try:
        with run_lock(directory):
            meta = read_meta(directory)
            if meta is not None and meta.get("status") == "running":
                write_json(directory / "meta.json", meta | {"status": "interrupted", "interrupted": now()})
    except (RunLockedError, OSError) as error:  # still held (a worker on another machine), or not writable
        log.warning("warning: %s is left as it is: %s", directory, error)


__all__ = ["Job", "Outcome", "Status", "mark_interrupted", "run_job"]
