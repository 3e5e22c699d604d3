"""One checkpoint's files: its index (small tensors, description, a checksum of its contents) and its blobs.

The layout `checkpoints` keeps (see its docstring): each index `state_task_XXX.safetensors` holds
the state's tree, the caller's `extra`, the tensors under `INLINE_BYTES` and a reference to every
larger one, stored as a blob under the SHA-256 of its bytes in one of `BLOB_FOLDERS`. Here they are
written, and read back only once the index and every blob match the checksums their manifest
entry records.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save

from supermasks.store import blobs as _blobs
from supermasks.store.files import atomic_write_bytes
from supermasks.store.json_files import loads_json
from supermasks.store.state import MethodState

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


def state_file_name(task_id: int) -> str:
    return f"state_task_{task_id:03d}.safetensors"


def _is_ours(name: str) -> bool:
    """Whether a manifest entry names one of our files in the directory itself (never a path elsewhere)."""
    return re.fullmatch(r"state_task_\d{3,}\.safetensors", name) is not None


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
