"""The sweep directory: which runs a sweep has, how each ended, and the errors of those that failed.

    <out_dir>/<name>-sweep-<hash>/
        sweep.json                   grid, seeds, summary and one entry per run (see `write_record`)
        runs.csv                     the same runs as a table: run_directory, config_hash, seed, status,
                                     error, then one `grid.<dotted key>` column per swept key
        failures/<config_hash>.txt   the traceback of each run that failed (removed once it succeeds)

Both files are rewritten atomically after every finished run, so a sweep killed at any moment
leaves them whole. Run directories are named relative to the sweep directory (they are its
siblings), so the whole output folder can be moved. A run's own results stay in its run
directory; its `meta.json` status `finished` is what says it is complete.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from supermasks.store.files import atomic_write_bytes, write_csv, write_json
from supermasks.store.rundir import now
from supermasks.sweep.grid import Sweep
from supermasks.sweep.job import Outcome

RunStatus = Literal["pending", "done", "skipped", "failed"]
STATUSES: tuple[RunStatus, ...] = ("done", "skipped", "failed", "pending")
RECORD = "sweep.json"
TABLE = "runs.csv"
FAILURES = "failures"


@dataclass
class Record:
    """The state of every run of a sweep, by config hash."""

    sweep: Sweep
    executor: str
    status: dict[str, RunStatus] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for run in self.sweep.runs:
            self.status.setdefault(run.key, "pending")

    def summary(self) -> dict[str, int]:
        """How many runs are done, skipped, failed and pending."""
        counts = dict.fromkeys(STATUSES, 0)
        for status in self.status.values():
            counts[status] += 1
        return counts

    def failed(self) -> list[Path]:
        """The run directories of the runs that failed."""
        return [run.directory for run in self.sweep.runs if self.status[run.key] == "failed"]

    def note(self, outcome: Outcome) -> None:
        """Record how a run ended; a failure's traceback goes to failures/<config_hash>.txt."""
        self.status[outcome.key] = outcome.status
        path = self.sweep.directory() / FAILURES / f"{outcome.key}.txt"
        if outcome.status == "failed":
            self.errors[outcome.key] = outcome.error or "failed"
            atomic_write_bytes(path, (outcome.details or outcome.error or "").encode())
        else:
            self.errors.pop(outcome.key, None)
            path.unlink(missing_ok=True)

    def rows(self) -> list[dict[str, Any]]:
        """One entry per run, in the sweep's order (grid points, then seeds)."""
        directory = self.sweep.directory()
        return [{"run_directory": Path(os.path.relpath(run.directory, directory)).as_posix(), "config_hash": run.key,
                 "seed": run.seed, "grid": dict(run.grid), "status": self.status[run.key],
                 "error": self.errors.get(run.key)} for run in self.sweep.runs]


def write_record(record: Record) -> Path:
    """Write sweep.json and runs.csv into the sweep directory (atomically); the directory."""
    directory = record.sweep.directory()
    rows = record.rows()
    write_json(directory / RECORD, {"name": record.sweep.name, "grid": record.sweep.grid, "seeds": record.sweep.seeds,
                                    "executor": record.executor, "updated": now(), "summary": record.summary(),
                                    "runs": rows})
    table = pd.DataFrame([{k: v for k, v in row.items() if k != "grid"}
                          | {f"grid.{key}": _cell(value) for key, value in row["grid"].items()} for row in rows])
    write_csv(directory / TABLE, table)
    return directory


def _cell(value: Any) -> Any:
    """A grid value for a CSV cell: a list (several benchmarks in one run) as its YAML flow text."""
    return f"[{', '.join(map(str, value))}]" if isinstance(value, list) else value


__all__ = ["FAILURES", "RECORD", "Record", "RunStatus", "STATUSES", "TABLE", "write_record"]
