"""Every bad input ends in a one-line error and a non-zero exit code before any work starts (nothing written,
nothing earlier lost); a full or read-only disk, Ctrl-C at start-up and a run too big for memory likewise."""

from __future__ import annotations

import errno
import json
import math
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from supermasks.cli import main
from supermasks.config import ConfigError, load_config
from supermasks.data import write_idx
from supermasks.runner import checks
from supermasks.store.files import write_json
from tests.reliability.cli_helpers import TINY, tiny_config



def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error(capsys, *argv: str, code: int = 2) -> str:
    """Run the CLI; assert the exit code and a one-line stderr without a traceback; return that line."""
    got, _, err = _cli(capsys, *argv)
    assert got == code, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


# --- seeds ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [-1, 2**32, 10**40])
def test_a_seed_outside_numpys_range_is_refused_at_load(tmp_path, capsys, seed):
    out = tmp_path / "runs"
    line = _one_line_error(capsys, "run", tiny_config(tmp_path), f"seed={seed}", f"run.out_dir={out}", *TINY)
    assert "seed must be in [0, 2**32 - 1]" in line
    assert not out.exists()


def test_the_largest_seed_builds_every_permuted_task():
    from supermasks.data import load_source, make_benchmark

    tasks = make_benchmark("permuted", load_source("synthetic"), num_tasks=3, seed=2**32 - 1)
    assert len(tasks) == 3 and not np.array_equal(tasks[1].x_train[:].numpy(), tasks[2].x_train[:].numpy())
    assert load_config(None, [f"seed={2**32 - 1}"]).seed == 2**32 - 1


# --- split tasks asking for more than exists --------------------------------------------------------------------


@pytest.mark.parametrize("overrides, expected", [
    (["data.classes_per_task=20"], "classes_per_task=20 exceeds the 10 classes"),
    (["data.num_tasks=46"], "num_tasks=46 distinct subsets of 2 classes requested, but only 45 exist among 10 classes"),
])
def test_split_tasks_beyond_the_classes_are_refused_before_training(tmp_path, capsys, overrides, expected):
    out = tmp_path / "runs"
    line = _one_line_error(capsys, "run", tiny_config(tmp_path), "data.benchmark=split", *TINY, *overrides,
                           f"run.out_dir={out}")
    assert expected in line and "benchmark split on synthetic" in line
    assert not out.exists()


# --- the config file itself -------------------------------------------------------------------------------------


def test_a_config_that_is_not_utf8_is_a_one_line_error(tmp_path, capsys):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    line = _one_line_error(capsys, "run", path, *TINY)
    assert f"{path}: not UTF-8 text (byte 0xe9 at offset 9)" in line


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n# and another\n", "---\n"])
def test_an_empty_or_comment_only_config_is_an_error(tmp_path, capsys, text):
    path = tiny_config(tmp_path, text)
    line = _one_line_error(capsys, "run", path, f"run.out_dir={tmp_path / 'runs'}", *TINY)
    assert f"config file {path} is empty" in line
    assert not (tmp_path / "runs").exists()


def test_dev_null_as_config_is_empty_not_missing(capsys):
    line = _one_line_error(capsys, "run", "/dev/null", *TINY)
    assert "config file /dev/null is empty" in line and "does not exist" not in line


def test_a_directory_as_config_says_it_is_a_directory(tmp_path, capsys):
    line = _one_line_error(capsys, "run", tmp_path, *TINY)
    assert f"config file {tmp_path} is a directory" in line and "does not exist" not in line


@pytest.mark.parametrize("text, key, lines", [
    ("name: a\nseed: 1\nseed: 2\n", "seed", (2, 3)),
    ("training:\n  lr: 0.1\n  batch_size: 4\n  lr: 0.2\n", "lr", (2, 4)),
    ("data: {num_tasks: 2, num_tasks: 3}\n", "num_tasks", (1, 1)),
])
def test_a_duplicate_key_names_the_key_and_both_lines(tmp_path, capsys, text, key, lines):
    path = tiny_config(tmp_path, text)
    line = _one_line_error(capsys, "run", path, *TINY)
    assert f"duplicate key {key!r} on lines {lines[0]} and {lines[1]}" in line


def test_the_same_key_in_different_mappings_is_fine(tmp_path):
    path = tiny_config(tmp_path, "name: a\ntraining: {lr: 0.1}\nsupsup: {transfer: mean}\nrun: {overlap: false}\n")
    assert load_config(path).training.lr == 0.1


# --- data ------------------------------------------------------------------------------------------------------


def test_data_dir_with_a_source_that_does_not_read_it_is_an_error(tmp_path, capsys):
    line = _one_line_error(capsys, "run", tiny_config(tmp_path), *TINY, f"data.data_dir={tmp_path}")
    assert "data_dir applies to the sources read from files (fashion-mnist, mnist, kmnist, cifar100, imagenet) only" in line
    assert "'synthetic'" in line
    with pytest.raises(ConfigError, match="data_dir applies to the sources read from files"):
        load_config(None, [f"data.data_dir={tmp_path}"])  # the embedded mnist-5k does not read it either
    assert load_config(None, ["data.source=mnist", f"data.data_dir={tmp_path}"]).data.data_dir == str(tmp_path)


def _idx_dir(folder: Path, side: int) -> Path:
    rng = np.random.RandomState(0)
    folder.mkdir()
    for prefix, n in (("train", 40), ("t10k", 20)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.randint(0, 256, (n, side, side)).astype(np.uint8), False)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8), False)
    return folder


def test_idx_images_of_another_size_name_the_shape_and_what_the_model_needs(tmp_path, capsys):
    folder = _idx_dir(tmp_path / "idx32", 32)
    out = tmp_path / "runs"
    line = _one_line_error(capsys, "run", tiny_config(tmp_path), *TINY, "data.source=mnist", f"data.data_dir={folder}",
                           f"run.out_dir={out}")
    assert "model.arch fc-300-300 takes 1x28x28 images, got 1x32x32 (channels x height x width)" in line
    assert _files(out) == []


def test_idx_images_of_the_right_size_run(tmp_path, capsys):
    folder = _idx_dir(tmp_path / "idx28", 28)
    code, out, err = _cli(capsys, "run", tiny_config(tmp_path), *TINY, "data.source=mnist", f"data.data_dir={folder}",
                          f"run.out_dir={tmp_path / 'runs'}")
    assert code == 0, err


# --- the disk --------------------------------------------------------------------------------------------------


def test_a_read_only_out_dir_says_cannot_write_not_free_space(tmp_path, capsys, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(checks.tempfile, "mkstemp", read_only)
    out = tmp_path / "runs"
    line = _one_line_error(capsys, "run", tiny_config(tmp_path), *TINY, f"run.out_dir={out}")
    assert f"cannot write to {tmp_path}: Read-only file system" in line and "free disk space" not in line
    assert _files(tmp_path) == [tmp_path / "tiny.yaml"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes through directory permissions")
def test_an_out_dir_without_write_permission_says_cannot_write(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        line = _one_line_error(capsys, "run", tiny_config(tmp_path), *TINY, f"run.out_dir={locked / 'runs'}")
    finally:
        locked.chmod(0o700)
    assert f"cannot write to {locked}: Permission denied" in line


def test_a_full_disk_mid_run_names_the_file_and_the_run_resumes_after(tmp_path, capsys, monkeypatch):
    from supermasks.store import files

    create = files._create_temporary

    def full(path: Path):
        if path.name == "metrics.json":
            raise OSError(errno.ENOSPC, "No space left on device", str(path.parent / f".{path.name}.tmp"))
        return create(path)

    monkeypatch.setattr(files, "_create_temporary", full)
    out = tmp_path / "runs"
    argv = ["run", tiny_config(tmp_path), *TINY, "data.benchmark=[permuted, rotated]", f"run.out_dir={out}"]
    line = _one_line_error(capsys, "-q", *argv, code=1)  # -q: no progress lines around the error
    assert "metrics.json: No space left on device" in line and ".tmp" not in line
    assert "run the same command again: the run resumes after its last finished task" in line
    run_dir = next(out.iterdir())
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "failed" and "No space left on device" in meta["error"]
    kept = _files(run_dir)

    monkeypatch.setattr(files, "_create_temporary", create)  # space freed
    code, stdout, err = _cli(capsys, *argv)
    assert code == 0, err
    assert "did not finish (failed)" in err and "resuming after task" in err
    assert set(kept) <= set(_files(run_dir))
    assert json.loads((run_dir / "meta.json").read_text())["status"] == "finished"


def test_the_cli_reports_a_disk_error_in_one_line(tmp_path, capsys, monkeypatch):
    import supermasks.runner.experiment as experiment

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", "/somewhere/meta.json")

    monkeypatch.setattr(experiment, "write_json", refuse)
    line = _one_line_error(capsys, "run", tiny_config(tmp_path), *TINY, f"run.out_dir={tmp_path / 'runs'}", code=1)
    assert line == "supermasks: error: /somewhere/meta.json: Permission denied"


# --- Ctrl-C at start-up ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["load_data", "build_tasks", "validate"])
def test_ctrl_c_during_start_up_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch, where):
    import supermasks.runner.experiment as experiment

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiment, where, interrupt)
    out = tmp_path / "runs"
    line = _one_line_error(capsys, "run", tiny_config(tmp_path), *TINY, f"run.out_dir={out}", code=130)
    assert line == "supermasks: interrupted"
    assert _files(out) == []


def test_ctrl_c_while_reading_arguments_is_one_line_and_exit_130(capsys, monkeypatch):
    import supermasks.cli.commands as cli

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupt)
    assert _one_line_error(capsys, "list", code=130) == "supermasks: interrupted"


# --- memory ----------------------------------------------------------------------------------------------------


def test_a_run_that_cannot_fit_in_memory_is_refused_with_the_estimate(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(checks, "available_memory", lambda: 2**20)
    out = tmp_path / "runs"
    line = _one_line_error(capsys, "run", tiny_config(tmp_path), *TINY, f"run.out_dir={out}")
    assert "this run needs about" in line and "GiB is available" in line
    assert "fewer data.num_tasks" in line and "smaller data.source" in line
    assert _files(out) == []


def test_permuted_2000_tasks_on_full_size_data_fit_unless_a_method_keeps_their_images(monkeypatch):
    monkeypatch.setattr(checks, "available_memory", lambda: 128 * 2**30)
    # Tasks compute their images per batch: 2000 of them hold a pixel map each, not 2000 float copies.
    supsup = load_config(None, ["data.num_tasks=2000", "data.source=mnist"])
    assert checks.estimate_memory(supsup, images=70_000) < 2000 * 4 * 330_000 + 2**30
    checks.check_memory(supsup, images=70_000)
    joint = load_config(None, ["data.num_tasks=2000", "data.source=mnist", "method=joint"])
    assert checks.estimate_memory(joint, images=70_000) > 2000 * 70_000 * 784 * 4  # every task's images, float32
    with pytest.raises(ConfigError, match=r"needs about 4\d\d\.\d GiB of memory \(2000 tasks over 70,000 images of "
                                          r"mnist.*but 128\.0 GiB is available"):
        checks.check_memory(joint, images=70_000)
    checks.check_memory(load_config(None, ["data.num_tasks=10", "data.source=mnist", "method=joint"]), images=70_000)


def test_the_estimate_counts_split_shares_and_per_task_scores():
    permuted = checks.estimate_memory(load_config(None, ["data.num_tasks=5", "method=naive"]), images=70_000)
    split = checks.estimate_memory(load_config(None, ["data.num_tasks=5", "data.benchmark=split", "method=naive"]),
                                   images=70_000)
    split_all = checks.estimate_memory(load_config(None, ["data.num_tasks=5", "data.benchmark=split",
                                                          "data.classes_per_task=10", "method=naive"]), images=70_000)
    assert split - permuted == 5 * 14_000 * 16 - (5 * 9 * 784 + 70_000 * 8)  # rows and labels of 2 of 10 classes
    assert split_all - split == 4 * (split - permuted + 5 * 9 * 784 + 70_000 * 8)
    few = checks.estimate_memory(load_config(None, ["data.num_tasks=5", "method=naive"]), images=0)
    many = checks.estimate_memory(load_config(None, ["data.num_tasks=500", "method=naive"]), images=0)
    assert many - few == 495 * 9 * 784  # a dense method's state does not grow with the tasks; a pixel map each
    weights = 784 * 300 + 300 * 300 + 300 * 10
    supsup = {n: checks.estimate_memory(load_config(None, [f"data.num_tasks={n}", "run.overlap=false"]), images=0)
              for n in (100, 500)}
    assert supsup[500] - supsup[100] == pytest.approx(400 * weights / 8 + 400 * 9 * 784, abs=1)  # a packed mask bit per weight and task
    overlap = {n: checks.estimate_memory(load_config(None, [f"data.num_tasks={n}", "run.overlap=true"]), images=0)
               for n in (100, 500)}
    assert overlap[500] - overlap[100] == pytest.approx(400 * 2 * weights / 8 + 400 * 9 * 784, abs=1)  # and its initial mask
    guided = {n: checks.estimate_memory(load_config(None, [f"data.num_tasks={n}", "model.batch_norm=true", "run.overlap=false",
                                                           "supsup.transfer=similar"]), images=0) for n in (100, 500)}
    assert guided[500] - guided[100] == pytest.approx(400 * 4 * weights + 400 * 9 * 784, abs=1)  # guided transfer keeps float scores


def test_no_memory_check_where_the_available_memory_is_unknown(monkeypatch):
    monkeypatch.setattr(checks, "available_memory", lambda: None)
    checks.check_memory(load_config(None, ["data.num_tasks=2000"]), images=70_000)


def test_available_memory_reads_proc_meminfo():
    available = checks.available_memory()
    if Path("/proc/meminfo").is_file():
        assert available is not None and available > 0
    else:
        assert available is None


# --- results: readable by the group, strict JSON -----------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A finished tiny run written under umask 022, evaluated after the last task only (BWT has no value: NaN)."""
    tmp = tmp_path_factory.mktemp("finished")
    old = os.umask(0o022)
    try:
        code = main(["run", str(tiny_config(tmp)), *TINY, "run.evaluate=last", f"run.out_dir={tmp / 'runs'}"])
    finally:
        os.umask(old)
    assert code == 0
    return next((tmp / "runs").iterdir())


def test_run_files_are_readable_by_the_group_under_umask_022(finished_run):
    written = _files(finished_run)
    assert written
    for path in written:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o044 == 0o044, f"{path} has mode {mode:o}"


def _refuse(constant: str):
    raise ValueError(f"not strict JSON: {constant}")


def test_every_json_file_of_a_finished_run_is_strict_json(finished_run, capsys):
    documents = sorted(finished_run.rglob("*.json"))
    assert any(p.name == "metrics.json" for p in documents)
    for path in documents:
        json.loads(path.read_text(), parse_constant=_refuse)
    metrics = json.loads(next(finished_run.rglob("metrics.json")).read_text())
    assert metrics["BWT"] is None  # NaN in memory: null on disk
    # A finished run prints its stored results again: null reads back as "no value".
    code, out, err = _cli(capsys, "run", finished_run.parent.parent / "tiny.yaml", *TINY, "run.evaluate=last",
                          f"run.out_dir={finished_run.parent}")
    assert code == 0, err
    assert "BWT n/a" in out


def test_write_json_writes_non_finite_numbers_as_null(tmp_path):
    import torch

    path = tmp_path / "x.json"
    write_json(path, {"a": float("nan"), "b": [np.float32("inf"), np.float64("-inf"), 1.5],
                      "c": {"d": np.array([1.0, np.nan]), "e": torch.tensor(float("nan")), "f": np.int64(3)},
                      "g": (math.inf, "text", None, True)})
    assert json.loads(path.read_text(), parse_constant=_refuse) == {
        "a": None, "b": [None, None, 1.5], "c": {"d": [1.0, None], "e": None, "f": 3}, "g": [None, "text", None, True]}
