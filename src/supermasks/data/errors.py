"""Errors raised while locating, downloading or parsing data files, and the label check the file readers share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from supermasks.errors import DataError  # the base class lives with the other user errors

if TYPE_CHECKING:
    import numpy as np


class SourceUnavailableError(DataError):
    """A source is not on this machine and cannot be fetched (no network, 404, missing files)."""


class ChecksumError(DataError):
    """A file's SHA-256 differs from the published one."""


class CorruptFileError(DataError):
    """A file's bytes do not form a valid IDX file (bad gzip stream, wrong size...)."""


class BadMagicError(CorruptFileError):
    """The IDX header does not start with the magic bytes 0x00 0x00 <type> <ndim>."""


class TruncatedFileError(CorruptFileError):
    """A file holds fewer bytes than its header declares."""


class TrailingBytesError(CorruptFileError):
    """A file holds more bytes than its header declares."""


class CountMismatchError(DataError):
    """An image file and its label file disagree on the number of items."""


class EmptyDataError(DataError):
    """A well-formed file holds no image where a run needs some (an empty training or test split)."""


def label_problem(labels: np.ndarray, num_classes: int, kind: str = "label") -> str | None:
    """What is wrong with 1-D integer `labels` for `num_classes` classes (0..num_classes-1): the first value out of
    range, its position and how many there are (`kind`: what the file calls a label); None when all are in range."""
    import numpy as np

    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if not len(bad):
        return None
    first = int(bad[0])
    others = f" (and {len(bad) - 1:,} more)" if len(bad) > 1 else ""
    return (f"{kind} {int(labels[first])} at position {first} (0-based) is outside 0..{num_classes - 1}{others}; "
            f"every {kind} must be a class number in 0..{num_classes - 1}")


__all__ = [
    "BadMagicError",
    "ChecksumError",
    "CorruptFileError",
    "CountMismatchError",
    "DataError",
    "EmptyDataError",
    "SourceUnavailableError",
    "TrailingBytesError",
    "TruncatedFileError",
    "label_problem",
]
