"""IDX reader and writer: round trips and every kind of damaged file."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from supermasks.data import (
    BadMagicError,
    CorruptFileError,
    CountMismatchError,
    DataError,
    TrailingBytesError,
    TruncatedFileError,
    read_idx,
    read_idx_pair,
    write_idx,
)


def _header(code: int, shape: tuple[int, ...]) -> bytes:
    return struct.pack(">BBBB", 0, 0, code, len(shape)) + struct.pack(f">{len(shape)}I", *shape)


@pytest.mark.parametrize("compressed", [True, False])
def test_round_trip_uint8(tmp_path: Path, compressed: bool) -> None:
    images = np.random.RandomState(0).randint(0, 256, (7, 28, 28)).astype(np.uint8)
    path = tmp_path / "images.bin"  # the name says nothing: gzip is detected from the bytes
    write_idx(path, images, gzip=compressed)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compressed
    back = read_idx(path)
    assert back.dtype == np.uint8 and back.shape == (7, 28, 28)
    np.testing.assert_array_equal(back, images)
    back[0, 0, 0] = 1  # the result is an ordinary writable array


@settings(max_examples=40, deadline=None)
@given(
    array=hnp.arrays(
        dtype=st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
    ),
    compressed=st.booleans(),
)
def test_round_trip_every_type(
    tmp_path_factory: pytest.TempPathFactory, array: np.ndarray, compressed: bool
) -> None:
    path = tmp_path_factory.mktemp("rt") / "a.idx"
    write_idx(path, array, gzip=compressed)
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_header_is_big_endian_mnist_layout(tmp_path: Path) -> None:
    path = tmp_path / "labels"
    write_idx(path, np.arange(3, dtype=np.int32), gzip=False)
    assert (
        path.read_bytes()
        == _header(0x0C, (3,)) + b"\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x02"
    )


def test_gzip_output_is_reproducible(tmp_path: Path) -> None:
    array = np.arange(100, dtype=np.uint8)
    write_idx(tmp_path / "a.gz", array, gzip=True)
    write_idx(tmp_path / "b.gz", array, gzip=True)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_write_rejects_unsupported_dtype(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dtype"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64), gzip=False)


@pytest.mark.parametrize(
    "payload",
    [b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", b"PK\x03\x04 not idx at all"],
    ids=["nonzero-magic", "zip-file"],
)
def test_bad_magic(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "weird-idx1-ubyte"
    path.write_bytes(payload)
    with pytest.raises(BadMagicError, match="weird-idx1-ubyte"):
        read_idx(path)


def test_unknown_type_code(tmp_path: Path) -> None:
    path = tmp_path / "typed-idx1-ubyte"
    path.write_bytes(_header(0x07, (1,)) + b"\x00")
    with pytest.raises(BadMagicError, match="typed-idx1-ubyte.*0x07"):
        read_idx(path)


@pytest.mark.parametrize("compressed", [True, False])
def test_truncated_payload(tmp_path: Path, compressed: bool) -> None:
    path = tmp_path / "short-idx3-ubyte"
    data = _header(0x08, (10, 28, 28)) + bytes(9 * 28 * 28)
    path.write_bytes(gzip.compress(data) if compressed else data)
    with pytest.raises(TruncatedFileError, match="short-idx3-ubyte"):
        read_idx(path)


def test_truncated_header(tmp_path: Path) -> None:
    path = tmp_path / "stub"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(TruncatedFileError, match="stub"):
        read_idx(path)


def test_truncated_gzip_stream(tmp_path: Path) -> None:
    path = tmp_path / "cut.gz"
    write_idx(
        path, np.random.RandomState(0).randint(0, 256, (50, 28, 28)).astype(np.uint8), gzip=True
    )
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(TruncatedFileError, match="cut.gz"):
        read_idx(path)


def test_corrupt_gzip_stream(tmp_path: Path) -> None:
    path = tmp_path / "garbled.gz"
    path.write_bytes(b"\x1f\x8b" + bytes(range(200)))
    with pytest.raises(CorruptFileError, match="garbled.gz"):
        read_idx(path)


def test_trailing_bytes(tmp_path: Path) -> None:
    path = tmp_path / "long-idx1-ubyte"
    path.write_bytes(_header(0x08, (3,)) + b"\x01\x02\x03\x04")
    with pytest.raises(TrailingBytesError, match="long-idx1-ubyte.*1 unexpected trailing"):
        read_idx(path)


def test_all_format_errors_are_data_errors() -> None:
    for cls in (BadMagicError, TruncatedFileError, TrailingBytesError, CountMismatchError):
        assert issubclass(cls, DataError)


def test_pair_count_mismatch_names_both_files(tmp_path: Path) -> None:
    images, labels = tmp_path / "imgs-idx3-ubyte", tmp_path / "lbls-idx1-ubyte"
    write_idx(images, np.zeros((5, 28, 28), np.uint8), gzip=False)
    write_idx(labels, np.zeros(4, np.uint8), gzip=False)
    with pytest.raises(CountMismatchError) as info:
        read_idx_pair(images, labels)
    assert "imgs-idx3-ubyte" in str(info.value) and "lbls-idx1-ubyte" in str(info.value)


def test_pair_reads_matching_files(tmp_path: Path) -> None:
    write_idx(tmp_path / "i", np.ones((4, 2, 2), np.uint8), gzip=True)
    write_idx(tmp_path / "l", np.arange(4, dtype=np.uint8), gzip=False)
    x, y = read_idx_pair(tmp_path / "i", tmp_path / "l")
    assert x.shape == (4, 2, 2) and y.tolist() == [0, 1, 2, 3]
