"""Errors raised while locating, downloading or parsing data files."""

from __future__ import annotations

from supermasks.errors import DataError  # the base class lives with the other user errors


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


__all__ = [
    "BadMagicError",
    "ChecksumError",
    "CorruptFileError",
    "CountMismatchError",
    "DataError",
    "SourceUnavailableError",
    "TrailingBytesError",
    "TruncatedFileError",
]
