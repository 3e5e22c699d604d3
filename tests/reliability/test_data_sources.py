"""Unusable data ends in one line naming what is wrong and what to do, exit 2, before any work starts (or, found
mid-run, with the run marked failed and resumable): empty splits, labels out of range, images too large to decode, and
missing sources (fallbacks included) of a study. A task smaller than one batch trains with a warning naming the fix."""

from __future__ import annotations

import json
import logging
import pickle
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from supermasks.cli import main
from supermasks.config import ConfigError, load_config
from supermasks.data import CorruptFileError, EmptyDataError, Task, load_source, write_idx
from supermasks.data.errors import label_problem
from supermasks.data.imagenet import HOW_TO_GET, decode_eval
from supermasks.runner.build import build_tasks, load_data
from supermasks.runner.build import check_task_sizes
from tests.data.imagenet_tree import make_tree
from tests.reliability.cli_helpers import TINY, tiny_config as _config
from tests.reliability.test_bad_inputs import _files, _one_line_error

SMOKE_IMAGENET = Path(__file__).resolve().parents[2] / "configs" / "splitimagenet-smoke.yaml"


def _idx_dir(folder: Path, n_train: int, n_test: int, train_labels: np.ndarray | None = None) -> Path:
    rng = np.random.RandomState(0)
    folder.mkdir()
    labels = {"train": train_labels if train_labels is not None else np.arange(n_train) % 10,
              "t10k": np.arange(n_test) % 10}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.randint(0, 256, (n, 28, 28)).astype(np.uint8), False)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels[prefix].astype(np.uint8), False)
    return folder


def _snapshot(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in _files(folder)}


# --- empty splits --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_train, n_test, named, split", [(0, 20, "train-images", "training"),
                                                           (40, 0, "t10k-images", "test")])
def test_idx_files_without_images_are_refused_naming_the_file(tmp_path, capsys, n_train, n_test, named, split):
    folder = _idx_dir(tmp_path / "idx", n_train, n_test)
    before = _snapshot(folder)
    out = tmp_path / "runs"
    line = _one_line_error(capsys, "run", _config(tmp_path), *TINY, "data.source=mnist", f"data.data_dir={folder}",
                           "training.batch_size=8", f"run.out_dir={out}")
    assert f"{folder / named}-idx3-ubyte: holds 0 images, and a run needs {split} images" in line
    assert "put the four IDX files of mnist into" in line
    assert not out.exists() and _snapshot(folder) == before


def test_a_cifar_folder_without_images_is_refused(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    empty = {b"data": np.zeros((0, 3072), np.uint8), b"fine_labels": []}
    full = {b"data": np.zeros((3, 3072), np.uint8), b"fine_labels": [0, 1, 2]}
    (folder / "train").write_bytes(pickle.dumps(empty, protocol=2))
    (folder / "test").write_bytes(pickle.dumps(full, protocol=2))
    with pytest.raises(EmptyDataError, match=r"cifar-100-python/train: holds 0 images"):
        load_source("cifar100", tmp_path)


# --- labels out of range -------------------------------------------------------------------------------------------


def test_a_cifar_label_out_of_range_is_named_with_its_position(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    labels = list(range(10)) * 100
    labels[417] = 150
    (folder / "train").write_bytes(pickle.dumps({b"data": np.zeros((1000, 3072), np.uint8), b"fine_labels": labels},
                                                protocol=2))
    (folder / "test").write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [0, 1]},
                                               protocol=2))
    with pytest.raises(CorruptFileError) as info:
        load_source("cifar100", tmp_path)
    assert f"{folder / 'train'}: fine label 150 at position 417 (0-based) is outside 0..99" in str(info.value)


def test_an_idx_label_out_of_range_is_one_line_naming_value_position_and_file(tmp_path, capsys):
    labels = np.arange(40) % 10
    labels[[7, 30]] = [12, 255]
    folder = _idx_dir(tmp_path / "idx", 40, 20, train_labels=labels)
    out = tmp_path / "runs"
    line = _one_line_error(capsys, "run", _config(tmp_path), *TINY, "data.source=mnist", f"data.data_dir={folder}",
                           "training.batch_size=8", f"run.out_dir={out}")
    assert (f"{folder / 'train-labels-idx1-ubyte'}: label 12 at position 7 (0-based) is outside 0..9 (and 1 more)"
            in line)
    assert not out.exists()


@settings(max_examples=80, deadline=None)
@given(data=st.data(), size=st.integers(1, 300), num_classes=st.integers(1, 120))
def test_label_problem_names_the_first_bad_label_and_its_position(data, size, num_classes):
    labels = np.array(data.draw(st.lists(st.integers(0, num_classes - 1), min_size=size, max_size=size)), np.int64)
    assert label_problem(labels, num_classes) is None
    bad = data.draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=5, unique=True))
    values = data.draw(st.lists(st.one_of(st.integers(-1000, -1), st.integers(num_classes, 10**6)),
                                min_size=len(bad), max_size=len(bad)))
    labels[bad] = values
    first = min(bad)
    problem = label_problem(labels, num_classes)
    assert problem.startswith(f"label {labels[first]} at position {first} (0-based) is outside 0..{num_classes - 1}")
    assert ("more)" in problem) == (len(bad) > 1)


# --- images that declare more pixels than can be decoded ----------------------------------------------------------


def _bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A valid-looking PNG of about 70 bytes whose header declares width x height RGB pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_a_data_error_naming_the_file(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_bomb_png())
    assert len(path.read_bytes()) < 100
    from PIL import Image

    with pytest.raises(CorruptFileError) as info:
        decode_eval(path)
    assert str(info.value) == (f"{path}: declares an image too large to decode (900,000,000 pixels, more than the "
                               f"{2 * Image.MAX_IMAGE_PIXELS:,} that PIL decodes safely); replace or remove it")


def test_a_decompression_bomb_in_an_image_folder_stops_the_run_with_one_line_and_status_failed(tmp_path, capsys):
    tree = make_tree(tmp_path / "imagenet", num_classes=20, per_class=2, val_per_class=1)
    bomb = _bomb_png()
    for image in [p for p in tree.rglob("*") if p.is_file()]:  # every image: the first batch decoded meets one
        image.write_bytes(bomb)
    out = tmp_path / "runs"
    line = _one_line_error(capsys, "-q", "run", SMOKE_IMAGENET, f"data.data_dir={tree}", f"run.out_dir={out}",
                           "run.report=false", "--no-progress")
    assert f"{tree}/" in line and "declares an image too large to decode" in line and "replace or remove it" in line
    assert "run the same command again to resume" in line
    (meta_path,) = out.glob("*/meta.json")
    meta = json.loads(meta_path.read_text())
    assert meta["status"] == "failed" and "too large to decode" in meta["error"]


# --- fewer training images than one batch -------------------------------------------------------------------------


def test_a_training_set_smaller_than_one_batch_trains_with_a_warning_naming_the_batch_size_that_fits(tmp_path, capsys):
    folder = _idx_dir(tmp_path / "idx", 1, 20)
    code = main(["-q", "run", str(_config(tmp_path)), *TINY, "data.source=mnist", f"data.data_dir={folder}",
                 "training.batch_size=32", f"run.out_dir={tmp_path / 'runs'}"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert ("warning: task 0 (permuted-0) has 1 training image, fewer than one batch (training.batch_size=32): every "
            "step trains on all 1. Set training.batch_size=1 or smaller to train as configured") in err


def test_split_tasks_smaller_than_one_batch_name_the_smallest(tmp_path, caplog):
    config = load_config(None, ["data.source=synthetic", "data.num_tasks=2", "data.benchmark=split",
                                "training.batch_size=121"])
    build_tasks(config, "split", load_data(config))
    assert "has 120 training images, fewer than one batch (training.batch_size=121)" in caplog.text
    assert "Set training.batch_size=120 or smaller" in caplog.text


def _task(task_id: int, n_train: int, n_test: int = 3) -> Task:
    return Task(task_id, f"t{task_id}", torch.zeros(n_train, 1, 2, 2), torch.zeros(n_train, dtype=torch.long),
                torch.zeros(n_test, 1, 2, 2), torch.zeros(n_test, dtype=torch.long), (0, 1), 2)


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(0, 50), min_size=1, max_size=6), batch=st.integers(1, 60))
def test_a_task_is_refused_without_images_and_warned_about_below_one_batch(sizes, batch):
    config = load_config(None, [f"training.batch_size={batch}"])
    tasks = [_task(i, n) for i, n in enumerate(sizes)]
    smallest = sizes.index(min(sizes))
    if min(sizes) == 0:
        with pytest.raises(ConfigError, match=rf"task {smallest} \(t{smallest}\) has no training image"):
            check_task_sizes(config, tasks)
        return
    with _warnings() as records:
        check_task_sizes(config, tasks)
    if min(sizes) >= batch:
        assert records == []
    else:
        (line,) = records
        assert f"task {smallest} (t{smallest}) has {min(sizes)} training image" in line
        assert f"Set training.batch_size={min(sizes)} or smaller" in line


@contextmanager
def _warnings() -> Iterator[list[str]]:
    """The warnings the package logs inside (hypothesis runs many examples in one test: no caplog)."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = Keep(logging.WARNING)
    logger = logging.getLogger("supermasks")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def test_a_task_without_test_images_is_refused():
    config = load_config(None, ["training.batch_size=2"])
    with pytest.raises(ConfigError, match=r"task 1 \(t1\) has no test image"):
        check_task_sizes(config, [_task(0, 4), _task(1, 4, n_test=0)])


# --- every source of a study, fallbacks included, before its first run ---------------------------------------------


@pytest.fixture
def no_downloads(tmp_path, monkeypatch):
    """An empty download cache: mnist, kmnist and cifar100 are missing."""
    monkeypatch.setenv("SUPERMASKS_DATA_DIR", str(tmp_path / "empty-cache"))


def test_a_missing_fallback_source_is_found_before_the_study_starts(tmp_path, capsys, no_downloads):
    study = tmp_path / "study.yaml"
    study.write_text("name: fb\nfallback_source: mnist\ndata: {source: kmnist, num_tasks: 2}\n"
                     "training: {steps_per_task: 2}\nrun: {figures: false, overlap: false}\nparts:\n  a: {}\n")
    out = tmp_path / "runs"
    line = _one_line_error(capsys, "run", study, f"run.out_dir={out}", "--no-progress")
    assert "data.source kmnist is not available here, nor is its fallback_source mnist: get either" in line
    assert "supermasks data fetch kmnist" in line and "supermasks data fetch mnist" in line
    assert not out.exists()


def test_a_later_part_s_missing_source_is_found_before_the_first_part_runs(tmp_path, capsys, no_downloads):
    study = tmp_path / "study.yaml"
    study.write_text("name: two\ndata: {source: synthetic, num_tasks: 2}\ntraining: {steps_per_task: 2}\n"
                     "run: {figures: false, overlap: false}\nparts:\n  first: {}\n"
                     "  second: {data: {source: kmnist}}\n")
    out = tmp_path / "runs"
    line = _one_line_error(capsys, "run", study, f"run.out_dir={out}", "--no-progress")
    assert line.startswith("supermasks: error: part second: kmnist is not available on this machine")
    assert "supermasks data fetch kmnist" in line and not out.exists()


def test_a_study_part_with_a_data_dir_lacking_its_files_is_found_before_any_run(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    study = tmp_path / "study.yaml"
    study.write_text(f"name: dd\ndata: {{source: synthetic, num_tasks: 2}}\ntraining: {{steps_per_task: 2}}\n"
                     f"run: {{figures: false, overlap: false}}\nparts:\n  first: {{}}\n"
                     f"  second: {{data: {{source: mnist, data_dir: {empty}}}}}\n")
    out = tmp_path / "runs"
    line = _one_line_error(capsys, "run", study, f"run.out_dir={out}", "--no-progress")
    assert f"part second: mnist: {empty} lacks train-images-idx3-ubyte[.gz]" in line and not out.exists()


def test_source_problem_finds_each_kind_of_source_without_reading_it(tmp_path, no_downloads):
    from supermasks.data.sources import source_problem

    assert source_problem("synthetic") is None and source_problem("mnist-5k") is None
    assert "supermasks data fetch mnist" in source_problem("mnist")
    assert "no data.data_dir names one" in source_problem("imagenet")
    (tmp_path / "train").mkdir()
    assert source_problem("imagenet", tmp_path) == f"imagenet: {tmp_path / 'val'} is missing; " + HOW_TO_GET
    (tmp_path / "val").mkdir()
    assert source_problem("imagenet", tmp_path) is None  # its class folders are checked when it is listed
    assert f"cifar100: {tmp_path} holds neither cifar-100-python.tar.gz" in source_problem("cifar100", tmp_path)
    (tmp_path / "cifar-100-python.tar.gz").write_bytes(b"not read here")
    assert source_problem("cifar100", tmp_path) is None
    assert "is not a directory" in source_problem("kmnist", tmp_path / "nowhere")
