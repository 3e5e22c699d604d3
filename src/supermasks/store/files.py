"""Atomic file writes: a crash leaves the old file or the new one, never half of either."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import yaml

from supermasks.store.temporaries import temporary_path


def atomic_write_bytes(path: Path, data: bytes | memoryview) -> None:
    """Write via a temporary file in the same directory, fsync it, rename it over `path`, fsync the directory.

    A crash leaves either the old file or the new one, never a half-written file; once this
    returns, the new file and its name survive a power loss. The file gets the usual permissions
    (0o666 less the umask), as `open` would give it.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temporary(path)
    except OSError as exc:
        raise _naming(exc, path) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _naming(exc, path) from None
        raise
    _fsync_directory(path.parent)


def _naming(exc: OSError, path: Path) -> OSError:
    """`exc` naming `path`, the file the caller asked for (a failed write of the open temporary names
    nothing; a failed create names the temporary), so that the error says which file could not be written."""
    if exc.errno is None:
        return exc
    return type(exc)(exc.errno, exc.strerror or os.strerror(exc.errno), str(path))


def sync_file(path: Path) -> None:
    """fsync a file that another library wrote and renamed into place, and its directory."""
    path = Path(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    _fsync_directory(path.parent)


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new hidden file beside `path`, opened for writing (unlike `mkstemp`, it honours the umask), named for
    this process (`temporaries.temporary_path`) so that the next start can remove it if this process is killed."""
    while True:
        tmp = temporary_path(path)
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:  # a leftover of a crashed write with the same random name
            continue


def create_temporary(path: Path) -> tuple[int, Path]:
    """(an open descriptor, its path) of a new temporary file beside `path`, for a writer that renames it into place
    itself (a download); the caller deletes it if it does not finish."""
    return _create_temporary(Path(path))


def _fsync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable; platforms that cannot open or sync a directory skip it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # Windows cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse to sync a directory
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    """Write `obj` as strict JSON: NaN and infinities (numpy's too) become null, which every parser reads."""
    atomic_write_text(path, json.dumps(_strict(obj), indent=2, sort_keys=True, allow_nan=False, default=_jsonable) + "\n")


def write_yaml(path: Path, obj: Any) -> None:
    atomic_write_text(path, yaml.safe_dump(obj, sort_keys=False))


def write_csv(path: Path, frame: "Any") -> None:
    """Write a pandas DataFrame as CSV atomically (no index column)."""
    atomic_write_text(path, frame.to_csv(index=False))


def _strict(value: Any) -> Any:
    """`value` with every non-finite float replaced by None, through dicts, lists, tuples and numpy/torch values."""
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    if isinstance(value, (str, bytes, bool, int)) or value is None:
        return value
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if hasattr(value, "tolist"):  # numpy/torch arrays and scalars (a scalar's tolist is a Python number)
        return _strict(value.tolist())
    if hasattr(value, "item"):
        return _strict(value.item())
    return value


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy and torch scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
