"""CIFAR-100: a generated archive of the real pickle layout, downloaded from 127.0.0.1 or read locally."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from supermasks.data import (
    ChecksumError,
    CorruptFileError,
    SourceUnavailableError,
    TruncatedFileError,
    cached,
    download,
    fetch,
    load_source,
)
from supermasks.data.download import Remote
from supermasks.data.transforms import CIFAR100_NORMALIZATION

ARCHIVE = "cifar-100-python.tar.gz"


def fake_split(n: int, seed: int) -> tuple[np.ndarray, list[int]]:
    rng = np.random.RandomState(seed)
    return rng.randint(0, 256, (n, 3072)).astype(np.uint8), [int(v) for v in rng.randint(0, 100, n)]


def cifar_pickle(data: np.ndarray, labels: list[int]) -> bytes:
    """A pickle laid out as the distributed ones: bytes keys (Python 2), flat uint8 rows, fine and coarse labels."""
    batch = {b"filenames": [b"img_%d.png" % i for i in range(len(data))], b"batch_label": b"training batch 1 of 1",
             b"fine_labels": labels, b"coarse_labels": [v // 5 for v in labels], b"data": data}
    return pickle.dumps(batch, protocol=2)


def write_archive(path: Path, n_train: int = 30, n_test: int = 10, extra: dict[str, bytes] | None = None) -> None:
    members = {"cifar-100-python/train": cifar_pickle(*fake_split(n_train, 0)),
               "cifar-100-python/test": cifar_pickle(*fake_split(n_test, 1)),
               "cifar-100-python/meta": pickle.dumps({b"fine_label_names": [b"c%d" % i for i in range(100)]}),
               **(extra or {})}
    with tarfile.open(path, "w:gz") as archive:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))


def expected_images(n: int, seed: int) -> torch.Tensor:
    data, _ = fake_split(n, seed)
    return torch.from_numpy(data.reshape(n, 3, 32, 32))


def check_dataset(dataset, n_train: int = 30, n_test: int = 10) -> None:
    assert dataset.x_train.shape == (n_train, 3, 32, 32) and dataset.x_train.dtype == torch.uint8
    assert torch.equal(dataset.x_train, expected_images(n_train, 0))
    assert torch.equal(dataset.x_test, expected_images(n_test, 1))
    assert dataset.y_train.tolist() == fake_split(n_train, 0)[1]  # fine labels, not coarse
    assert dataset.num_classes == 100 and dataset.normalization == CIFAR100_NORMALIZATION
    assert dataset.is_subset  # fewer than the published 50,000 / 10,000 images


@pytest.fixture
def served_archive(http_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """(base URL, served archive) with the registry's digest set to the generated archive's."""
    url, root = http_server
    write_archive(root / ARCHIVE)
    digest = hashlib.sha256((root / ARCHIVE).read_bytes()).hexdigest()
    monkeypatch.setitem(download.REGISTRY, "cifar100", Remote("test copy", ("http://127.0.0.1:9/",), {ARCHIVE: digest},
                                                             files_are=ARCHIVE))
    return url, root / ARCHIVE


def test_fetch_then_load_from_the_cache(served_archive: tuple[str, Path]) -> None:
    url, _ = served_archive
    with pytest.raises(SourceUnavailableError, match="supermasks data fetch cifar100"):
        load_source("cifar100")
    folder = fetch("cifar100", base_url=url, progress=False)
    assert cached("cifar100") and (folder / ARCHIVE).is_file()
    assert sorted(p.name for p in folder.iterdir()) == [ARCHIVE]  # read in place: nothing extracted
    check_dataset(load_source("cifar100"))


def test_checksum_mismatch_is_refused_and_not_cached(served_archive: tuple[str, Path], tmp_path: Path) -> None:
    url, archive = served_archive
    write_archive(archive, n_train=31)  # a different archive under the same name
    with pytest.raises(ChecksumError, match=ARCHIVE):
        fetch("cifar100", cache_dir=tmp_path, base_url=url, progress=False)
    assert not (tmp_path / "cifar100" / ARCHIVE).exists()


def test_truncated_archive_in_a_local_dir_is_named_and_kept(tmp_path: Path) -> None:
    write_archive(tmp_path / ARCHIVE)
    data = (tmp_path / ARCHIVE).read_bytes()
    (tmp_path / ARCHIVE).write_bytes(data[: len(data) // 2])
    with pytest.raises(TruncatedFileError) as info:
        load_source("cifar100", tmp_path)
    assert str(tmp_path / ARCHIVE) in str(info.value) and "data_dir" in str(info.value)
    assert (tmp_path / ARCHIVE).read_bytes() == data[: len(data) // 2]  # never deleted


def test_corrupt_archive_in_a_local_dir(tmp_path: Path) -> None:
    (tmp_path / ARCHIVE).write_bytes(b"not a gzip stream at all" * 10)
    with pytest.raises(CorruptFileError, match=ARCHIVE):
        load_source("cifar100", tmp_path)


def test_archive_lacking_a_split(tmp_path: Path) -> None:
    with tarfile.open(tmp_path / ARCHIVE, "w:gz") as archive:
        payload = cifar_pickle(*fake_split(4, 0))
        info = tarfile.TarInfo("cifar-100-python/train")
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    with pytest.raises(CorruptFileError, match="lacks cifar-100-python/test"):
        load_source("cifar100", tmp_path)


def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    class Payload:
        def __reduce__(self):  # what a malicious pickle does: call a function while loading
            # builtins.getattr, not print: a library imported earlier in the process (ray's tqdm) may
            # replace builtins.print, and the pickle then names that replacement instead.
            return (getattr, (object, "loaded"))

    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    (folder / "train").write_bytes(pickle.dumps({b"data": Payload(), b"fine_labels": []}))
    (folder / "test").write_bytes(cifar_pickle(*fake_split(2, 1)))
    with pytest.raises(CorruptFileError, match="refusing to load builtins.getattr"):
        load_source("cifar100", tmp_path)


def test_path_traversal_members_are_ignored(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    write_archive(folder / ARCHIVE, extra={"../escaped": b"x", "/abs/escaped": b"y"})
    check_dataset(load_source("cifar100", folder))
    assert not (tmp_path / "escaped").exists() and sorted(p.name for p in folder.iterdir()) == [ARCHIVE]


@pytest.mark.parametrize("layout", ["archive", "unpacked", "pickles"])
def test_local_dir_layouts(tmp_path: Path, layout: str) -> None:
    write_archive(tmp_path / ARCHIVE)
    folder = tmp_path / "mine"
    folder.mkdir()
    if layout == "archive":
        (tmp_path / ARCHIVE).rename(folder / ARCHIVE)
    else:
        with tarfile.open(tmp_path / ARCHIVE) as archive:
            archive.extractall(tmp_path / "unpacked", filter="data")
        unpacked = tmp_path / "unpacked" / "cifar-100-python"
        unpacked.rename(folder / "cifar-100-python" if layout == "unpacked" else folder / "pickles")
        folder = folder if layout == "unpacked" else folder / "pickles"
    check_dataset(load_source("cifar100", folder))


def test_local_dir_without_cifar(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailableError) as info:
        load_source("cifar100", tmp_path)
    assert ARCHIVE in str(info.value) and "cifar-100-python/" in str(info.value)


def test_bad_shapes_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    (folder / "train").write_bytes(cifar_pickle(np.zeros((3, 100), np.uint8), [0, 1, 2]))
    (folder / "test").write_bytes(cifar_pickle(*fake_split(2, 1)))
    with pytest.raises(CorruptFileError, match="expected uint8 data"):
        load_source("cifar100", tmp_path)
    (folder / "train").write_bytes(cifar_pickle(fake_split(3, 0)[0], [0, 1, 100]))
    with pytest.raises(CorruptFileError, match="fine label"):
        load_source("cifar100", tmp_path)


def test_synthetic_cifar_is_generated_and_deterministic() -> None:
    data = load_source("synthetic-cifar")
    again = load_source("synthetic-cifar")
    assert "GENERATED" in data.description
    assert data.x_train.shape == (1600, 3, 32, 32) and data.x_test.shape == (400, 3, 32, 32)
    assert torch.equal(data.x_train, again.x_train) and torch.equal(data.y_test, again.y_test)
    assert sorted(set(data.y_train.tolist())) == list(range(100))
    # Classes are separable: the nearest class mean of the training images labels most test images.
    means = torch.stack([data.x_train[data.y_train == c].float().mean(0) for c in range(100)])
    nearest = torch.cdist(data.x_test.float().flatten(1), means.flatten(1)).argmin(1)
    assert (nearest == data.y_test).float().mean() > 0.9


def test_the_command_line_fetches_cifar100_from_a_mirror(served_archive: tuple[str, Path],
                                                           monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from supermasks.cli import main

    url, _ = served_archive
    monkeypatch.setenv("SUPERMASKS_MIRROR", url)
    assert main(["data", "fetch", "cifar100", "--no-progress"]) == 0
    assert "cifar100: files checked" in capsys.readouterr().out
    assert main(["data", "list"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("cifar100"))
    assert "available" in line and "missing" not in line
