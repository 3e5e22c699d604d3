"""A checkpoint's files: each way they can be damaged (a state file, its header, the manifest, a killed write) is
caught, with the earlier checkpoint used or a one-line error naming the files; what is kept and replaced."""

import hashlib
import json
import os

import pytest
import torch

from supermasks.store import blobs as _blobs
from supermasks.store.checkpoint_files import BLOB_FOLDERS, BLOBS, state_file_name
from supermasks.store.checkpoint_manifest import MANIFEST, StateCheckpointError, read_manifest
from supermasks.store.checkpoints import CheckpointWarning, load_latest_state, save_state_checkpoint
from supermasks.errors import ConfigError
from tests.reliability.state_helpers import assert_same_state, flip_byte, fresh, fresh_from, trained


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "wrong_checksum"])
def test_a_damaged_latest_file_falls_back_to_the_previous_task(damage, tmp_path):
    _, _, states = trained(tmp_path)
    latest = tmp_path / "ckpt" / state_file_name(1)
    if damage == "flip":
        flip_byte(latest)
    elif damage == "truncate":
        latest.write_bytes(latest.read_bytes()[:-100])
    elif damage == "delete":
        latest.unlink()
    else:  # the file is intact but the manifest records another checksum for it
        manifest_path = tmp_path / "ckpt" / "manifest.json"
        manifest = json.loads(manifest_path.read_text())
        entry = next(e for e in manifest["checkpoints"] if e["file"] == latest.name)
        entry["sha256"] = "0" * 64
        manifest_path.write_text(json.dumps(manifest))
    method = fresh(tmp_path)
    with pytest.warns(CheckpointWarning, match=state_file_name(1)):
        point = load_latest_state(tmp_path / "ckpt", method)
    assert point.task_id == 0 and point.extra == {"after": 0}
    assert len(point.warnings) == 1 and state_file_name(1) in point.warnings[0]
    expected = {"flip": "SHA-256", "truncate": "truncated", "delete": "missing", "wrong_checksum": "SHA-256"}
    assert expected[damage] in point.warnings[0]
    assert_same_state(method, fresh_from(states[0]), ())


def test_a_byte_flipped_in_the_header_is_caught_too(tmp_path):
    trained(tmp_path)
    latest = tmp_path / "ckpt" / state_file_name(1)
    data = bytearray(latest.read_bytes())
    data[20] ^= 0x20  # inside the JSON header: the tree, not a tensor
    latest.write_bytes(bytes(data))
    with pytest.warns(CheckpointWarning):
        assert load_latest_state(tmp_path / "ckpt", fresh(tmp_path)).task_id == 0


def test_nothing_usable_is_an_error_naming_every_file(tmp_path):
    trained(tmp_path)
    for task_id in (0, 1):
        flip_byte(tmp_path / "ckpt" / state_file_name(task_id))
    with pytest.raises(StateCheckpointError, match=f"{state_file_name(1)}.*{state_file_name(0)}"):
        load_latest_state(tmp_path / "ckpt", fresh(tmp_path))


def test_no_checkpoint_at_all_is_none(tmp_path):
    assert load_latest_state(tmp_path / "nowhere", fresh(tmp_path)) is None
    (tmp_path / "empty").mkdir()
    assert load_latest_state(tmp_path / "empty", fresh(tmp_path)) is None


@pytest.mark.parametrize("damage", ["delete", "truncate", "flip", "garbage"])
def test_a_missing_or_unreadable_manifest_is_rebuilt_from_the_indexes(damage, tmp_path):
    _, _, states = trained(tmp_path)
    manifest = tmp_path / "ckpt" / MANIFEST
    listed = read_manifest(tmp_path / "ckpt")
    if damage == "delete":
        manifest.unlink()
    elif damage == "truncate":
        manifest.write_text(manifest.read_text()[:40])
    elif damage == "flip":
        manifest.write_text(manifest.read_text().replace('"checkpoints"', '"checkpoint5"'))
    else:
        manifest.write_bytes(b"\xff\xfe not json")
    method = fresh(tmp_path)
    with pytest.warns(CheckpointWarning, match="manifest.json (is missing|cannot be read).*rebuilt it from "
                                               f"{state_file_name(0)}, {state_file_name(1)}"):
        point = load_latest_state(tmp_path / "ckpt", method)
    assert point.task_id == 1 and point.extra == {"after": 1}
    assert_same_state(method, fresh_from(states[1]), ())
    # The next save lists the rebuilt entries again, exactly as the lost manifest did.
    save_state_checkpoint(tmp_path / "ckpt", 2, method, {"after": 2})
    entries = read_manifest(tmp_path / "ckpt")["checkpoints"]
    assert [e["task_id"] for e in entries] == [1, 2]
    assert {k: v for k, v in entries[0].items() if k != "written"} == {
        k: v for k, v in listed["checkpoints"][1].items() if k != "written"}


def test_a_lost_manifest_skips_a_damaged_index_naming_it(tmp_path):
    _, _, states = trained(tmp_path)
    (tmp_path / "ckpt" / MANIFEST).unlink()
    flip_byte(tmp_path / "ckpt" / state_file_name(1))
    method = fresh(tmp_path)
    with pytest.warns(CheckpointWarning) as caught:
        point = load_latest_state(tmp_path / "ckpt", method)
    assert point.task_id == 0 and [str(w.message) for w in caught] == point.warnings
    assert "manifest.json is missing: rebuilt it from " + state_file_name(0) in point.warnings[0]
    assert any(state_file_name(1) in line and "corrupt" in line for line in point.warnings)
    assert_same_state(method, fresh_from(states[0]), ())


def test_a_lost_manifest_and_no_good_index_is_a_one_line_error_offering_force(tmp_path):
    trained(tmp_path)
    (tmp_path / "ckpt" / MANIFEST).write_text("{")
    for task_id in (0, 1):
        (tmp_path / "ckpt" / state_file_name(task_id)).write_bytes(b"")
    with pytest.raises(StateCheckpointError, match="no usable checkpoint.*manifest.json cannot be read.*"
                                                   f"{state_file_name(0)}.*--force") as caught:
        load_latest_state(tmp_path / "ckpt", fresh(tmp_path))
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, ConfigError)  # the command line prints it as one line


def test_a_manifest_naming_a_file_elsewhere_is_never_read_or_deleted(tmp_path):
    trained(tmp_path)
    outside = tmp_path / "precious.safetensors"
    outside.write_bytes(b"the user's")
    manifest = read_manifest(tmp_path / "ckpt")
    manifest["checkpoints"][-1]["file"] = "../precious.safetensors"
    (tmp_path / "ckpt" / MANIFEST).write_text(json.dumps(manifest))
    with pytest.warns(CheckpointWarning, match="not a state file of this directory"):
        assert load_latest_state(tmp_path / "ckpt", fresh(tmp_path)).task_id == 0
    save_state_checkpoint(tmp_path / "ckpt", 0, fresh(tmp_path), {}, keep=1)
    assert outside.read_bytes() == b"the user's"


def test_manifest_lists_files_with_checksums_and_sizes(tmp_path):
    trained(tmp_path, num_tasks=3, keep=2)
    directory = tmp_path / "ckpt"
    manifest = read_manifest(directory)
    assert manifest["method"] == "supsup"
    assert [e["task_id"] for e in manifest["checkpoints"]] == [1, 2]  # keep=2: task 0's file is gone
    for entry in manifest["checkpoints"]:
        path = directory / entry["file"]
        assert path.stat().st_size == entry["bytes"] and len(entry["sha256"]) == 64
    # Atomic writes leave nothing behind: no temporary files, no unlisted state files, no unneeded blobs.
    assert sorted(os.listdir(directory)) == [*BLOB_FOLDERS, MANIFEST, state_file_name(1), state_file_name(2)]
    # Consecutive checkpoints keep their blobs in different folders: they share no file.
    assert [e["blob_set"] for e in manifest["checkpoints"]] == [1, 0]
    for entry in manifest["checkpoints"]:
        folder = directory / BLOB_FOLDERS[entry["blob_set"]]
        assert sorted(os.listdir(folder)) == sorted(_blobs.blob_file(d) for d in entry["blobs"])
        for digest, nbytes in entry["blobs"].items():  # a blob is named by the SHA-256 of its bytes
            data = (folder / _blobs.blob_file(digest)).read_bytes()
            assert len(data) == nbytes and hashlib.sha256(data).hexdigest() == digest


def test_keep_none_keeps_every_task(tmp_path):
    trained(tmp_path, num_tasks=3, keep=None)
    assert [e["task_id"] for e in read_manifest(tmp_path / "ckpt")["checkpoints"]] == [0, 1, 2]


def test_saving_an_earlier_task_again_replaces_the_later_ones(tmp_path):
    _, _, states = trained(tmp_path, num_tasks=2)
    method = fresh_from(states[0])  # as after falling back to task 0
    save_state_checkpoint(tmp_path / "ckpt", 0, method, {"after": "again"})
    assert [e["task_id"] for e in read_manifest(tmp_path / "ckpt")["checkpoints"]] == [0]
    assert load_latest_state(tmp_path / "ckpt", fresh(tmp_path)).extra == {"after": "again"}
    assert sorted(os.listdir(tmp_path / "ckpt")) == [BLOBS, MANIFEST, state_file_name(0)]


def test_a_failed_write_leaves_the_previous_checkpoint_and_no_temporary_file(tmp_path, monkeypatch):
    _, method, _ = trained(tmp_path, num_tasks=1)
    save_state_checkpoint(tmp_path / "ckpt", 1, method, {})  # the same state: task 2's folder holds every blob
    before = (tmp_path / "ckpt" / MANIFEST).read_text()

    def crash(fd):  # the index's bytes are in its temporary file; syncing them fails
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)  # no blob changed, so the index is the only file written
    with pytest.raises(OSError, match="disk full"):
        save_state_checkpoint(tmp_path / "ckpt", 2, method, {})
    assert (tmp_path / "ckpt" / MANIFEST).read_text() == before
    assert sorted(os.listdir(tmp_path / "ckpt")) == [*BLOB_FOLDERS, MANIFEST, state_file_name(0), state_file_name(1)]
    assert not [name for name in os.listdir(tmp_path / "ckpt" / BLOBS) if name.endswith(".tmp")]
    assert load_latest_state(tmp_path / "ckpt", fresh(tmp_path)).task_id == 1


def test_a_failed_blob_write_leaves_the_previous_checkpoint_and_no_temporary_file(tmp_path, monkeypatch):
    _, method, _ = trained(tmp_path, num_tasks=1)
    before = (tmp_path / "ckpt" / MANIFEST).read_text()
    blobs_before = sorted(os.listdir(tmp_path / "ckpt" / BLOBS))
    with torch.no_grad():
        method.model.fc1.weight.add_(1.0)  # a changed tensor: its blob must be written

    def crash(fd):
        raise OSError("disk full")

    monkeypatch.setattr(_blobs.os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        save_state_checkpoint(tmp_path / "ckpt", 1, method, {})
    assert (tmp_path / "ckpt" / MANIFEST).read_text() == before
    assert sorted(os.listdir(tmp_path / "ckpt")) in ([BLOBS, MANIFEST, state_file_name(0)],
                                                     [*BLOB_FOLDERS, MANIFEST, state_file_name(0)])
    assert sorted(os.listdir(tmp_path / "ckpt" / BLOBS)) == blobs_before
    assert not list((tmp_path / "ckpt" / BLOB_FOLDERS[1]).glob("*"))  # nothing half-written in task 1's folder


def test_a_manifest_of_the_whole_file_format_is_a_clear_error(tmp_path):
    trained(tmp_path, num_tasks=1)
    manifest = read_manifest(tmp_path / "ckpt")
    (tmp_path / "ckpt" / MANIFEST).write_text(json.dumps({**manifest, "format": 1}))
    with pytest.raises(StateCheckpointError, match="format 1.*move the directory aside"):
        load_latest_state(tmp_path / "ckpt", fresh(tmp_path))
