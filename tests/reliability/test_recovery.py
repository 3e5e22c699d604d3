"""Damaged state of a run directory: every single damaged file is recovered from, or is one line naming it.

A tiny SupSup run of three tasks is trained once per test session; each test damages a copy of it
(after setting its status to "interrupted", so that running it again resumes) and runs it again.
The rerun must end with the results of the undamaged run, or with one line (a ConfigError) that
says what was found and offers --force; never another exception, never other results.
"""

import hashlib
import json
import shutil

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supermasks.cli import main
from supermasks.config import load_config
from supermasks.errors import ConfigError
from supermasks.runner import run
from supermasks.store import blobs as _blobs
from supermasks.store.checkpoint_files import BLOB_FOLDERS, state_file_name
from supermasks.store.checkpoint_manifest import MANIFEST, read_manifest
from supermasks.models.mask_files import MaskFileError, load_task_masks

SETTINGS = {"name": "recovery", "method": ["supsup"],
            "data": {"source": "synthetic", "benchmark": ["permuted"], "num_tasks": 3},
            "training": {"steps_per_task": 30, "batch_size": 32, "optimizer": "adam", "lr": 1e-3},
            "run": {"overlap": False, "figures": False, "eval_batch_size": 256}}


@pytest.fixture(scope="session")
def finished(tmp_path_factory):
    """(config file, out_dir) of the finished, undamaged run; never changed by a test."""
    root = tmp_path_factory.mktemp("recovery")
    config = root / "recovery.yaml"
    config.write_text(yaml.safe_dump(SETTINGS))
    run(load_config(config, [f"run.out_dir={root / 'runs'}"]), progress=False)
    return config, root / "runs"


class Copy:
    """A copy of the finished run, marked interrupted, to damage and run again."""

    def __init__(self, finished, where, status="interrupted"):
        self.config_file, source = finished
        self.out = where / "runs"
        shutil.copytree(source, self.out)
        (self.directory,) = self.out.iterdir()
        self.method = self.directory / "permuted" / "supsup"
        self.state = self.method / "state"
        meta = json.loads((self.directory / "meta.json").read_text())
        (self.directory / "meta.json").write_text(json.dumps(meta | {"status": status}))

    def config(self):
        return load_config(self.config_file, [f"run.out_dir={self.out}"])

    def run(self):
        return run(self.config(), progress=False)

    def cli(self, *args):
        return main(["run", str(self.config_file), f"run.out_dir={self.out}", "--no-progress", *args])


def reference(finished):
    (directory,) = finished[1].iterdir()
    return directory / "permuted" / "supsup"


def digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def assert_same_results(copy, finished):
    """The results, and the per-task mask files, are those of the undamaged run."""
    want = reference(finished)
    pd.testing.assert_frame_equal(pd.read_csv(copy.method / "accuracy.csv"), pd.read_csv(want / "accuracy.csv"))
    assert digests(copy.method / "checkpoints") == digests(want / "checkpoints")
    assert json.loads((copy.directory / "meta.json").read_text())["status"] == "finished"


def trained_tasks(log_lines):
    return [line for line in log_lines if "permuted/supsup task " in line]


def flip_byte(path, where=0.5):
    data = bytearray(path.read_bytes())
    data[int(len(data) * where) % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_blob_both_kept_checkpoints_need_damaged_in_the_newest_folder_falls_back_to_the_other(
        finished, tmp_path, log_lines):
    copy = Copy(finished, tmp_path)
    entries = read_manifest(copy.state)["checkpoints"]
    shared = sorted(set(entries[0]["blobs"]) & set(entries[1]["blobs"]))[0]  # e.g. the fixed weights
    bad = copy.state / BLOB_FOLDERS[entries[1]["blob_set"]] / _blobs.blob_file(shared)
    flip_byte(bad)
    copy.run()
    assert any(bad.name in line and state_file_name(2) in line for line in log_lines)
    assert any("resuming after task 1" in line for line in log_lines)
    assert len(trained_tasks(log_lines)) == 1  # only task 2 again: tasks 0 and 1 were not lost
    assert_same_results(copy, finished)


def test_nothing_usable_is_one_line_naming_what_was_found_and_offering_force(finished, tmp_path, capsys):
    copy = Copy(finished, tmp_path)
    entries = read_manifest(copy.state)["checkpoints"]
    shared = sorted(set(entries[0]["blobs"]) & set(entries[1]["blobs"]))[0]
    for folder in BLOB_FOLDERS:  # both copies: nothing is left to resume from
        (copy.state / folder / _blobs.blob_file(shared)).unlink()
    before = digests(copy.method / "checkpoints")
    assert copy.cli() == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    err = err.splitlines()[-1]  # after the progress lines of the log
    assert err.startswith("supermasks: error: no usable checkpoint in ")
    assert state_file_name(2) in err and state_file_name(1) in err and shared in err and "--force" in err
    assert digests(copy.method / "checkpoints") == before  # nothing was deleted or overwritten
    assert copy.cli("--force") == 0
    assert_same_results(copy, finished)


@pytest.mark.parametrize("damage", ["truncate", "deep brackets", "delete"])
def test_a_truncated_or_deleted_manifest_is_rebuilt_and_the_run_resumes(finished, tmp_path, log_lines, damage):
    copy = Copy(finished, tmp_path)
    manifest = copy.state / MANIFEST
    if damage == "truncate":
        manifest.write_bytes(manifest.read_bytes()[:50])
    elif damage == "deep brackets":  # parsed, it would exhaust the stack (RecursionError)
        manifest.write_text("[" * 200_000)
    else:
        manifest.unlink()
    copy.run()
    assert any(str(manifest) in line and "rebuilt it from" in line for line in log_lines)
    assert any("resuming after task 2" in line for line in log_lines)
    assert not trained_tasks(log_lines) and not any("starting afresh" in line for line in log_lines)
    assert_same_results(copy, finished)


def test_no_state_at_all_says_starting_afresh_not_resuming(finished, tmp_path, log_lines):
    copy = Copy(finished, tmp_path)
    shutil.rmtree(copy.state)
    copy.run()
    assert any(f"starting afresh: no usable checkpoint in {copy.state}" in line for line in log_lines)
    assert not any("resuming" in line for line in log_lines)
    assert len(trained_tasks(log_lines)) == 3
    assert_same_results(copy, finished)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "deep brackets", "unknown status", "delete"])
def test_an_unreadable_meta_json_resumes_from_the_checkpoints_with_a_warning(finished, tmp_path, log_lines, damage):
    copy = Copy(finished, tmp_path)
    meta = copy.directory / "meta.json"
    if damage == "truncate":
        meta.write_bytes(meta.read_bytes()[:30])
    elif damage == "deep brackets":
        meta.write_text("[" * 200_000)
    elif damage == "garbage":
        meta.write_bytes(b"\x00\xff" * 20)
    elif damage == "unknown status":
        meta.write_text(meta.read_text().replace('"interrupted"', '"interruptec"'))
    else:
        meta.unlink()
    copy.run()
    if damage != "delete":
        assert any(str(meta) in line and "going on from each method's newest usable checkpoint" in line
                   for line in log_lines)
    assert any("resuming after task 2" in line for line in log_lines)
    assert not trained_tasks(log_lines)  # nothing was trained again
    assert_same_results(copy, finished)


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_a_damaged_mask_file_is_found_and_written_again_from_the_restored_state(finished, tmp_path, log_lines,
                                                                                damage):
    copy = Copy(finished, tmp_path)
    path = copy.method / "checkpoints" / "task_001.safetensors"
    if damage == "flip":
        flip_byte(path, 0.9)  # in the packed mask bits
        with pytest.raises(MaskFileError, match=f"{path}.*corrupt"):
            load_task_masks(path)
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
        with pytest.raises(MaskFileError, match=f"{path}.*truncated or corrupt"):
            load_task_masks(path)
    else:
        path.unlink()
        with pytest.raises(MaskFileError, match=f"{path} is missing"):
            load_task_masks(path)
    copy.run()
    assert any(str(path) in line and "wrote it again from the restored state" in line for line in log_lines)
    assert not trained_tasks(log_lines)
    assert_same_results(copy, finished)
    load_task_masks(path)


@pytest.mark.parametrize("name", ["accuracy.csv", "metrics.json", "tasks.csv"])
def test_a_finished_run_with_a_damaged_result_file_writes_it_again(finished, tmp_path, log_lines, name):
    copy = Copy(finished, tmp_path, status="finished")
    path = copy.method / name
    path.write_bytes(b"\x00garbage")
    if name == "tasks.csv":  # read back as it is, it would give wrong untrained accuracies
        path.write_text("task,untrained_accuracy\n7,0.5\n")
    result = copy.run()
    assert not result.skipped
    assert any(str(path) in line and "writing the results again" in line for line in log_lines)
    assert not trained_tasks(log_lines)
    assert_same_results(copy, finished)
    assert copy.run().skipped  # and the next time it is read back


def test_a_changed_digit_in_a_finished_run_s_results_is_found_by_its_checksum_and_written_again(
        finished, tmp_path, log_lines):
    copy = Copy(finished, tmp_path, status="finished")
    path = copy.method / "accuracy.csv"
    text = path.read_text()
    digit = next(i for i, c in enumerate(text) if c.isdigit() and i > text.index("\n"))
    path.write_text(text[:digit] + str((int(text[digit]) + 1) % 10) + text[digit + 1:])  # still a valid CSV
    result = copy.run()
    assert not result.skipped
    assert any(str(path) in line and "SHA-256 differs" in line for line in log_lines)
    assert not trained_tasks(log_lines)
    assert_same_results(copy, finished)
    assert copy.run().skipped


def test_an_undamaged_finished_run_is_read_back(finished, tmp_path, log_lines):
    copy = Copy(finished, tmp_path, status="finished")
    assert copy.run().skipped
    assert any("has already finished" in line for line in log_lines)


# -- any single damaged file ---------------------------------------------------------------------
DAMAGES = ["truncate", "flip", "delete"]


def damage_one(copy, index, how, where):
    files = sorted(p for p in copy.directory.rglob("*") if p.is_file())
    path = files[index % len(files)]
    if how == "delete":
        path.unlink()
    elif how == "truncate":
        path.write_bytes(path.read_bytes()[:int(path.stat().st_size * where)])
    elif path.stat().st_size:
        data = bytearray(path.read_bytes())
        data[int(len(data) * where) % len(data)] ^= 1 << int(where * 997) % 8
        path.write_bytes(bytes(data))
    return path


def rerun_after_damage(finished, where, index, how, at):
    copy = Copy(finished, where)
    path = damage_one(copy, index, how, at)
    try:
        copy.run()
    except ConfigError as error:  # one line naming what it found; nothing else is acceptable
        message = str(error)
        assert "\n" not in message and "--force" in message, message
        return path, message
    assert_same_results(copy, finished)
    return path, None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, 10_000), how=st.sampled_from(DAMAGES), at=st.floats(0, 0.999))
def test_any_single_damaged_file_resumes_to_the_same_results_or_is_one_line(finished, tmp_path_factory, index,
                                                                            how, at):
    rerun_after_damage(finished, tmp_path_factory.mktemp("damaged"), index, how, at)


@pytest.mark.slow
def test_every_file_of_the_run_directory_damaged_every_way(finished, tmp_path_factory):
    (directory,) = finished[1].iterdir()
    count = sum(1 for p in directory.rglob("*") if p.is_file())
    errors = []
    for index in range(count):
        for how in DAMAGES:
            for at in (0.0, 0.3, 0.97):
                path, message = rerun_after_damage(finished, tmp_path_factory.mktemp("damaged"), index, how, at)
                if message:
                    errors.append((path.name, how, message))
    assert not errors, errors  # two checkpoints are kept: no single damaged file leaves none usable


# -- the transfer study's units ------------------------------------------------------------------
STUDY = {"name": "tinyunits", "method": ["supsup"], "data": {"source": "synthetic", "num_tasks": 2},
         "model": {"arch": "fc-300-300", "batch_norm": True},
         "training": {"optimizer": "adam", "lr": 0.01, "batch_size": 32},
         "scenario": {"inference_batch_size": 100}, "run": {"overlap": False, "eval_batch_size": 256},
         "transfer_study": {"transfers": ["random", "mean"], "budgets": [5], "seeds": [0],
                            "benchmarks": {"permuted": {"data": {"benchmark": ["permuted"]}}}}}


def timeless(frame):
    return frame.drop(columns=[c for c in frame.columns if "seconds" in c])


@pytest.fixture(scope="module")
def study_done(tmp_path_factory):
    """(study file, out_dir, its tables) of a finished tiny transfer study; never changed by a test."""
    from supermasks.studies.transfer import run_transfer_study
    from supermasks.studies.transfer_file import load_transfer_study

    root = tmp_path_factory.mktemp("study")
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump(STUDY))
    tables = run_transfer_study(load_transfer_study(path, [f"run.out_dir={root / 'runs'}"]), progress=False)
    return path, root / "runs", tables


@pytest.mark.parametrize("damage", ["flip csv", "truncate csv", "garbage record", "delete record", "similarity"])
def test_a_damaged_unit_of_the_transfer_study_is_run_again_with_a_warning(study_done, tmp_path, log_lines, damage):
    from supermasks.studies.transfer import run_transfer_study
    from supermasks.studies.transfer_file import load_transfer_study

    path, source, first = study_done
    shutil.copytree(source, tmp_path / "runs")
    study = load_transfer_study(path, [f"run.out_dir={tmp_path / 'runs'}"])
    units = study.directory() / "units"
    target = {"flip csv": units / "permuted-seed0-mean.evaluation.csv",
              "truncate csv": units / "permuted-seed0-mean.prediction.csv",
              "garbage record": units / "permuted-seed0-mean.done.json",
              "delete record": units / "permuted-seed0-mean.done.json",
              "similarity": next((study.directory() / "similarity").glob("permuted-seed0-*.csv"))}[damage]
    if damage == "flip csv":
        target.write_text(target.read_text().replace("0.", "0,", 1))
    elif damage == "truncate csv":
        target.write_bytes(target.read_bytes()[:10])
    elif damage == "garbage record":
        target.write_bytes(b"\x00{")
    elif damage == "delete record":
        target.unlink()  # as a study of an earlier version left it: its files are read as they are
    else:
        target.write_text("task\n")
    again = run_transfer_study(study, progress=False)
    redone = [line for line in log_lines if "again" in line and "warning" in line]
    if damage == "delete record":
        assert not redone
    else:
        assert len(redone) == 1 and str(target) in redone[0], log_lines
        assert ("permuted seed 0 random" in redone[0]) == (damage == "similarity")
    for name in ("evaluation", "prediction", "alphas"):
        pd.testing.assert_frame_equal(timeless(again[name]), timeless(first[name]))
