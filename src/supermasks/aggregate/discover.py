"""Which directories are runs, and which of them have finished.

A run directory holds `meta.json` (its status) and `config.yaml`. A sweep directory (written by
`supermasks sweep`) holds `sweep.json`, which lists its runs (paths relative to it) and the error
of each run that failed. Any other directory named on the command line is searched one level down
for run directories (`runs/`). A run whose status is not `finished` (running, interrupted,
diverged, failed in a sweep, not reached, or unreadable) is listed with the reason and left out,
never silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from supermasks.store.json_files import read_json
from supermasks.store.rundir import read_meta_checked

SWEEP_FILE = "sweep.json"

# What a status that is not `finished` means for the run's results (a line of the warning that skips it).
UNFINISHED = {"running": "unfinished: killed, or still running; `supermasks run` on its config resumes it",
              "interrupted": "unfinished: stopped before its last task; `supermasks run` on its config resumes it"}


@dataclass(frozen=True)
class Skipped:
    """A run left out of the tables, and why (`status` as meta.json says, or what could not be read)."""

    directory: Path
    reason: str


@dataclass
class Listing:
    """Finished run directories in the order found, and the runs left out."""

    finished: list[Path] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def is_run_directory(path: Path) -> bool:
    """True when `path` holds a run's `meta.json` or `config.yaml`."""
    return (path / "meta.json").is_file() or (path / "config.yaml").is_file()


def run_status(directory: Path) -> str | None:
    """Why the run in `directory` cannot be aggregated, or None when it finished."""
    meta, problem = read_meta_checked(directory)
    if problem is not None:
        return problem
    if meta is None:
        return "no meta.json: the run never started"
    status = meta.get("status")
    if status != "finished":
        error = meta.get("error")
        why = error or UNFINISHED.get(status)
        return f"status {status}" + (f": {why}" if why else "")
    if not (directory / "config.yaml").is_file():
        return "no config.yaml"
    return None


def sweep_runs(directory: Path) -> list[tuple[Path, str | None]]:
    """The runs `directory/sweep.json` lists: (run directory, why the sweep did not finish it, or None).

    ValueError naming the file when it cannot be read.
    """
    path = directory / SWEEP_FILE
    try:
        listed = read_json(path)["runs"]
        runs = [(Path(os.path.normpath(directory / item["run_directory"])), item.get("status"), item.get("error"))
                for item in listed]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} cannot be read ({type(error).__name__}: {error})") from None
    found = []
    for run_dir, status, error in runs:
        if status == "failed":
            found.append((run_dir, f"failed in the sweep: {error or 'no error recorded'}"))
        elif status == "pending":
            found.append((run_dir, "not run: the sweep stopped before it"))
        else:
            found.append((run_dir, None))
    return found


def _candidates(path: Path) -> list[tuple[Path, str | None]]:
    if is_run_directory(path):
        return [(path, None)]
    if (path / SWEEP_FILE).is_file():
        return sweep_runs(path)
    found = [(p, None) for p in sorted(path.iterdir()) if p.is_dir() and is_run_directory(p)]
    if not found:
        raise FileNotFoundError(f"{path} is no run directory and holds none (a run directory has meta.json and "
                                f"config.yaml; a sweep directory has {SWEEP_FILE}){_instead(path)}")
    return found


def _instead(path: Path) -> str:
    """What to pass instead of `path`, a directory without runs: its run, or the directory beside it with runs."""
    absolute = Path(os.path.abspath(path))
    run = next((p for p in absolute.parents if is_run_directory(p)), None)
    if run is not None:
        return f"; it is inside the run directory {run}: pass that"
    parent = absolute.parent
    if (path / "study.csv").is_file():
        return (f"; it is a study's directory, and its runs are beside it in {parent}: pass that directory to "
                f"aggregate every run there, or `supermasks report {path}` for the study's own tables")
    if (path / "study.json").is_file():
        return (f"; it is an Experiment 2 (transfer study) directory, whose results are its own tables "
                f"(summary.csv): `supermasks report {path}` shows them")
    try:
        beside = any(p.is_dir() and is_run_directory(p) for p in parent.iterdir())
    except OSError:  # a parent we may not list: no hint
        beside = False
    return f"; its parent {parent} holds runs: pass that" if beside else ""


def find_runs(paths: Iterable[Path]) -> Listing:
    """The run directories among `paths`, each once, finished or not (with the reason).

    A path that is a run directory is taken as it is, a sweep directory gives the runs its
    `sweep.json` lists, and any other directory its sub-directories that are run directories (in
    name order). A path that is none of these raises FileNotFoundError naming it.
    """
    listing = Listing()
    seen: set[Path] = set()
    for path in map(Path, paths):
        if not path.is_dir():
            raise FileNotFoundError(f"{path} is not a directory")
        for directory, reason in _candidates(path):
            key = directory.resolve()
            if key in seen:
                continue
            seen.add(key)
            reason = reason or run_status(directory)
            if reason is None:
                listing.finished.append(directory)
            else:
                listing.skipped.append(Skipped(directory, reason))
    return listing
