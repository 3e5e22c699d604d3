"""Content-addressed tensor files for `resume`: each distinct tensor's bytes stored once, named by their SHA-256.

A resumable run saves its whole state after every task, yet most of it (earlier tasks' scores,
the fixed weights) never changes again. Stored by content, such a tensor is written once and
shared by every later checkpoint, so a save writes only what changed. A blob holds the tensor's
raw bytes in memory order; its dtype and shape are recorded by the checkpoints that use it. Its
name is its checksum, so a blob is verified by hashing it and comparing with its own name.
"""

from __future__ import annotations

import hashlib
import os
import re
import weakref
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from supermasks.store.files import atomic_write_bytes

_NAME = re.compile(r"[0-9a-f]{64}\.bin")
_DIGEST = re.compile(r"[0-9a-f]{64}")

# Digests this process has computed, so a tensor that did not change is not hashed again at every
# save (266 MB of SupSup scores after 250 tasks). An entry is keyed by the tensor's storage, held
# weakly so that it goes when the storage is freed (a new tensor at a reused address is never
# mistaken for an old one), and is valid while torch's version counter shows no in-place write.
# Writes that bypass the counter (through `.data`, a numpy view, the raw storage) are not seen:
# state must change through torch operations, which a test checks for every registered method.
_Key = tuple[int, int, tuple[int, ...], tuple[int, ...], torch.dtype]
_DIGESTS: dict[_Key, tuple[weakref.ref, int, str]] = {}

# Blob files this process wrote or read back intact, with their stat at the time: a save reuses
# such a file without reading it again, and checks any other (left by an earlier process, or
# changed since) before pointing a new checkpoint at it.
_CHECKED: dict[str, tuple[int, int, int, int]] = {}


def blob_file(digest: str) -> str:
    return f"{digest}.bin"


def is_digest(text: object) -> bool:
    """Whether `text` can name a blob (so a manifest can never make us open a path elsewhere)."""
    return isinstance(text, str) and _DIGEST.fullmatch(text) is not None


def raw_bytes(t: torch.Tensor) -> np.ndarray:
    """The bytes of a contiguous CPU tensor as a flat uint8 array, without a copy."""
    return t.detach().reshape(-1).view(torch.uint8).numpy()


def tensor_digest(t: torch.Tensor) -> str:
    """SHA-256 of `t`'s bytes, computed again only when `t` may have changed since the last call."""
    if t.is_inference():  # no version counter to tell a change by
        return hashlib.sha256(raw_bytes(t)).hexdigest()
    storage = t.untyped_storage()
    key: _Key = (id(storage), t.storage_offset(), tuple(t.shape), t.stride(), t.dtype)
    cached = _DIGESTS.get(key)
    if cached is not None and cached[0]() is storage and cached[1] == t._version:
        return cached[2]
    version = t._version
    digest = hashlib.sha256(raw_bytes(t)).hexdigest()
    _DIGESTS[key] = (weakref.ref(storage, lambda ref, key=key: _forget(key, ref)), version, digest)
    return digest


def _forget(key: _Key, ref: weakref.ref) -> None:
    if key in _DIGESTS and _DIGESTS[key][0] is ref:
        del _DIGESTS[key]


def store(folder: Path, t: torch.Tensor, digest: str) -> None:
    """Make `folder` hold `t`'s bytes as blob `digest`, unless an intact copy is there already."""
    path = folder / blob_file(digest)
    if _unchanged_since_checked(path) or _intact(path, digest, t.nbytes):
        return
    atomic_write_bytes(path, memoryview(raw_bytes(t)))
    _remember(path)


def read(folder: Path, digest: str, nbytes: int) -> bytearray:
    """Blob `digest`'s bytes once their size and SHA-256 match; OSError or ValueError (naming the file) otherwise."""
    path = folder / blob_file(digest)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise FileNotFoundError(f"needs {path}, which is missing") from None
    if size != nbytes:
        raise ValueError(f"needs {path}, which has {size} bytes instead of {nbytes} (truncated or overwritten)")
    data = bytearray(nbytes)
    with open(path, "rb") as fh:
        if fh.readinto(data) != nbytes or fh.read(1):
            raise ValueError(f"needs {path}, which changed size while being read")
    if hashlib.sha256(data).hexdigest() != digest:
        raise ValueError(f"needs {path}, whose SHA-256 does not match its name (the blob is corrupt)")
    _remember(path)
    return data


def content_digest(tensors: dict[str, torch.Tensor], texts: dict[str, str]) -> str:
    """SHA-256 of named tensors (name, dtype, shape and bytes of each) and named texts, in sorted order.

    What a file means rather than its bytes: stored inside the file itself, it lets the file be
    checked without any other record of it (a state index, a per-task mask file).
    """
    h = hashlib.sha256()
    for name in sorted(texts):
        h.update(f"text {name} {len(texts[name])}\n".encode())
        h.update(texts[name].encode())
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        h.update(f"tensor {name} {t.dtype} {list(t.shape)}\n".encode())
        h.update(raw_bytes(t).tobytes())
    return h.hexdigest()


def prune(folder: Path, keep: Iterable[str]) -> None:
    """Delete the blobs not in `keep` and temporary files of writes that never finished (killed processes)."""
    if not folder.is_dir():
        return
    wanted = {blob_file(d) for d in keep}
    for path in folder.iterdir():
        unfinished = path.name.startswith(".") and path.name.endswith(".tmp")
        if unfinished or (_NAME.fullmatch(path.name) and path.name not in wanted):
            path.unlink(missing_ok=True)
            _CHECKED.pop(os.path.abspath(path), None)


def _intact(path: Path, digest: str, nbytes: int) -> bool:
    """Whether an existing blob this process has not vouched for holds what its name says (read once)."""
    try:
        read(path.parent, digest, nbytes)
    except (OSError, ValueError):
        return False
    return True


def _unchanged_since_checked(path: Path) -> bool:
    try:
        return _CHECKED.get(os.path.abspath(path)) == _fingerprint(path)
    except FileNotFoundError:
        return False


def _remember(path: Path) -> None:
    _CHECKED[os.path.abspath(path)] = _fingerprint(path)


def _fingerprint(path: Path) -> tuple[int, int, int, int]:
    """Which file this is and whether it was rewritten: a replaced or edited file differs in one of these."""
    st = path.stat()
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns
