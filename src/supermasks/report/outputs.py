"""Where `report` and `aggregate` may write: never over a file they read, nor into a run, sweep or study.

A run, sweep or study directory belongs to the command that made it. Another command writes there only
its own output under its own name: `report.html` (the report) in any of them, `aggregate/` (the tables)
in a sweep or study directory, which is where each is written by default. Every other path inside one is refused,
and so is an existing directory where the report (one file) goes, an existing file that is not a report
where the report goes, and an existing file where the tables (a directory) go. Paths are compared after
resolving symbolic links and `..`, so neither leads around the check; nothing is written when it fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from supermasks.errors import ConfigError
from supermasks.config.pathnames import path_problem

# What marks a directory as another command's (checked in this order: a transfer study also has meta.json).
SWEEP_MARK = "sweep.json"
TRANSFER_MARK = "study.json"
STUDY_MARK = "study.csv"
RUN_MARKS = ("meta.json", "config.yaml")
REPORT_MARK = b"supermasks report</title>"  # in the <head> of every page `report.render` writes


@dataclass(frozen=True)
class Output:
    """What a command writes: a file or a directory, its name inside the directories where it belongs."""

    what: str
    is_directory: bool
    own_name: str
    belongs_in: frozenset[str]  # the kinds of directory where `own_name` is this command's place
    room: int  # bytes the command adds below the path (file names inside a directory output)


REPORT = Output("the report", False, "report.html", frozenset({"run", "sweep", "study", "transfer study"}), 0)
AGGREGATE = Output("the aggregate's tables", True, "aggregate", frozenset({"sweep", "study"}), 64)


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(path))


def check_inputs(paths: Iterable[Path]) -> None:
    """Raise ConfigError (one line) for a PATH argument that no file system can take (a name too long)."""
    for path in paths:
        problem = path_problem(path)
        if problem:
            raise ConfigError(f"cannot read {path}: the path {problem}")


def read_directories(paths: Iterable[Path]) -> set[Path]:
    """The directories a report or an aggregate of `paths` reads: each path and every run found in it or
    listed by it (resolved). FileNotFoundError, as the command itself would raise, for a path that is no
    directory of runs; an unreadable sweep.json or study.csv adds its directory only (the command says why)."""
    from supermasks.aggregate.discover import find_runs
    from supermasks.report.source import is_study_directory, study_runs

    found = set()
    for path in map(Path, paths):
        found.add(_resolved(path))
        try:
            runs = study_runs(path) if is_study_directory(path) else []
            listing = find_runs(runs or [path])
        except (ValueError, KeyError):  # an unreadable sweep.json or study.csv
            continue
        found.update(_resolved(p) for p in [*listing.finished, *(s.directory for s in listing.skipped)])
    return found


def directory_kind(directory: Path, reads: set[Path] = frozenset()) -> str | None:
    """"run", "sweep", "study" or "transfer study" when `directory` is one (a directory among `reads` that
    holds a run's meta.json or config.yaml counts as a run, damaged or not), else None."""
    if (directory / SWEEP_MARK).is_file():
        return "sweep"
    if (directory / TRANSFER_MARK).is_file():
        return "transfer study"
    if (directory / STUDY_MARK).is_file():
        return "study"
    marks = [(directory / name).is_file() for name in RUN_MARKS]
    if all(marks) or (any(marks) and directory in reads):
        return "run"
    return None


def _is_report(path: Path) -> bool:
    """True for an empty file or a page written by `supermasks report` (its title says so)."""
    with open(path, "rb") as fh:
        head = fh.read(8192)
    return not head or REPORT_MARK in head


def check_output(out: Path, output: Output, reads: Iterable[Path] = ()) -> None:
    """Raise ConfigError (one line: the path, why, what to do) unless `output` may be written to `out`.

    `reads` are the directories the command reads (`read_directories`); anything inside them that is a
    run is protected even when damaged.
    """
    out = Path(out)
    problem = path_problem(out, room=output.room)
    if problem:
        raise ConfigError(f"cannot write {output.what} to {out}: the path {problem}; give -o another path")
    resolved = _resolved(out)
    shown = f"{out}" + (f" (that is {resolved})" if os.path.abspath(out) != str(resolved) else "")
    where = f"cannot write {output.what} to {shown}"
    reads = {_resolved(p) for p in reads}
    for directory in ([resolved] if output.is_directory else []) + list(resolved.parents):
        kind = directory_kind(directory, reads)
        if kind is None:
            continue
        own = directory / output.own_name
        if resolved == own and kind in output.belongs_in:
            continue
        place = f"the {kind} directory {directory} itself" if directory == resolved else \
            f"inside the {kind} directory {directory}"
        instead = f"{own} (its place there) or a path outside it" if kind in output.belongs_in else \
            "a path outside it"
        raise ConfigError(f"{where}: that is {place}, whose files no other command may replace; give -o {instead}")
    if resolved.is_dir() and not output.is_directory:
        raise ConfigError(f"{where}: it is a directory, and the report is one HTML file; give -o a file name "
                          f"such as {out / output.own_name}")
    if resolved.exists() and not resolved.is_dir():
        if not resolved.is_file():  # a device or pipe: not read (it could block), never replaced
            raise ConfigError(f"{where}: it is no regular file; give -o a file name")
        if output.is_directory:
            raise ConfigError(f"{where}: it is a file, and the tables go into a directory; give -o a directory "
                              "(a new one, or an earlier aggregate's)")
        if not _is_report(resolved):
            raise ConfigError(f"{where}: the file exists and is no supermasks report; remove it yourself or give "
                              "-o another file name")
    given = Path.cwd() / out  # as written: `notes.txt/..` resolves to a directory, but no write gets through it
    for parent in [*reversed(given.parents), *resolved.parents]:
        if os.path.lexists(parent) and not parent.is_dir():
            raise ConfigError(f"{where}: {parent} is a file, not a directory; give -o a path in a directory")


__all__ = ["AGGREGATE", "REPORT", "Output", "check_inputs", "check_output", "directory_kind", "read_directories"]
