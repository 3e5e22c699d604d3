"""Which directories are runs, and which of them have finished.

A run directory holds `meta.json` (its status) and `config.yaml`. Anything else named on the
command line is searched one level down for run directories: a directory of runs (`runs/`) or a
sweep directory. A run whose status is not `finished` (running, interrupted, diverged, failed, or
unreadable) is listed with the reason and left out, never silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from supermasks.store.rundir import read_meta_checked


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
        return f"status {status}" + (f": {error}" if error else "")
    if not (directory / "config.yaml").is_file():
        return "no config.yaml"
    return None


def find_runs(paths: Iterable[Path]) -> Listing:
    """The run directories among `paths` and their sub-directories, each once, finished or not.

    A path that is a run directory is taken as it is; otherwise its sub-directories that are run
    directories are (in name order). A path that is neither raises FileNotFoundError naming it.
    """
    listing = Listing()
    seen: set[Path] = set()
    for path in map(Path, paths):
        if not path.is_dir():
            raise FileNotFoundError(f"{path} is not a directory")
        found = [path] if is_run_directory(path) else sorted(p for p in path.iterdir()
                                                              if p.is_dir() and is_run_directory(p))
        if not found:
            raise FileNotFoundError(f"{path} is no run directory and holds none (a run directory has meta.json "
                                    f"and config.yaml)")
        for directory in found:
            key = directory.resolve()
            if key in seen:
                continue
            seen.add(key)
            reason = run_status(directory)
            if reason is None:
                listing.finished.append(directory)
            else:
                listing.skipped.append(Skipped(directory, reason))
    return listing
