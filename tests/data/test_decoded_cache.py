"""IDX data sets decoded once and kept in the cache folder: the same arrays, rebuilt when files change or break."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
import torch

from supermasks.data import idx_folder
from supermasks.data.errors import CorruptFileError
from supermasks.data.idx import write_idx
from supermasks.data.idx_folder import load_idx_dir


def _write(folder, seed: int = 0, n: int = 40):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", n), ("t10k", n // 2)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, 28, 28), dtype=np.uint8), True)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, count, dtype=np.uint8), True)


def _load(folder):
    return load_idx_dir(folder, "tiny", "tiny IDX files", "make them again")


def _entries(cache):
    return sorted((cache / "data").glob("tiny-*.npz")) if (cache / "data").is_dir() else []


def _same(a, b) -> bool:
    return all(torch.equal(getattr(a, k), getattr(b, k)) for k in ("x_train", "y_train", "x_test", "y_test"))


def test_a_second_read_takes_the_decoded_arrays_and_gives_the_same_data(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERMASKS_CACHE", str(tmp_path / "cache"))
    _write(tmp_path / "idx")
    first = _load(tmp_path / "idx")
    (entry,) = _entries(tmp_path / "cache")
    monkeypatch.setattr(idx_folder, "read_idx_pair", lambda *a: pytest.fail("the IDX files were read again"))
    second = _load(tmp_path / "idx")
    assert _same(first, second) and second.x_train.dtype == torch.uint8 and second.y_train.dtype == torch.int64
    second.x_train[0, 0, 0] = 7  # writable, and its own: the kept entry is untouched
    assert _same(first, _load(tmp_path / "idx"))
    assert _entries(tmp_path / "cache") == [entry]


def test_a_changed_file_is_read_again_and_a_broken_one_still_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERMASKS_CACHE", str(tmp_path / "cache"))
    _write(tmp_path / "idx", seed=0)
    old = _load(tmp_path / "idx")
    _write(tmp_path / "idx", seed=1)  # new contents (and times)
    stat = (tmp_path / "idx" / "train-images-idx3-ubyte.gz").stat()
    os.utime(tmp_path / "idx" / "train-images-idx3-ubyte.gz", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    new = _load(tmp_path / "idx")
    assert not torch.equal(new.x_train, old.x_train) and len(_entries(tmp_path / "cache")) == 2
    (tmp_path / "idx" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8bnot gzip")
    with pytest.raises(CorruptFileError, match="t10k-labels"):  # never hidden by what was kept before
        _load(tmp_path / "idx")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong arrays"])
def test_a_damaged_entry_is_removed_and_the_files_read_again(tmp_path, monkeypatch, caplog, damage):
    monkeypatch.setenv("SUPERMASKS_CACHE", str(tmp_path / "cache"))
    _write(tmp_path / "idx")
    first = _load(tmp_path / "idx")
    (entry,) = _entries(tmp_path / "cache")
    if damage == "truncate":
        entry.write_bytes(entry.read_bytes()[:1000])
    elif damage == "garbage":
        entry.write_bytes(b"not an npz")
    else:
        np.savez(entry, x_train=np.zeros((3, 2), np.float32), y_train=np.zeros(3), x_test=np.zeros((1, 2)),
                 y_test=np.zeros(1))
    with caplog.at_level(logging.WARNING, logger="supermasks"):
        again = _load(tmp_path / "idx")
    assert _same(first, again)
    assert "could not be used" in caplog.text and "read again" in caplog.text
    (rebuilt,) = _entries(tmp_path / "cache")
    assert rebuilt == entry and _same(first, _load(tmp_path / "idx"))


def test_a_cache_folder_that_cannot_be_written_is_no_error(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("SUPERMASKS_CACHE", str(blocker))  # a file: no folder can be made below it
    _write(tmp_path / "idx")
    assert _same(_load(tmp_path / "idx"), _load(tmp_path / "idx"))
