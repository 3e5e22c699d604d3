"""Read and write IDX files (the MNIST family's format), gzipped or plain, with strict checks."""

from __future__ import annotations

import gzip as gzip_module
import struct
import zlib
from pathlib import Path

import numpy as np

from supermasks.store.files import atomic_write_bytes

from .errors import (
    BadMagicError,
    CorruptFileError,
    CountMismatchError,
    TrailingBytesError,
    TruncatedFileError,
)

_GZIP_MAGIC = b"\x1f\x8b"

# IDX type codes -> big-endian numpy dtypes, as specified with the MNIST distribution.
_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES: dict[np.dtype, int] = {dtype.newbyteorder("="): code for code, dtype in _DTYPES.items()}


def _decompress(raw: bytes, path: Path) -> bytes:
    """Return the payload of `raw`, gunzipped when it starts with the gzip magic bytes."""
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip_module.decompress(raw)
    except EOFError as err:
        raise TruncatedFileError(
            f"{path}: gzip stream ends early ({err}); the file is truncated"
        ) from err
    except (OSError, zlib.error) as err:
        raise CorruptFileError(f"{path}: not a valid gzip stream ({err})") from err


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file into an array in native byte order.

    Gzip compression is detected by the file's first bytes, not by its name. The header
    (magic, type code, number of dimensions, sizes) must describe the payload exactly:
    a short payload raises TruncatedFileError, a long one TrailingBytesError.
    """
    path = Path(path)
    data = _decompress(path.read_bytes(), path)
    if len(data) < 4:
        raise TruncatedFileError(f"{path}: {len(data)} bytes, too short for an IDX header")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0:
        raise BadMagicError(
            f"{path}: bad IDX magic {data[:4].hex()} (expected 0000<type><ndim>); not an IDX file"
        )
    if code not in _DTYPES:
        known = ", ".join(f"0x{c:02x}" for c in _DTYPES)
        raise BadMagicError(f"{path}: unknown IDX type code 0x{code:02x} (known: {known})")
    if ndim == 0:
        raise BadMagicError(f"{path}: IDX header declares 0 dimensions")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise TruncatedFileError(f"{path}: file ends inside the IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = _DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header_len
    if actual < expected:
        raise TruncatedFileError(
            f"{path}: header declares shape {shape} ({expected} bytes) but only {actual} "
            "bytes follow; the file is truncated"
        )
    if actual > expected:
        raise TrailingBytesError(
            f"{path}: header declares shape {shape} ({expected} bytes) but {actual} bytes "
            f"follow ({actual - expected} unexpected trailing bytes)"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    # astype copies, which also gives a writable array detached from the file's bytes.
    return array.astype(dtype.newbyteorder("="))


def read_idx_pair(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an image file and its label file, checking that they hold the same number of items."""
    x, y = read_idx(images), read_idx(labels)
    if x.shape[0] != y.shape[0]:
        raise CountMismatchError(
            f"{images} holds {x.shape[0]} items but {labels} holds {y.shape[0]} labels"
        )
    return x, y


def write_idx(path: Path, array: np.ndarray, gzip: bool) -> None:
    """Write `array` as an IDX file (gzipped when `gzip`) with the one atomic, fsynced writer."""
    path = Path(path)
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODES:
        raise ValueError(
            f"IDX cannot store dtype {array.dtype}; use one of {sorted(map(str, _CODES))}"
        )
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"IDX needs 1 to 255 dimensions, got {array.ndim}")
    header = struct.pack(">BBBB", 0, 0, _CODES[native], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(native.newbyteorder(">")).tobytes()
    if gzip:
        # mtime=0 makes the bytes (and so their checksum) depend on the content only.
        payload = gzip_module.compress(payload, compresslevel=6, mtime=0)
    atomic_write_bytes(path, payload)
