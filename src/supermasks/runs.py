"""Run directories: naming, atomic file writes, the resolved config and the run's metadata."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from supermasks import __version__
from supermasks.config import NOT_IDENTITY, ConfigError, ExperimentConfig, to_dict

LOCK = "run.lock"


class RunLockedError(ConfigError):
    """Another live process is writing the same run directory."""


def config_hash(config: ExperimentConfig) -> str:
    """Short hash of everything that decides the results (not where they are written)."""
    identity = {k: v for k, v in to_dict(config).items() if k not in NOT_IDENTITY}
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:8]


def run_directory(config: ExperimentConfig) -> Path:
    """`<out_dir>/<name>-<hash>`: the same config always maps to the same directory."""
    return Path(config.out_dir) / f"{config.name}-{config_hash(config)}"


def atomic_write_bytes(path: Path, data: bytes | memoryview) -> None:
    """Write via a temporary file in the same directory, fsync, then rename over `path`.

    A crash leaves either the old file or the new one, never a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


def write_yaml(path: Path, obj: Any) -> None:
    atomic_write_text(path, yaml.safe_dump(obj, sort_keys=False))


def write_csv(path: Path, frame: "Any") -> None:
    """Write a pandas DataFrame as CSV atomically (no index column)."""
    atomic_write_text(path, frame.to_csv(index=False))


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy and torch scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _git_sha() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def collect_meta(config: ExperimentConfig) -> dict[str, Any]:
    """Provenance of a run: code version, library versions, seed, machine, start time."""
    import numpy
    import torch

    return {
        "status": "running",
        "git_sha": _git_sha(),
        "supermasks_version": __version__,
        "torch_version": torch.__version__,
        "numpy_version": numpy.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "seed": config.seed,
        "config_hash": config_hash(config),
        "started": now(),
    }


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_meta(run_dir: Path) -> dict[str, Any] | None:
    """The run's meta.json, or None when there is none (or it cannot be read)."""
    try:
        return json.loads((Path(run_dir) / "meta.json").read_text())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@contextmanager
def run_lock(directory: Path, log: "Any" = print) -> Iterator[Path]:
    """Hold `directory/run.lock` while writing the run; refuse if a live process holds it.

    The lock is created with O_EXCL, so of two processes starting together exactly one gets it.
    A lock left by a process that no longer exists on this machine (killed, power loss) is taken
    over with a note; one held by a live process, or written on another host (which cannot be
    checked from here), is an error naming the holder and the file to remove if it is stale.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK
    mine = {"pid": os.getpid(), "host": socket.gethostname(), "started": now()}
    for attempt in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = json.loads(path.read_text())
                pid, host = int(holder["pid"]), str(holder["host"])
            except (OSError, ValueError, KeyError, TypeError):
                holder, pid, host = {}, -1, "?"
            if attempt == 0 and host == mine["host"] and not _alive(pid):
                log(f"{path}: taking over the lock of process {pid}, which no longer runs")
                path.unlink(missing_ok=True)
                continue
            raise RunLockedError(f"{directory} is being written by process {pid} on {host} (since "
                                 f"{holder.get('started', '?')}); wait for it to finish, or delete {path} "
                                 f"if that process is gone") from None
        with os.fdopen(fd, "w") as fh:
            json.dump(mine, fh)
        break
    try:
        yield path
    finally:
        try:
            if json.loads(path.read_text()).get("pid") == mine["pid"]:
                path.unlink()
        except (OSError, ValueError):
            pass
