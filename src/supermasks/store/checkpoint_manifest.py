"""The manifest of a checkpoint directory: read and checked, or rebuilt from the index files when it is lost.

`manifest.json` lists each kept checkpoint's index with its SHA-256 and size, the blobs it needs
and which folder holds them. Each index also records its own entry and a checksum of its contents
(`checkpoint_files`), so a missing or unreadable manifest is rebuilt from the indexes that pass
that check, and is no single point of failure.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from safetensors import safe_open

from supermasks.errors import ConfigError
from supermasks.store import blobs as _blobs
from supermasks.store.checkpoint_files import FORMAT, _ENTRY_KEY, _content_digest, _is_ours, state_file_name
from supermasks.store.json_files import loads_json, read_json

MANIFEST = "manifest.json"


class StateCheckpointError(ConfigError, RuntimeError):
    """Checkpoints exist but none can be trusted: one line saying what was found, caught by the command line."""


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
