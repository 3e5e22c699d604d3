"""Whether the operating system can take a path, checked when a setting or option is read, before any work.

A path with a NUL byte, a component longer than the file system's name limit (NAME_MAX, 255 bytes on
Linux and macOS) or, made absolute, longer than its path limit (PATH_MAX, 4096 bytes on Linux) fails in
the middle of a command with a traceback; `path_problem` says so up front. `room` is what the command
will add below the path (a run directory's name and the deepest file it writes), so that a directory
that can be created but not filled is refused too.
"""

from __future__ import annotations

import os
from pathlib import Path

NAME_MAX = 255  # where os.pathconf cannot say (Windows)
PATH_MAX = 4096

# Below run.out_dir: a run, seeds, sweep or study directory's name (a name of at most 100 characters,
# `-seeds-` and an 8-digit hash) and the deepest file a run writes (a benchmark, a method, `state/blobs.alt/`,
# a SHA-256 file name, written first under a temporary name): about 250 bytes; twice that leaves a margin.
RUN_DIR_ROOM = 512


def _limit(path: str, name: str, fallback: int) -> int:
    """os.pathconf's `name` for the nearest existing directory of `path` (file systems differ), or `fallback`."""
    probe = os.path.abspath(path)
    while not os.path.isdir(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    try:
        return os.pathconf(probe, name)
    except (AttributeError, OSError, ValueError):  # no pathconf (Windows), or no limit for this name
        return fallback


def _shown(component: str) -> str:
    return component if len(component) <= 40 else f"{component[:20]}...{component[-12:]}"


def path_problem(path: str | os.PathLike[str], *, room: int = 0) -> str | None:
    """Why the operating system cannot take `path` (and `room` more bytes below it), or None when it can."""
    text = os.fspath(path)
    if "\0" in text:
        return "holds a NUL byte (\\0), which no path can hold"
    try:
        absolute = os.fsencode(os.path.abspath(text))
    except UnicodeError:
        return "holds characters that cannot be encoded in a file name here"
    name_max = _limit(text, "PC_NAME_MAX", NAME_MAX)
    for component in Path(text).parts:
        size = len(os.fsencode(component))
        if size > name_max:
            return (f"has a component of {size} bytes ({_shown(component)}); a file or directory name here takes "
                    f"at most {name_max} bytes")
    path_max = _limit(text, "PC_PATH_MAX", PATH_MAX)
    if len(absolute) + room >= path_max:
        needed = f" and {room} bytes for what is written inside it" if room else ""
        return (f"is {len(absolute)} bytes long as an absolute path; with the terminating byte{needed} that exceeds "
                f"the {path_max}-byte limit of paths here")
    return None


__all__ = ["NAME_MAX", "PATH_MAX", "RUN_DIR_ROOM", "path_problem"]
