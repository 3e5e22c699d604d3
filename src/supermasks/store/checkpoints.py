"""Resumable runs: a method's full training state after each task, checksummed, and the newest good one back.

These files are not `masks.py`'s per-task masks: those are compact results kept for
analysis, while these hold everything training needs to go on (every score, optimiser state,
generators, buffers) and only the newest few are worth keeping.

A directory holds `manifest.json`, one small index per kept checkpoint
(`state_task_XXX.safetensors`: the description of the state, the caller's `extra` and the small
tensors) and two blob folders, `blobs/` and `blobs.alt/`, where each larger tensor is stored
under the SHA-256 of its bytes. Earlier tasks' scores and fixed weights do not change, so a save
points at the blobs already in its folder instead of writing them again. The manifest lists each
index with its SHA-256 and size, the blobs it needs and which folder holds them.

The rule that keeps every kept checkpoint restorable on its own: consecutive checkpoints never
share a file. Each save puts its blobs in the folder the previous kept checkpoint does not use
(the folders alternate), so a blob both need exists twice, and each checkpoint has its own index.
A single damaged file (index, blob, or the manifest, see below) can therefore spoil at most one
of the two kept checkpoints, and the other one is used. The price: blobs take twice the disk,
and a save writes what changed since the checkpoint two saves back (about two tasks' worth).

Every file is written atomically, blobs and index before the manifest, and nothing the previous
manifest lists is deleted before the new one is in place, so a crash leaves the previous manifest
pointing at complete files. Everything read back is checked against its checksum; a checkpoint
with a bad index or blob is never loaded: the previous task's is used instead, with a warning
naming the bad file.

Each index also records what its manifest entry holds (task, blobs and their sizes, folder) and a
SHA-256 of its own contents. A missing or unreadable manifest is rebuilt from the index files
present that pass that check (with a warning naming the manifest), so it is no single point of
failure either. When no checkpoint is usable, `StateCheckpointError` (a `ConfigError`: one line
from the command line) says what was found and that `--force` starts afresh.

The index and blob files are `checkpoint_files`'; the manifest, and its rebuilding, `checkpoint_manifest`'s.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch

from supermasks import __version__
from supermasks.store import blobs as _blobs
from supermasks.store.checkpoint_files import (BLOB_FOLDERS, FORMAT, _is_ours, _read_checkpoint, _store_blobs,
                                               _write_index, state_file_name)
from supermasks.store.checkpoint_manifest import MANIFEST, StateCheckpointError, _manifest_or_rebuilt
from supermasks.store.files import write_json
from supermasks.store.rundir import now
from supermasks.store.state import Stateful, StateMismatchError, capture_state, restore_state


class CheckpointWarning(UserWarning):
    """A listed checkpoint was skipped (corrupt, truncated, missing) or was written by another torch."""


class ResumePoint(NamedTuple):
    """Where a restored method stands: its last finished task and what the caller saved with it."""

    task_id: int
    extra: dict[str, Any]
    warnings: list[str]  # skipped newer checkpoints and other doubts, one line each
    path: Path


def save_state_checkpoint(directory: Path, task_id: int, method: Stateful, extra: dict[str, Any], *,
                          tasks: Sequence[object] = (), keep: int | None = 2) -> Path:
    """Write `method.state_dict()` after `task_id` with `extra` (JSON-able), list it in the manifest; return the index.

    `tasks` is ignored (a method's state holds whatever data it keeps); it stays for callers
    that still pass it. Checkpoints of later tasks, left by a run that fell back to an earlier
    one, are replaced. Only the newest `keep` checkpoints stay (None: all), so
    a corrupt newest one still has one to fall back to; blobs none of them needs are deleted.
    """
    directory = Path(directory)
    if keep is not None and keep < 1:
        raise ValueError(f"keep must be at least 1 (or None for all), got {keep}")
    manifest, _ = _manifest_or_rebuilt(directory)
    manifest = manifest or {"format": FORMAT, "method": method.name, "checkpoints": []}
    if manifest["method"] != method.name:
        raise StateMismatchError(f"{directory / MANIFEST} holds checkpoints of {manifest['method']!r}, "
                                 f"not of {method.name!r}")
    entries = [e for e in manifest["checkpoints"] if e["task_id"] < task_id]
    # Not the folder of the previous checkpoint: the two then share no file (see the module docstring).
    blob_set = 1 - entries[-1].get("blob_set", 0) if entries else 0
    state = capture_state(method, copy=False)  # written out at once: no copy needed
    refs = _store_blobs(directory / BLOB_FOLDERS[blob_set], state.tensors)
    path = directory / state_file_name(task_id)
    described = {"format": FORMAT, "method": method.name, "task_id": task_id, "blob_set": blob_set,
                 "blobs": {d: state.tensors[k].nbytes for k, d in refs.items()}, "written": now(),
                 "torch_version": torch.__version__, "supermasks_version": __version__}
    size, digest = _write_index(path, state, refs, extra, described)
    entries.append({"task_id": task_id, "file": path.name, "sha256": digest, "bytes": size,
                    **{k: described[k] for k in ("blobs", "blob_set", "written", "torch_version", "supermasks_version")}})
    kept = entries if keep is None else entries[-keep:]
    write_json(directory / MANIFEST, {"format": FORMAT, "method": method.name, "checkpoints": kept})
    # Only once the manifest no longer lists them: a listed file is never missing by our own doing.
    _prune(directory, manifest["checkpoints"] + entries, kept)
    return path


def load_latest_state(directory: Path, method: Stateful, *, tasks: Sequence[object] = (),
                      global_rng: bool = True) -> ResumePoint | None:
    """Restore the newest checkpoint whose files all pass their checksums into `method` (freshly built).

    `tasks` is ignored, as in `save_state_checkpoint`.
    None when the directory holds no checkpoint at all. Newer checkpoints with a missing,
    truncated or corrupt index or blob are skipped with a warning naming the file (also issued as
    a CheckpointWarning); a missing or unreadable manifest is rebuilt from the index files.
    StateCheckpointError when checkpoints exist but none is usable; StateMismatchError when a good
    checkpoint does not fit `method` (other settings or code).
    """
    directory = Path(directory)
    manifest, found = _manifest_or_rebuilt(directory)
    if manifest is None or not manifest["checkpoints"]:
        if found:  # files were there, none of them usable
            raise _nothing_usable(directory, found)
        return None
    if manifest["method"] != method.name:
        raise StateMismatchError(f"{directory / MANIFEST} holds checkpoints of {manifest['method']!r}, "
                                 f"not of {method.name!r}")
    skipped: list[str] = []
    damaged: dict[str, str] = {}  # blob path -> what was wrong with it, for checkpoints sharing it
    for entry in sorted(manifest["checkpoints"], key=lambda e: e["task_id"], reverse=True):
        path = directory / entry["file"]
        try:
            state, extra = _read_checkpoint(directory, entry, damaged)
        except (OSError, ValueError) as error:
            skipped.append(f"{path}: {error}; skipped it")
            continue
        notes = []
        if entry.get("torch_version") != torch.__version__:
            notes.append(f"{path}: written with torch {entry.get('torch_version')}, running {torch.__version__}: "
                         "results may differ in the last bits from an uninterrupted run")
        restore_state(method, state, global_rng=global_rng)
        if skipped:
            skipped[-1] += f"; resumed from {path.name} (after task {entry['task_id']}) instead"
        lines = found + skipped + notes
        for line in lines:
            warnings.warn(line, CheckpointWarning, stacklevel=2)
        return ResumePoint(entry["task_id"], extra, lines, path)
    raise _nothing_usable(directory, found + skipped)


def _nothing_usable(directory: Path, found: list[str]) -> StateCheckpointError:
    return StateCheckpointError(f"no usable checkpoint in {directory}: " + "; ".join(found)
                                + ". Pass --force to start this run afresh (every finished task is trained again)")


def clear_state_checkpoints(directory: Path) -> None:
    """Delete every checkpoint in `directory`: the manifest first, so a crash part-way lists nothing missing."""
    directory = Path(directory)
    if not directory.is_dir():
        return
    (directory / MANIFEST).unlink(missing_ok=True)
    for path in directory.iterdir():
        if path.name.startswith(("state_task_", ".state_task_", f".{MANIFEST}.")):
            path.unlink()
    _prune(directory, [], [])


def _prune(directory: Path, listed: list[dict[str, Any]], kept: list[dict[str, Any]]) -> None:
    """Delete indexes that `kept` no longer lists, blobs none of it needs, and leftovers of killed writes."""
    names = {e["file"] for e in kept}
    for old in listed:
        if old["file"] not in names and _is_ours(old["file"]):
            (directory / old["file"]).unlink(missing_ok=True)
    for leftover in [*directory.glob(".state_task_*.tmp"), *directory.glob(f".{MANIFEST}.*.tmp")]:
        leftover.unlink(missing_ok=True)
    for blob_set, name in enumerate(BLOB_FOLDERS):
        _blobs.prune(directory / name, {d for e in kept if e.get("blob_set", 0) == blob_set for d in e["blobs"]})
        if (directory / name).is_dir() and not any((directory / name).iterdir()):
            (directory / name).rmdir()
