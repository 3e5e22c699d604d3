import json
import os

import pytest

from supermasks.config import load_config
from supermasks.store.files import atomic_write_bytes, write_json
from supermasks.config.records import config_hash, run_directory


def test_hash_ignores_output_location_only():
    a = load_config(None, ["run.out_dir=/tmp/a"])
    assert config_hash(a) == config_hash(load_config(None, ["run.out_dir=/tmp/b"]))
    assert config_hash(a) != config_hash(load_config(None, ["seed=1"]))
    assert run_directory(a).name == f"experiment-{config_hash(a)}"


def test_atomic_write_replaces_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "sub" / "x.json"
    write_json(path, {"a": 1})
    write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert os.listdir(path.parent) == ["x.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "x.txt"
    atomic_write_bytes(path, b"old")

    with pytest.raises(TypeError):
        atomic_write_bytes(path, object())  # type: ignore[arg-type]
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["x.txt"]


def test_written_file_is_complete_and_no_temporary_is_left(tmp_path):
    data = os.urandom(3 << 20) + b"end"  # larger than any single buffer
    path = tmp_path / "blob.bin"
    atomic_write_bytes(path, data)
    atomic_write_bytes(path, memoryview(data[::-1]))
    assert path.read_bytes() == data[::-1]
    assert os.listdir(tmp_path) == ["blob.bin"]


def test_write_syncs_the_file_and_then_its_directory(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.path.isdir(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else None)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    atomic_write_bytes(tmp_path / "x.bin", b"abc")
    assert len(synced) == 2
    if synced[0] is not None:
        assert synced == [False, True]  # the file's data first, then the rename in its directory


def test_a_directory_that_refuses_fsync_is_not_an_error(tmp_path, monkeypatch):
    real_fsync = os.fsync

    def fsync(fd):
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            raise OSError(22, "Invalid argument")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    atomic_write_bytes(tmp_path / "x.bin", b"abc")
    assert (tmp_path / "x.bin").read_bytes() == b"abc"


def test_written_file_honours_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "x.bin", b"abc")
    finally:
        os.umask(old)
    assert (tmp_path / "x.bin").stat().st_mode & 0o777 == 0o640


def test_idx_and_figure_writers_use_the_atomic_writer(tmp_path, monkeypatch):
    import numpy as np
    from matplotlib.figure import Figure

    import supermasks.store.files as files
    from supermasks.analysis.plots import save_figure
    from supermasks.data import read_idx, write_idx

    synced = []
    monkeypatch.setattr(files, "_fsync_directory", synced.append)
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.idx.gz", array, gzip=True)
    assert np.array_equal(read_idx(tmp_path / "a.idx.gz"), array)
    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    paths = save_figure(fig, tmp_path / "figures", "line")
    assert synced == [tmp_path, tmp_path / "figures", tmp_path / "figures"]
    assert paths[0].read_bytes().startswith(b"\x89PNG") and b"</svg>" in paths[1].read_bytes()
    assert sorted(os.listdir(tmp_path / "figures")) == ["line.png", "line.svg"]
