"""Temporary files named for the process that writes them, and the removal of those a killed process left behind.

Every temporary file of the package (atomic writes, checkpoints, downloads) is a hidden name beside
its target: `.<target>.<pid>-<owner>-<random>.tmp`, where `owner` is a short hash of the host name
and the process's PID namespace. A process that is killed outright (SIGKILL, out of memory, power
loss) cannot delete its temporary, so the next start removes it: only a name of exactly that
shape, and only when its process is known to be gone, that is

- its owner tag is this machine's (same host, same PID namespace, so its PID means the same here)
  and no process with its PID runs (a reused PID keeps the file: the safe side); or
- it comes from another machine sharing the folder, whose processes cannot be seen from here, and
  nobody has written to it for `STALE_AFTER_S` (a live writer renames its temporary within moments,
  and a download writes to its temporary all along).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
import time
from pathlib import Path

SUFFIX = ".tmp"
STALE_AFTER_S = 24 * 3600  # another machine's temporary untouched this long is not being written
_NAME = re.compile(r"\.(?P<target>.+)\.(?P<pid>[0-9]+)-(?P<owner>[0-9a-f]{8})-[0-9a-f]{12}\.tmp")


def _pid_namespace() -> str:
    try:  # Linux: containers on one host have their own PID numbers, and their own namespace here
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _owner() -> str:
    """8 hex digits naming this machine and PID namespace: where a PID in a temporary's name can be checked."""
    return hashlib.sha256(f"{socket.gethostname()}\0{_pid_namespace()}".encode()).hexdigest()[:8]


def temporary_path(path: Path) -> Path:
    """A fresh hidden name beside `path` for this process's temporary copy of it."""
    path = Path(path)
    return path.parent / f".{path.name}.{os.getpid()}-{_owner()}-{secrets.token_hex(6)}{SUFFIX}"


def process_alive(pid: int) -> bool:
    """Whether a process with this PID runs on this machine (one of another user counts)."""
    if pid <= 0 or os.name == "nt":
        # 0 and negative numbers name process groups, never a writer; on Windows os.kill would stop the process
        # rather than look for it: keep the file
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    except OverflowError:  # a PID no system has: not a process of this machine
        return False
    return True


def is_stale(path: Path) -> bool:
    """Whether `path` is a temporary of this package's naming whose process is gone (see the module's docstring)."""
    found = _NAME.fullmatch(Path(path).name)
    if found is None:
        return False
    if found["owner"] == _owner():
        return int(found["pid"]) != os.getpid() and not process_alive(int(found["pid"]))
    try:
        return time.time() - Path(path).lstat().st_mtime > STALE_AFTER_S
    except OSError:
        return False


def remove_stale(directory: Path, *, recursive: bool = False) -> list[Path]:
    """Delete the stale temporaries (`is_stale`) in `directory` (and its subfolders if `recursive`); return them.

    Only regular files are removed; a folder that cannot be listed, or a file another process
    removes first, is passed over quietly: the next start tries again.
    """
    removed: list[Path] = []
    directory = Path(directory)
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    removed.extend(remove_stale(Path(entry.path), recursive=True))
            elif entry.is_file(follow_symlinks=False) and is_stale(Path(entry.path)):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def remove_stale_of(path: Path) -> list[Path]:
    """Delete the stale temporaries of the one file `path` (a report written into a folder of the user's, where
    nothing else is this command's to clean); return them."""
    path = Path(path)
    removed = []
    for candidate in path.parent.glob(f".{path.name}.*{SUFFIX}"):
        found = _NAME.fullmatch(candidate.name)
        try:
            if found is not None and found["target"] == path.name and candidate.is_file() and is_stale(candidate):
                candidate.unlink()
                removed.append(candidate)
        except OSError:
            continue
    return removed


__all__ = ["STALE_AFTER_S", "SUFFIX", "is_stale", "process_alive", "remove_stale", "remove_stale_of",
           "temporary_path"]
