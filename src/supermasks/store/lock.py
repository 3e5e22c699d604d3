"""One writer per run directory: the kernel's advisory lock on `run.lock`, which names its holder."""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from supermasks.errors import ConfigError
from supermasks.store.json_files import loads_json, read_json
from supermasks.store.rundir import now

try:
    import fcntl
except ImportError:  # not a POSIX system: only the lock-file scheme is left
    fcntl = None  # type: ignore[assignment]

LOCK = "run.lock"
FALLBACK = "run.lock.excl"  # the lock file of the O_EXCL scheme, where the file system has no flock
log = logging.getLogger(__name__)

# What flock raises on a file system that does not implement it (some network and FUSE file systems).
_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS}


class RunLockedError(ConfigError):
    """Another live process is writing the same run directory."""


def _holder(text: str) -> str:
    """`process 123 on host-a (since 2026-...)` from a lock file's text, or what could be read of it."""
    try:
        holder = loads_json(text)
        return f"process {int(holder['pid'])} on {holder['host']} (since {holder.get('started', '?')})"
    except (ValueError, KeyError, TypeError):
        # Empty: the holder took the lock a moment ago and has not written its name yet.
        return "another process (it has not written its name into the lock file yet)"


@contextmanager
def run_lock(directory: Path) -> Iterator[Path]:
    """Hold an exclusive lock on `directory/run.lock` while writing the run; refuse if another process holds it.

    The lock is the kernel's (`flock`), so it is released when its process ends however it ends
    (killed, out of memory, power loss: then by the file server), and it is seen by every process
    on every machine whose file system honours flock. What the file says is only for the message:
    a file left behind by a dead process, by a process on another machine, or with a reused PID,
    an empty or unreadable file: all are simply locked again. The file is never deleted: deleting
    a locked file would let a second process lock a new file of the same name. Where the file
    system has no flock, a lock file created with O_EXCL stands in (with a warning).
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK
    fd = _flock(directory, path) if fcntl is not None else "flock is not available on this system"
    if isinstance(fd, str):
        with _exclusive_file_lock(directory, fd):
            yield path
        return
    try:
        mine = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": now()}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, mine, 0)
        os.fsync(fd)
        yield path
    finally:
        try:
            os.ftruncate(fd, 0)  # nobody holds it now: a reader finds no name
        except OSError:
            pass
        os.close(fd)  # releases the lock


def _flock(directory: Path, path: Path) -> int | str:
    """The open, locked `path` (its descriptor), or why flock cannot be used here; RunLockedError when held."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by child processes (PEP 446)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
            os.close(fd)
            raise RunLockedError(
                f"{directory} is being written by {_holder(text)}; wait for it to finish or stop that process: the "
                f"lock is released as soon as it ends, however it ends (on a file system without locks, see "
                f"'What can go wrong' in docs/run-directories.md)") from None
        except OSError as exc:
            os.close(fd)
            if exc.errno not in _UNSUPPORTED:
                raise
            return f"this file system does not support flock ({exc.strerror})"
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # the file was replaced (deleted by hand) between open and flock: lock the one there now


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@contextmanager
def _exclusive_file_lock(directory: Path, why: str) -> Iterator[None]:
    """The stand-in without flock: `run.lock.excl` created with O_EXCL, deleted on release.

    Of two processes starting together exactly one creates the file. One left by a process that no
    longer runs on this machine is taken over; one from another host cannot be checked from here,
    so the message says to delete it when that run is gone.
    """
    path = directory / FALLBACK
    log.warning("%s: %s; guarding the run with %s instead, which a killed run leaves behind (delete it by hand "
                "when no run is writing this directory)", directory, why, path)
    mine = {"pid": os.getpid(), "host": socket.gethostname(), "started": now()}
    for attempt in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            text = ""
            try:
                text = path.read_text(errors="replace")
                holder = loads_json(text)
                pid, host = int(holder["pid"]), str(holder["host"])
            except (OSError, ValueError, KeyError, TypeError):
                pid, host = -1, "?"
            if attempt == 0 and host == mine["host"] and not _alive(pid):
                log.info("%s: taking over the lock of process %d, which no longer runs", path, pid)
                path.unlink(missing_ok=True)
                continue
            raise RunLockedError(f"{directory} is being written by {_holder(text)}; "
                                 f"wait for it to finish, or delete {path} if that process is gone (this file "
                                 f"system has no flock, so a killed run leaves its lock file behind)") from None
        with os.fdopen(fd, "w") as fh:
            json.dump(mine, fh)
        break
    try:
        yield
    finally:
        try:
            if read_json(path).get("pid") == mine["pid"]:
                path.unlink()
        except (OSError, ValueError):
            pass
