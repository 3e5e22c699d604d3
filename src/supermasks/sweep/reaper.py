"""Ends the local Ray a sweep started when the sweep itself is killed outright (SIGKILL, the out-of-memory killer).

A sweep stopped by Ctrl-C or SIGTERM shuts its Ray down itself. Killed outright it cannot, and
while Ray's head processes die with it (Ray ties them to the process that started them) and its
workers follow within seconds, two agents of each node wait about a minute on the dead head before
they exit. So the sweep starts a small process, in its own session, that reads from a pipe the
processes started below the sweep since Ray was started (directly or not) and, when the pipe
closes without the sweep saying `stop` first (it was killed), kills those still alive. A process is
named by its id and start time, so a reused id is never killed; one that was there before Ray
started is never named. Linux only (it reads /proc); elsewhere nothing is started.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROC = Path("/proc")

# The reaper's whole program: lines `pid start_time` until `stop` (the sweep ended by itself: nothing to do)
# or the end of input (the sweep was killed), then SIGKILL to each one still alive with the same start time.
# `python -I -c` runs it without site-packages: it starts in milliseconds.
REAPER = """
import os, signal, sys
seen = {}
for line in sys.stdin:
    if line.strip() == "stop":
        sys.exit(0)
    pid, start = line.split()
    seen[int(pid)] = start
for pid, start in seen.items():
    try:
        with open(f"/proc/{pid}/stat") as f:
            now = f.read().rpartition(")")[2].split()[19]
        if now == start:
            os.kill(pid, signal.SIGKILL)
    except (OSError, IndexError):
        pass
"""


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent id, start time in clock ticks) of `pid` from /proc, or None where it is gone."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return int(fields[1]), fields[19]


def descendants(root: int) -> dict[int, str]:
    """Every live process below `root`: id -> start time."""
    children: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            children.setdefault(stat[0], []).append(int(entry.name))
            starts[int(entry.name)] = stat[1]
    found: dict[int, str] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid not in found:
            found[pid] = starts[pid]
            todo.extend(children.get(pid, []))
    return found


class Reaper:
    """The reaper process, started before Ray; `watch()` tells it the processes started below this one since,
    `close()` ends it without killing anything."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        if not PROC.is_dir():
            return
        self._told: set[int] = set(descendants(os.getpid()))  # not Ray's: never named
        self._process = subprocess.Popen([sys.executable, "-I", "-c", REAPER], stdin=subprocess.PIPE, text=True,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         start_new_session=True)  # a Ctrl-C or a kill of our group spares it

    def watch(self) -> None:
        """Tell the reaper the processes started below this one since the last call."""
        if self._process is None or self._process.stdin is None:
            return
        new = {pid: start for pid, start in descendants(os.getpid()).items()
               if pid not in self._told and pid != self._process.pid}
        if new:
            try:
                self._process.stdin.write("".join(f"{pid} {start}\n" for pid, start in new.items()))
                self._process.stdin.flush()
            except OSError:  # the reaper is gone (killed): nothing to tell
                return
            self._told.update(new)

    def close(self, timeout: float = 10.0) -> None:
        """End the reaper (the sweep has shut its Ray down): it exits and kills nothing."""
        if self._process is None:
            return
        try:
            if self._process.stdin is not None:
                self._process.stdin.write("stop\n")
                self._process.stdin.close()
        except OSError:
            pass
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


__all__ = ["REAPER", "Reaper", "descendants"]
