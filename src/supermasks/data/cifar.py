"""CIFAR-100 (Krizhevsky, 2009) from its python archive or an unpacked folder, as uint8 (N, 3, 32, 32).

The python version is `cifar-100-python.tar.gz`: a folder `cifar-100-python/` holding the
pickles `train` (50,000 images) and `test` (10,000), each a dict with `data`, a uint8 array
(N, 3072) of R, G and B planes of 32x32 pixels, row-major, and `fine_labels` (0..99).

Pickle can run code while it loads, so a pickle is only read from two places: the archive whose
SHA-256 `download.cached` / `download.fetch` checked against the published digest, or the
user's own directory (`data.data_dir`), which is trusted as the user's own files are. Even
then the unpickler only builds plain containers and numpy arrays (`_CifarUnpickler`).
The archive is read in place, member by member, without extracting anything to disk: no
member name can write outside a folder, since nothing is written.
"""

from __future__ import annotations

import pickle
import tarfile
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import CorruptFileError, EmptyDataError, SourceUnavailableError, TruncatedFileError, label_problem

ARCHIVE = "cifar-100-python.tar.gz"
FOLDER = "cifar-100-python"
NUM_CLASSES = 100
SIDE = 32
CHANNELS = 3
_SPLITS = ("train", "test")
_COUNTS = {"train": 50_000, "test": 10_000}  # the published split; a local folder may hold fewer

# What a CIFAR pickle may construct: numpy arrays and their dtypes, nothing else (and the pure
# `_codecs.encode`, which protocol-2 pickles written by Python 3 use to store bytes, and `bytes`, with which
# they store an empty array's no bytes).
_ALLOWED = {
    ("_codecs", "encode"),
    ("__builtin__", "bytes"),
    ("builtins", "bytes"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
}

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that refuses every global but the numpy array constructors."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR pickle holds only arrays")
        return super().find_class(module, name)


def _field(batch: dict, key: str) -> Any:
    # The files were pickled by Python 2: keys come back as bytes with encoding="bytes".
    for candidate in (key, key.encode()):
        if candidate in batch:
            return batch[candidate]
    raise KeyError(key)


def _parse(handle: IO[bytes], where: str, how_to_get: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 3, 32, 32), fine labels int64 (N,)) from one pickle stream."""
    try:
        batch = _CifarUnpickler(handle, encoding="bytes").load()
        data = np.asarray(_field(batch, "data"))
        labels = np.asarray(_field(batch, "fine_labels"))
    except (EOFError, zlib.error, tarfile.ReadError) as err:
        raise TruncatedFileError(f"{where}: the data ends early ({err}); the file is truncated; {how_to_get}") from err
    except (pickle.UnpicklingError, KeyError, TypeError, ValueError, AttributeError, IndexError, OSError) as err:
        raise CorruptFileError(f"{where}: not a CIFAR-100 pickle ({type(err).__name__}: {err}); {how_to_get}") from err
    if not isinstance(batch, dict) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != CHANNELS * SIDE**2:
        raise CorruptFileError(f"{where}: expected uint8 data (N, {CHANNELS * SIDE**2}), got {data.dtype} "
                               f"{data.shape}; {how_to_get}")
    if len(data) == 0:
        raise EmptyDataError(f"{where}: holds 0 images, and a run needs training and test images; {how_to_get}")
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise CorruptFileError(f"{where}: expected one integer fine label per image ({len(data)}), got "
                               f"{labels.dtype} {labels.shape}; {how_to_get}")
    problem = label_problem(labels, NUM_CLASSES, "fine label")
    if problem:
        raise CorruptFileError(f"{where}: {problem}; {how_to_get}")
    return data.reshape(len(data), CHANNELS, SIDE, SIDE), labels.astype(np.int64)


def read_archive(path: Path, how_to_get: str) -> Arrays:
    """(x_train, y_train, x_test, y_test) read from the `train` and `test` pickles inside `path`.

    Only regular-file members named `cifar-100-python/train` and `.../test` are read, straight
    from the archive. A missing member, a truncated or corrupt archive raises a DataError naming
    `path`; nothing is deleted.
    """
    found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                split = member.name.removeprefix(f"{FOLDER}/")
                if split not in _SPLITS or member.name != f"{FOLDER}/{split}" or not member.isfile():
                    continue
                handle = archive.extractfile(member)
                assert handle is not None  # a regular file always has contents
                with handle:
                    found[split] = _parse(handle, f"{path} (member {member.name})", how_to_get)
    except (EOFError, zlib.error) as err:
        raise TruncatedFileError(f"{path}: the archive ends early ({err}); it is truncated or damaged; "
                                 f"{how_to_get}") from err
    except tarfile.ReadError as err:
        kind = TruncatedFileError if "unexpected end" in str(err) or "truncated" in str(err) else CorruptFileError
        raise kind(f"{path}: not a readable gzipped tar archive ({err}); {how_to_get}") from err
    missing = [f"{FOLDER}/{s}" for s in _SPLITS if s not in found]
    if missing:
        raise CorruptFileError(f"{path}: the archive lacks {', '.join(missing)}; {how_to_get}")
    return (*found["train"], *found["test"])


def read_folder(folder: Path, how_to_get: str) -> Arrays:
    """The same from the unpacked pickles `folder/train` and `folder/test`."""
    arrays: list[np.ndarray] = []
    for split in _SPLITS:
        path = folder / split
        if not path.is_file():
            raise SourceUnavailableError(f"cifar100: {path} is missing; {how_to_get}")
        with open(path, "rb") as handle:
            arrays.extend(_parse(handle, str(path), how_to_get))
    return arrays[0], arrays[1], arrays[2], arrays[3]


def find_local(folder: Path) -> Path | None:
    """Where in a user's `folder` CIFAR-100 is: the archive, the unpacked `cifar-100-python/`, or
    the pickles themselves; None when it holds none of them."""
    for candidate in (folder / ARCHIVE, folder / FOLDER, folder):
        if candidate.is_file() or all((candidate / s).is_file() for s in _SPLITS):
            return candidate
    return None


def read_local(folder: Path, how_to_get: str) -> Arrays:
    """CIFAR-100 from a user's folder (see `find_local`); a clear error when it is not there."""
    where = find_local(folder)
    if where is None:
        raise SourceUnavailableError(f"cifar100: {folder} holds neither {ARCHIVE} nor {FOLDER}/train and "
                                     f"{FOLDER}/test; {how_to_get}")
    return read_archive(where, how_to_get) if where.is_file() else read_folder(where, how_to_get)


def is_complete(arrays: Arrays) -> bool:
    """True when the arrays hold the whole published split (50,000 train / 10,000 test)."""
    return len(arrays[0]) == _COUNTS["train"] and len(arrays[2]) == _COUNTS["test"]
