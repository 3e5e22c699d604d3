"""Resumable runs: a method's full training state after each task, checksummed, and the newest good one back.

These files are not `checkpoints.py`'s per-task masks: those are compact results kept for
analysis, while these hold everything training needs to go on (every score, optimiser state,
generators, buffers) and only the newest few are worth keeping.

A directory holds `state_task_XXX.safetensors` files and `manifest.json`, which lists each kept
file with its SHA-256, its size and the caller's `extra` (for the runner: the results so far).
Both are written atomically and the manifest last, so a crash leaves the previous manifest
pointing at complete files. A file that no longer matches its checksum is never loaded: the
previous task's checkpoint is used instead, with a warning naming the bad file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from supermasks import __version__
from supermasks.data.task import Task
from supermasks.runs import now, write_json
from supermasks.state import MethodState, StateMismatchError, capture_state, restore_state

MANIFEST = "manifest.json"
FORMAT = 1
_TREE_KEY = "supermasks_state"


class StateCheckpointError(RuntimeError):
    """A manifest exists but no checkpoint it lists can be trusted (or the manifest itself cannot)."""


class CheckpointWarning(UserWarning):
    """A listed checkpoint was skipped (corrupt, truncated, missing) or was written by another torch."""


class ResumePoint(NamedTuple):
    """Where a restored method stands: its last finished task and what the caller saved with it."""

    task_id: int
    extra: dict[str, Any]
    warnings: list[str]  # skipped newer checkpoints and other doubts, one line each
    path: Path


def state_file_name(task_id: int) -> str:
    return f"state_task_{task_id:03d}.safetensors"


def _is_ours(name: str) -> bool:
    """Whether a manifest entry names one of our files in the directory itself (never a path elsewhere)."""
    return re.fullmatch(r"state_task_\d{3,}\.safetensors", name) is not None


def save_state_checkpoint(directory: Path, task_id: int, method: Any, extra: dict[str, Any], *,
                          tasks: Sequence[Task] = (), keep: int | None = 2) -> Path:
    """Write `method`'s state after `task_id` and list it in the manifest with `extra` (JSON-able).

    `tasks` that the method holds (joint keeps every task seen) are stored by reference; pass
    the same tasks to `load_latest_state`. Checkpoints of later tasks, left by a run that fell
    back to an earlier one, are replaced. Only the newest `keep` files stay (None: all), so a
    corrupt newest file still has one to fall back to.
    """
    directory = Path(directory)
    if keep is not None and keep < 1:
        raise ValueError(f"keep must be at least 1 (or None for all), got {keep}")
    manifest = read_manifest(directory) or {"format": FORMAT, "method": method.name, "checkpoints": []}
    if manifest["method"] != method.name:
        raise StateMismatchError(f"{directory / MANIFEST} holds checkpoints of {manifest['method']!r}, "
                                 f"not of {method.name!r}")
    state = capture_state(method, tasks=tasks, copy=False)  # written out at once: no copy needed
    path = directory / state_file_name(task_id)
    size, digest = _write_state(path, state)
    entries = [e for e in manifest["checkpoints"] if e["task_id"] < task_id]
    entries.append({"task_id": task_id, "file": path.name, "sha256": digest, "bytes": size, "extra": extra,
                    "written": now(), "torch_version": torch.__version__, "supermasks_version": __version__})
    kept = entries if keep is None else entries[-keep:]
    write_json(directory / MANIFEST, {**manifest, "checkpoints": kept})
    # Only once the manifest no longer lists them: a listed file is never missing by our own doing.
    listed = {e["file"] for e in kept}
    for old in manifest["checkpoints"] + entries:
        if old["file"] not in listed and _is_ours(old["file"]):
            (directory / old["file"]).unlink(missing_ok=True)
    return path


def load_latest_state(directory: Path, method: Any, *, tasks: Sequence[Task] = (),
                      global_rng: bool = True) -> ResumePoint | None:
    """Restore the newest checkpoint that passes its checksum into `method` (freshly built); None without a manifest.

    Newer checkpoints that are missing, truncated or corrupt are skipped with a warning naming
    the file (also issued as a CheckpointWarning). StateCheckpointError when none is usable;
    StateMismatchError when a good file does not fit `method` (other settings or code).
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    if manifest is None or not manifest["checkpoints"]:
        return None
    if manifest["method"] != method.name:
        raise StateMismatchError(f"{directory / MANIFEST} holds checkpoints of {manifest['method']!r}, "
                                 f"not of {method.name!r}")
    skipped: list[str] = []
    for entry in sorted(manifest["checkpoints"], key=lambda e: e["task_id"], reverse=True):
        path = directory / entry["file"]
        try:
            state = _read_state(path, entry)
        except (OSError, ValueError) as error:
            skipped.append(f"{path}: {error}; skipped it")
            continue
        notes = []
        if entry.get("torch_version") != torch.__version__:
            notes.append(f"{path}: written with torch {entry.get('torch_version')}, running {torch.__version__}: "
                         "results may differ in the last bits from an uninterrupted run")
        restore_state(method, state, tasks=tasks, global_rng=global_rng)
        if skipped:
            skipped[-1] += f"; resumed from {path.name} (after task {entry['task_id']}) instead"
        for line in skipped + notes:
            warnings.warn(line, CheckpointWarning, stacklevel=2)
        return ResumePoint(entry["task_id"], entry["extra"], skipped + notes, path)
    raise StateCheckpointError(f"no usable checkpoint in {directory}: " + "; ".join(skipped))


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The manifest of `directory`, or None when there is none; StateCheckpointError when it is unreadable."""
    path = Path(directory) / MANIFEST
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        manifest = json.loads(text)
        if manifest.get("format") != FORMAT or not isinstance(manifest.get("checkpoints"), list):
            raise ValueError(f"not a format-{FORMAT} manifest")
        for entry in manifest["checkpoints"]:
            if not (isinstance(entry.get("task_id"), int) and isinstance(entry.get("file"), str)
                    and isinstance(entry.get("sha256"), str) and isinstance(entry.get("bytes"), int)):
                raise ValueError(f"an entry lacks its task id, file, checksum or size: {entry}")
    except (ValueError, AttributeError) as error:
        raise StateCheckpointError(f"{path} cannot be read ({error}); the checkpoints it lists cannot be "
                                   "checked, so none is used: move the directory aside to start afresh") from error
    return manifest


def _write_state(path: Path, state: MethodState) -> tuple[int, str]:
    """Write the safetensors file atomically; return its size and the SHA-256 of the bytes on disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        # Straight to the file, not via bytes in memory: a large state is not held twice.
        save_file(state.tensors, tmp, metadata={_TREE_KEY: json.dumps(state.tree)})
        with open(tmp, "rb") as fh:
            digest = _sha256(fh)
            os.fsync(fh.fileno())
        size = os.path.getsize(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return size, digest


def _read_state(path: Path, entry: dict[str, Any]) -> MethodState:
    """The state in `path` once its size and checksum match the manifest (OSError or ValueError otherwise)."""
    if not _is_ours(path.name) or path.name != entry["file"]:
        raise ValueError(f"the manifest names {entry['file']!r}, not a state file of this directory")
    if not path.is_file():
        raise FileNotFoundError("the file is missing")
    size = path.stat().st_size
    if size != entry["bytes"]:
        raise ValueError(f"{size} bytes, the manifest says {entry['bytes']} (truncated or overwritten)")
    with open(path, "rb") as fh:
        if _sha256(fh) != entry["sha256"]:
            raise ValueError("its SHA-256 does not match the manifest (the file is corrupt)")
    try:
        with safe_open(path, framework="pt") as fh:
            tree = json.loads(fh.metadata()[_TREE_KEY])
            tensors = {key: fh.get_tensor(key) for key in fh.keys()}  # noqa: SIM118 (a safe_open handle, not a dict)
    except Exception as error:  # it matched its checksum, so this is a writer's bug, but still unusable
        raise ValueError(f"cannot be parsed ({type(error).__name__}: {error})") from error
    return MethodState(tree, tensors)


def _sha256(fh: Any) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: fh.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()
