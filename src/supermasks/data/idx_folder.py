"""A folder of the four IDX files of an MNIST-family data set (train and test, images and labels) read as a `Dataset`.

The distributed names are found gzipped or not; any problem (a file missing, corrupt, or holding
the wrong thing) is one error naming the file and how to get it. What was read and checked is kept
decoded in the cache folder for the next process (`decoded`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .dataset import Dataset
from .errors import CorruptFileError, CountMismatchError, EmptyDataError, SourceUnavailableError, label_problem
from .decoded import entry_path, read_entry, write_entry
from .idx import read_idx_pair

NUM_CLASSES = 10  # every MNIST-family data set


# (split prefix, kind, IDX dimension count) of the four files, in Dataset field order.
IDX_PARTS = (
    ("train", "images", 3),
    ("train", "labels", 1),
    ("t10k", "images", 3),
    ("t10k", "labels", 1),
)


def find_idx_file(folder: Path, prefix: str, kind: str, ndim: int) -> Path | None:
    # Accept the distributed names, gzipped or not, and the dotted variant some unpackers use.
    for stem in (f"{prefix}-{kind}-idx{ndim}-ubyte", f"{prefix}-{kind}.idx{ndim}-ubyte"):
        for candidate in (folder / f"{stem}.gz", folder / stem):
            if candidate.is_file():
                return candidate
    return None


def has_idx_files(folder: Path) -> bool:
    return all(find_idx_file(folder, *part) is not None for part in IDX_PARTS)


def load_idx_dir(folder: Path, name: str, description: str, how_to_get: str) -> Dataset:
    """Read the four IDX files in `folder`; any problem names the file and how to get it."""
    paths = [find_idx_file(folder, *part) for part in IDX_PARTS]
    missing = [
        f"{p}-{k}-idx{n}-ubyte[.gz]"
        for (p, k, n), path in zip(IDX_PARTS, paths, strict=True)
        if path is None
    ]
    if missing:
        raise SourceUnavailableError(f"{name}: {folder} lacks {', '.join(missing)}; {how_to_get}")
    entry = entry_path(name, paths)  # the arrays decoded once, where a run read these files before
    kept = read_entry(entry)
    if kept is not None:
        x_train, y_train, x_test, y_test = kept
    else:
        try:
            x_train, y_train = read_idx_pair(paths[0], paths[1])
            x_test, y_test = read_idx_pair(paths[2], paths[3])
        except (CorruptFileError, CountMismatchError) as err:
            raise type(err)(f"{err}. The {name} files cannot be used; {how_to_get}") from err
    for images, labels, img_path, lbl_path, split in (
        (x_train, y_train, paths[0], paths[1], "training"),
        (x_test, y_test, paths[2], paths[3], "test"),
    ):
        # Well-formed IDX files can still hold the wrong thing; never train on that.
        if images.dtype != np.uint8 or images.ndim != 3:
            raise CorruptFileError(
                f"{img_path}: expected uint8 images (N, H, W), got {images.dtype} "
                f"{images.shape}; {how_to_get}"
            )
        if len(images) == 0:
            raise EmptyDataError(f"{img_path}: holds 0 images, and a run needs {split} images; {how_to_get}")
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise CorruptFileError(f"{lbl_path}: expected one integer label per image, got {labels.dtype} "
                                   f"{labels.shape}; {how_to_get}")
        problem = label_problem(labels, NUM_CLASSES)
        if problem:
            raise CorruptFileError(f"{lbl_path}: {problem}; {how_to_get}")
    if kept is None:  # checked: kept for the next process that reads these files
        write_entry(entry, (x_train, y_train, x_test, y_test))
    return Dataset(
        name=name,
        x_train=torch.from_numpy(x_train),
        y_train=torch.from_numpy(y_train.astype(np.int64)),
        x_test=torch.from_numpy(x_test),
        y_test=torch.from_numpy(y_test.astype(np.int64)),
        num_classes=NUM_CLASSES,
        is_subset=False,
        description=description,
    )
