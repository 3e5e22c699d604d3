"""Downloads against a local HTTP server: good, corrupt, truncated and missing files."""

from __future__ import annotations

import hashlib
import re
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from supermasks.data import (
    ChecksumError,
    DataError,
    SourceUnavailableError,
    cached,
    download,
    fetch,
    load_source,
)
from supermasks.data.download import Remote, _fetch_files, default_cache_dir

FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


@pytest.fixture
def served(
    http_server: tuple[str, Path], make_idx_dir: Callable[..., Path]
) -> tuple[str, Path, dict[str, str]]:
    """(base URL, served folder, name -> SHA-256) with four small gzipped IDX files served."""
    url, root = http_server
    for path in make_idx_dir(n_train=30, n_test=10).iterdir():
        path.rename(root / path.name)
    return (
        url,
        root,
        {name: hashlib.sha256((root / name).read_bytes()).hexdigest() for name in FILES},
    )


def test_registry_is_complete_and_well_formed() -> None:
    assert set(download.REGISTRY) == {"mnist", "fashion-mnist", "kmnist", "cifar100"}
    for name, remote in download.REGISTRY.items():
        assert set(remote.sha256) == ({"cifar-100-python.tar.gz"} if name == "cifar100" else set(FILES))
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in remote.sha256.values())
        assert all(url.endswith("/") for url in remote.base_urls)
    # The first MNIST digest as published alongside the original files.
    assert download.REGISTRY["mnist"].sha256["train-images-idx3-ubyte.gz"].startswith("440fcabf")
    assert download.REGISTRY["cifar100"].sha256["cifar-100-python.tar.gz"].startswith("85cd44d0")


def test_fetch_good_files(served: tuple[str, Path, dict[str, str]], tmp_path: Path) -> None:
    url, _root, sums = served
    target = _fetch_files(sums, [url], tmp_path / "cache" / "toy")
    assert sorted(p.name for p in target.iterdir()) == sorted(FILES)
    for name, digest in sums.items():
        assert hashlib.sha256((target / name).read_bytes()).hexdigest() == digest
    # A second call finds everything cached and needs no server at all.
    assert _fetch_files(sums, ["http://127.0.0.1:9/"], target) == target


def test_later_mirror_is_tried_when_the_first_fails(
    served: tuple[str, Path, dict[str, str]], tmp_path: Path
) -> None:
    url, _root, sums = served
    target = _fetch_files(sums, [url + "missing/", url], tmp_path / "toy")
    assert all((target / name).is_file() for name in FILES)


@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_bad_download_raises_and_is_not_cached(
    served: tuple[str, Path, dict[str, str]], tmp_path: Path, damage: str
) -> None:
    url, root, sums = served
    victim = root / "train-images-idx3-ubyte.gz"
    data = bytearray(victim.read_bytes())
    if damage == "truncated":
        del data[len(data) // 2 :]
    else:
        data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    target = tmp_path / "toy"
    with pytest.raises(ChecksumError, match="train-images-idx3-ubyte.gz"):
        _fetch_files(sums, [url], target)
    # pooch removed its temporary download: nothing but verified files remain in the cache.
    assert not (target / "train-images-idx3-ubyte.gz").exists()
    for path in target.iterdir():
        assert (
            path.name in sums and hashlib.sha256(path.read_bytes()).hexdigest() == sums[path.name]
        )


def test_existing_mismatched_file_is_left_untouched(
    served: tuple[str, Path, dict[str, str]], tmp_path: Path
) -> None:
    url, _root, sums = served
    target = tmp_path / "toy"
    target.mkdir()
    mine = target / "t10k-labels-idx1-ubyte.gz"
    mine.write_bytes(b"my own edited file")
    with pytest.raises(ChecksumError, match="t10k-labels-idx1-ubyte.gz.*left untouched"):
        _fetch_files(sums, [url], target)
    assert mine.read_bytes() == b"my own edited file"


def test_missing_file_on_server(http_server: tuple[str, Path], tmp_path: Path) -> None:
    url, _root = http_server  # serves nothing: every request is a 404
    with pytest.raises(DataError) as info:
        fetch("mnist", cache_dir=tmp_path, base_url=url, progress=False)
    message = str(info.value)
    assert isinstance(info.value, SourceUnavailableError)
    assert "train-images-idx3-ubyte.gz" in message and "404" in message
    assert "No network?" in message and str(tmp_path / "mnist") in message


def test_unreachable_host(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SourceUnavailableError, match="No network"):
        fetch("kmnist", cache_dir=tmp_path, base_url=f"http://127.0.0.1:{port}/", progress=False)


def test_fetch_by_name_with_mirror_env(
    served: tuple[str, Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _root, sums = served
    monkeypatch.setitem(
        download.REGISTRY, "mnist", Remote("test copy", ("http://127.0.0.1:9/",), sums)
    )
    monkeypatch.setenv("SUPERMASKS_MIRROR", url)
    assert not cached("mnist")
    folder = fetch("mnist")  # with the default progress bar
    assert folder == default_cache_dir() / "mnist"
    assert cached("mnist")
    # Once cached, the source loads from the cache without any network.
    dataset = load_source("mnist")
    assert dataset.x_train.shape == (30, 28, 28) and dataset.x_test.shape == (10, 28, 28)


def test_cached_is_false_for_a_damaged_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "kmnist"
    folder.mkdir()
    for name in FILES:
        (folder / name).write_bytes(b"x")
    assert not cached("kmnist", cache_dir=tmp_path)


def test_default_cache_dir_follows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPERMASKS_DATA_DIR", str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("SUPERMASKS_DATA_DIR")
    assert "supermasks" in str(default_cache_dir())


def test_unknown_download_name() -> None:
    with pytest.raises(ValueError, match="kmnist"):
        fetch("cifar-7", progress=False)
