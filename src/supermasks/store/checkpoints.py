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
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors import safe_open
from safetensors.torch import save

from supermasks import __version__
from supermasks.errors import ConfigError
from supermasks.store import blobs as _blobs
from supermasks.store.files import atomic_write_bytes, write_json
from supermasks.store.json_files import loads_json, read_json
from supermasks.store.rundir import now
from supermasks.store.state import MethodState, Stateful, StateMismatchError, capture_state, restore_state

MANIFEST = "manifest.json"
BLOBS = "blobs"
# The two blob folders: consecutive checkpoints use different ones, so that they share no file.
BLOB_FOLDERS = (BLOBS, f"{BLOBS}.alt")
FORMAT = 2
_TREE_KEY = "supermasks_state"
_BLOBS_KEY = "supermasks_blobs"
_EXTRA_KEY = "supermasks_extra"
_ENTRY_KEY = "supermasks_entry"  # what the manifest says of this index, to rebuild a lost manifest
# Smaller tensors stay inside the index: rewriting them at every save costs less than a file each.
INLINE_BYTES = 1024


class StateCheckpointError(ConfigError, RuntimeError):
    """Checkpoints exist but none can be trusted: one line saying what was found, caught by the command line."""


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


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The manifest of `directory`, or None when there is none; StateCheckpointError when it is unreadable."""
    path = Path(directory) / MANIFEST
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise _unreadable(path, error) from error
    try:
        manifest = loads_json(text)
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
        if manifest.get("format") != FORMAT or not isinstance(manifest.get("checkpoints"), list):
            raise ValueError(f"format {manifest.get('format')!r}, not the format-{FORMAT} manifest of this version "
                             "(format 1 stored each checkpoint whole)")
        if not isinstance(manifest.get("method"), str):
            raise ValueError("it names no method")
        for entry in manifest["checkpoints"]:
            _check_entry(entry)
    except (ValueError, AttributeError, TypeError) as error:
        raise _unreadable(path, error) from error
    return manifest


def _unreadable(path: Path, error: Exception) -> StateCheckpointError:
    return StateCheckpointError(f"{path} cannot be read ({error}); the checkpoints it lists cannot be "
                                "checked, so none is used: pass --force (or move the directory aside) to start afresh")


def _check_entry(entry: Any) -> None:
    if not (isinstance(entry, dict) and isinstance(entry.get("task_id"), int) and isinstance(entry.get("file"), str)
            and isinstance(entry.get("sha256"), str) and isinstance(entry.get("bytes"), int)
            and isinstance(entry.get("blobs"), dict) and entry.get("blob_set", 0) in (0, 1)
            and all(_blobs.is_digest(d) and isinstance(n, int) for d, n in entry["blobs"].items())):
        raise ValueError(f"an entry lacks its task id, file, checksum, size, blob folder or blobs: {entry}")


def _manifest_or_rebuilt(directory: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """The manifest, or one rebuilt from the index files when it is missing or unreadable; and what was skipped.

    A format-1 manifest (whole checkpoints, an older version) is an error: its files are not ours to read.
    """
    try:
        manifest = read_manifest(directory)
        if manifest is not None:
            return manifest, []
        why = f"{directory / MANIFEST} is missing"
    except StateCheckpointError as error:
        if _other_format(directory / MANIFEST):  # another version's, not damaged: its indexes are not ours either
            raise
        why = f"{directory / MANIFEST} cannot be read ({error.__cause__})"
    if (directory / MANIFEST).exists() or any(_is_ours(p.name) for p in _listing(directory)):
        return _rebuild(directory, why)
    return None, []


def _other_format(path: Path) -> bool:
    try:
        manifest = read_json(path)
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and type(manifest.get("format")) is int and manifest["format"] != FORMAT


def _listing(directory: Path) -> list[Path]:
    try:
        return sorted(directory.iterdir())
    except OSError:
        return []


def _rebuild(directory: Path, why: str) -> tuple[dict[str, Any] | None, list[str]]:
    """A manifest listing every index file of `directory` whose contents match the checksum it holds."""
    entries, skipped = [], []
    for path in _listing(directory):
        if not _is_ours(path.name):
            continue
        try:
            entries.append(_entry_of_index(path))
        except (OSError, ValueError) as error:
            skipped.append(f"{path}: {error}; skipped it")
    if not entries:
        return None, [f"{why}, and no index file could rebuild it", *skipped]
    entries.sort(key=lambda e: e["task_id"])
    method = entries[-1].pop("method")
    for entry in entries[:-1]:
        if entry.pop("method") != method:
            skipped.append(f"{directory / entry['file']}: holds another method's state; skipped it")
            entry["task_id"] = None
    entries = [e for e in entries if e["task_id"] is not None]
    names = ", ".join(e["file"] for e in entries)
    return ({"format": FORMAT, "method": method, "checkpoints": entries},
            [f"{why}: rebuilt it from {names}", *skipped])


def _entry_of_index(path: Path) -> dict[str, Any]:
    """The manifest entry of an index file, once the checksum of its contents it records matches."""
    data = path.read_bytes()
    try:
        with safe_open(path, framework="pt") as fh:
            metadata = fh.metadata() or {}
            tensors = {key: fh.get_tensor(key) for key in fh.keys()}  # noqa: SIM118 (a safe_open handle, not a dict)
        described = loads_json(metadata[_ENTRY_KEY])
        recorded = described.pop("content_sha256")
    except Exception as error:  # noqa: BLE001 (a damaged file fails in many ways; each means the same)
        raise ValueError(f"cannot be parsed ({type(error).__name__}: {error}); the file is truncated or corrupt") from None
    if _content_digest(tensors, metadata, described) != recorded:
        raise ValueError("its contents do not match the SHA-256 it records (the file is corrupt)")
    entry = {"task_id": described.get("task_id"), "file": path.name, "sha256": hashlib.sha256(data).hexdigest(),
             "bytes": len(data), **{k: described.get(k) for k in ("blobs", "blob_set", "written", "torch_version",
                                                                  "supermasks_version")}}
    _check_entry(entry)
    if described.get("format") != FORMAT or not isinstance(described.get("method"), str):
        raise ValueError(f"written by another version (format {described.get('format')!r})")
    if path.name != state_file_name(entry["task_id"]):
        raise ValueError(f"records task {entry['task_id']}, which is not the task of its name")
    return entry | {"method": described["method"]}


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


# -- writing ----------------------------------------------------------------------------------------
def _store_blobs(folder: Path, tensors: dict[str, torch.Tensor]) -> dict[str, str]:
    """Key -> digest of every tensor kept as a blob; writes only the blobs `folder` does not hold intact."""
    refs = {}
    for key, t in tensors.items():
        if t.nbytes >= INLINE_BYTES:
            refs[key] = _blobs.tensor_digest(t)
            _blobs.store(folder, t, refs[key])
    return refs


def _write_index(path: Path, state: MethodState, refs: dict[str, str], extra: dict[str, Any],
                 described: dict[str, Any]) -> tuple[int, str]:
    """Write the index atomically; return its size and the SHA-256 of its bytes.

    `described` (what the manifest will say of it) goes in too, with a SHA-256 of the whole
    contents, so that the index can be checked, and listed again, without the manifest.
    """
    inline = {k: t for k, t in state.tensors.items() if k not in refs}
    layout = {k: [d, str(state.tensors[k].dtype).removeprefix("torch."), list(state.tensors[k].shape)]
              for k, d in refs.items()}
    metadata = {_TREE_KEY: json.dumps(state.tree), _BLOBS_KEY: json.dumps(layout), _EXTRA_KEY: _to_json(extra)}
    metadata[_ENTRY_KEY] = json.dumps(described | {"content_sha256": _content_digest(inline, metadata, described)},
                                      sort_keys=True)
    data = save(inline, metadata=metadata)  # small: the large tensors are blobs
    atomic_write_bytes(path, data)
    digest, size = hashlib.sha256(data).hexdigest(), len(data)
    return size, digest


def _content_digest(tensors: dict[str, torch.Tensor], metadata: dict[str, str], described: dict[str, Any]) -> str:
    """SHA-256 of everything an index means: its tensors (names, types, shapes, bytes) and its metadata."""
    texts = {k: v for k, v in metadata.items() if k != _ENTRY_KEY} | {_ENTRY_KEY: json.dumps(described, sort_keys=True)}
    return _blobs.content_digest(tensors, texts)


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


def _to_json(value: Any) -> str:
    """`extra` as text, numpy and torch values as plain numbers and lists (as in the manifest it used to be in)."""
    return json.dumps(value, sort_keys=True, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v))


# -- reading ----------------------------------------------------------------------------------------
def _read_checkpoint(directory: Path, entry: dict[str, Any],
                     damaged: dict[str, str]) -> tuple[MethodState, dict[str, Any]]:
    """The state and `extra` of one manifest entry once its index and every blob it needs check out.

    OSError or ValueError otherwise. `damaged` collects the bad blobs met so far, so an older
    checkpoint sharing one is skipped without reading it again, and says so.
    """
    tree, tensors, layout, extra = _read_index(directory / entry["file"], entry)
    folder = directory / BLOB_FOLDERS[entry.get("blob_set", 0)]
    data: dict[str, bytearray] = {}
    for key, (digest, dtype_name, shape) in layout.items():
        nbytes = entry["blobs"].get(digest)
        dtype = getattr(torch, dtype_name, None)
        if nbytes is None or not isinstance(dtype, torch.dtype) or dtype.itemsize * math.prod(shape) != nbytes:
            raise ValueError(f"its index stores {key} in blob {digest} as {dtype_name} {shape}, which does not "
                             "match the manifest")
        blob = str(folder / _blobs.blob_file(digest))
        if blob in damaged:
            raise ValueError(f"{damaged[blob]}; a newer checkpoint skipped above shares it")
        if digest not in data:
            try:
                data[digest] = _blobs.read(folder, digest, nbytes)
            except (OSError, ValueError) as error:
                damaged[blob] = str(error)
                raise
        tensors[key] = torch.frombuffer(data[digest], dtype=dtype).reshape(shape)
    return MethodState(tree, tensors), extra


def _read_index(path: Path, entry: dict[str, Any]) -> tuple[dict, dict[str, torch.Tensor], dict, dict[str, Any]]:
    """(tree, small tensors, blob layout, extra) of an index whose size and checksum match the manifest."""
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
            metadata = fh.metadata()
            tensors = {key: fh.get_tensor(key) for key in fh.keys()}  # noqa: SIM118 (a safe_open handle, not a dict)
        tree, layout, extra = (loads_json(metadata[k]) for k in (_TREE_KEY, _BLOBS_KEY, _EXTRA_KEY))
        if not all(isinstance(v, list) and len(v) == 3 for v in layout.values()):
            raise ValueError("a blob reference is not [digest, dtype, shape]")
    except Exception as error:  # it matched its checksum, so this is a writer's bug, but still unusable
        raise ValueError(f"cannot be parsed ({type(error).__name__}: {error})") from error
    return tree, tensors, layout, extra


def _sha256(fh: Any) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: fh.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()
