"""One writer per run directory: a lock file naming its holder."""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from supermasks.errors import ConfigError
from supermasks.store.rundir import now

LOCK = "run.lock"
log = logging.getLogger(__name__)


class RunLockedError(ConfigError):
    """Another live process is writing the same run directory."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@contextmanager
def run_lock(directory: Path) -> Iterator[Path]:
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
                log.info("%s: taking over the lock of process %d, which no longer runs", path, pid)
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
