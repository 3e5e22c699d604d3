"""An IDX data set's four arrays decoded once and kept in the cache folder, so a run does not gunzip them again.

Fashion-MNIST's gzipped IDX files take about a quarter of a CPU second to decompress, in every
process that reads them (a run, each of its worker processes, each run of a sweep). After the files
are read and checked (`idx_folder.load_idx_dir`), their arrays are written uncompressed as one
`.npz` under `<cache folder>/data` (`store.cache_folder`: `$SUPERMASKS_CACHE` or
`~/.cache/supermasks`), named by the data set and a hash of the four files' paths, sizes and
modification times: replacing a file makes a new entry. Reading an entry gives the same arrays;
one that cannot be read or does not hold what was written (a damaged or truncated file) is
removed and the IDX files are read again. A cache folder that cannot be written is no error:
the files are read every time, as without the cache.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from supermasks.cache_folder import cache_root
from supermasks.store.files import atomic_write_bytes

log = logging.getLogger(__name__)

FORMAT = 1  # bump when what an entry holds changes: older entries are then never read
NAMES = ("x_train", "y_train", "x_test", "y_test")

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def entry_path(name: str, paths: Sequence[Path]) -> Path:
    """Where the decoded arrays of `paths` (the four IDX files of data set `name`) are kept."""
    stats = [(str(Path(p).resolve()), Path(p).stat().st_size, Path(p).stat().st_mtime_ns) for p in paths]
    key = hashlib.sha256(json.dumps([FORMAT, name, stats]).encode()).hexdigest()[:16]
    return cache_root() / "data" / f"{name}-{key}.npz"


def read_entry(path: Path) -> Arrays | None:
    """The four arrays kept at `path`, or None where there is no usable entry (a damaged one is removed)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as entry:
            arrays = tuple(entry[name] for name in NAMES)
        x_train, y_train, x_test, y_test = arrays
        if (x_train.dtype != np.uint8 or x_test.dtype != np.uint8 or x_train.ndim != 3 or x_test.ndim != 3
                or len(x_train) != len(y_train) or len(x_test) != len(y_test)):
            raise ValueError("its arrays are not uint8 images with one label each")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        log.warning("the decoded data %s could not be used (%s): it is removed and the IDX files read again",
                    path, err)
        path.unlink(missing_ok=True)
        return None
    return x_train, y_train, x_test, y_test  # type: ignore[return-value]


def write_entry(path: Path, arrays: Arrays) -> None:
    """Keep `arrays` at `path` (uncompressed, written atomically); a folder that cannot be written is skipped."""
    buffer = io.BytesIO()
    np.savez(buffer, **dict(zip(NAMES, arrays)))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buffer.getbuffer())
    except OSError as err:
        log.debug("decoded data not kept in %s: %s", path.parent, err)


__all__ = ["FORMAT", "entry_path", "read_entry", "write_entry"]
