"""A committed result's `version.json`: the command, the code it ran (package version, git commit, uncommitted
code files) and what the run cost on the machine that made it (wall and CPU seconds, peak resident set, threads)."""

from __future__ import annotations

from pathlib import Path

from supermasks.store.json_files import read_json

VERSION_FILE = "version.json"


def read_version(result_dir: Path) -> dict:
    """A committed result's version.json ({} when it has none)."""
    path = result_dir / VERSION_FILE
    return read_json(path) if path.is_file() else {}


__all__ = ["VERSION_FILE", "read_version"]
