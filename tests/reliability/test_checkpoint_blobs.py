"""Blobs shared between checkpoints: a save writes only what changed, a damaged blob spoils only the checkpoints
that need it, pruning and clearing remove what no checkpoint needs; the digest cache never hashes stale bytes."""

import hashlib
import os
import warnings

import pytest
import torch

from supermasks.store import blobs as _blobs
from supermasks.models import masked_layers
from supermasks.store.checkpoint_files import BLOB_FOLDERS, BLOBS, INLINE_BYTES, state_file_name
from supermasks.store.checkpoint_manifest import MANIFEST, StateCheckpointError, read_manifest
from supermasks.store.checkpoints import clear_state_checkpoints, load_latest_state, save_state_checkpoint
from supermasks.store.state import capture_state
from tests.conftest import make_tasks
from tests.reliability.state_helpers import (CASES, assert_same_state, build, bytes_written, files, flip_byte, fresh,
                                             fresh_from, grow, step, supsup_with_tasks, trained)


def test_saving_an_unchanged_method_again_writes_no_blob(tmp_path):
    method = supsup_with_tasks(tmp_path, 3)
    save_state_checkpoint(tmp_path / "ckpt", 0, method, {})
    save_state_checkpoint(tmp_path / "ckpt", 1, method, {})  # the other folder: its own copy of every blob
    before = files(tmp_path / "ckpt")
    save_state_checkpoint(tmp_path / "ckpt", 2, method, {})  # task 0's folder again, which holds them all
    after = files(tmp_path / "ckpt")
    assert {p for p in after if p.parent.name in BLOB_FOLDERS} == {p for p in before if p.parent.name in BLOB_FOLDERS}
    written = bytes_written(before, after)
    index = (tmp_path / "ckpt" / state_file_name(2)).stat().st_size
    assert written == index + (tmp_path / "ckpt" / MANIFEST).stat().st_size
    assert index < sum(p.numel() * 4 for p in method.model.parameters()) / 20  # the tensors stayed out of it


@pytest.mark.parametrize("earlier", [2, 12])
def test_a_new_task_writes_about_one_task_of_blobs_however_many_came_before(earlier, tmp_path):
    # A save writes what changed since the checkpoint two saves back (whose folder it shares).
    method = supsup_with_tasks(tmp_path, earlier)
    save_state_checkpoint(tmp_path / "ckpt", earlier - 2, method, {})
    save_state_checkpoint(tmp_path / "ckpt", earlier - 1, method, {})
    grow(method)
    before = files(tmp_path / "ckpt")
    save_state_checkpoint(tmp_path / "ckpt", earlier, method, {})
    new_blobs = bytes_written({p: v for p, v in before.items() if p.parent.name in BLOB_FOLDERS},
                              {p: v for p, v in files(tmp_path / "ckpt").items() if p.parent.name in BLOB_FOLDERS})
    packed = [-(-m.weight.numel() // 8) for m in masked_layers(method.model).values()]  # bytes per layer
    one_task = sum(n for n in packed if n >= INLINE_BYTES)  # the smaller ones stay in the index
    generators = 2 * torch.Generator().get_state().nbytes  # the score stream moved: its state is new
    # The new task's packed masks (1 bit per weight), and nothing of the earlier tasks.
    assert one_task <= new_blobs <= one_task + generators
    assert new_blobs < sum(m.weight.numel() for m in masked_layers(method.model).values())  # < 8 bits per weight
    assert load_latest_state(tmp_path / "ckpt", fresh(tmp_path)).task_id == earlier


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_a_damaged_blob_both_kept_checkpoints_need_spoils_only_one(damage, tmp_path):
    _, _, states = trained(tmp_path, num_tasks=3, keep=2)
    directory = tmp_path / "ckpt"
    entries = read_manifest(directory)["checkpoints"]
    shared = sorted(set(entries[0]["blobs"]) & set(entries[1]["blobs"]))  # e.g. the fixed weights
    assert shared
    for newest in (True, False):  # whichever copy is damaged, the other checkpoint is whole
        entry = entries[1] if newest else entries[0]
        bad = directory / BLOB_FOLDERS[entry["blob_set"]] / _blobs.blob_file(shared[0])
        good = bad.read_bytes()
        if damage == "flip":
            flip_byte(bad)
        elif damage == "truncate":
            bad.write_bytes(good[:-8])
        else:
            bad.unlink()
        method = fresh(tmp_path)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            point = load_latest_state(directory, method)
        assert point.task_id == (1 if newest else 2)
        if newest:
            assert len(point.warnings) == 1 and state_file_name(2) in point.warnings[0] and bad.name in point.warnings[0]
            assert "resumed from " + state_file_name(1) in point.warnings[0]
        else:  # the older checkpoint is not read at all when the newest is whole
            assert point.warnings == [] and not caught
        assert_same_state(method, fresh_from(states[point.task_id]), ())
        bad.write_bytes(good)


def test_a_blob_damaged_in_both_folders_leaves_nothing_usable_and_says_which(tmp_path):
    trained(tmp_path, num_tasks=2)
    directory = tmp_path / "ckpt"
    needs = [set(e["blobs"]) for e in read_manifest(directory)["checkpoints"]]
    everywhere = sorted(needs[0] & needs[1])[0]  # e.g. the fixed weights
    for folder in BLOB_FOLDERS:
        (directory / folder / _blobs.blob_file(everywhere)).unlink()
    with pytest.raises(StateCheckpointError, match=f"{state_file_name(1)}.*{everywhere}.*missing.*"
                                                   f"{state_file_name(0)}.*{everywhere}.*--force"):
        load_latest_state(directory, fresh(tmp_path))


def test_a_save_after_a_blob_was_damaged_writes_it_again(tmp_path):
    _, method, _ = trained(tmp_path, num_tasks=2)
    directory = tmp_path / "ckpt"
    weights = sorted(set.intersection(*(set(e["blobs"]) for e in read_manifest(directory)["checkpoints"])))
    for digest in weights:
        (directory / BLOBS / _blobs.blob_file(digest)).write_bytes(b"damaged")
    save_state_checkpoint(directory, 2, method, {})
    point = load_latest_state(directory, fresh(tmp_path))
    assert point.task_id == 2 and point.warnings == []


def test_pruning_deletes_blobs_no_kept_checkpoint_needs_and_leftovers_of_killed_writes(tmp_path):
    _, method, _ = trained(tmp_path, num_tasks=2, keep=2)
    directory = tmp_path / "ckpt"
    first = set(read_manifest(directory)["checkpoints"][0]["blobs"])
    orphan = directory / BLOBS / _blobs.blob_file("0" * 64)  # written by a save killed before its manifest
    orphan.write_bytes(b"x" * 2048)
    leftovers = [directory / BLOBS / ".abc.bin.x1.tmp", directory / ".state_task_009.safetensors.x2.tmp",
                 directory / ".manifest.json.x3.tmp"]
    for path in leftovers:
        path.write_bytes(b"half")
    save_state_checkpoint(directory, 2, method, {}, keep=1)
    (entry,) = read_manifest(directory)["checkpoints"]
    assert sorted(os.listdir(directory / BLOBS)) == sorted(_blobs.blob_file(d) for d in entry["blobs"])
    assert first - set(entry["blobs"])  # task 0's own blobs (its bank counts, its generator states) went
    assert not orphan.exists() and not any(p.exists() for p in leftovers)
    assert sorted(os.listdir(directory)) == [BLOBS, MANIFEST, state_file_name(2)]


def test_clearing_removes_checkpoints_and_blobs(tmp_path):
    trained(tmp_path, num_tasks=2)
    (tmp_path / "ckpt" / "notes.txt").write_text("the user's")
    clear_state_checkpoints(tmp_path / "ckpt")
    assert os.listdir(tmp_path / "ckpt") == ["notes.txt"]
    assert load_latest_state(tmp_path / "ckpt", fresh(tmp_path)) is None


def test_small_tensors_stay_in_the_index_and_large_ones_become_blobs(tmp_path):
    method = supsup_with_tasks(tmp_path, 1)
    save_state_checkpoint(tmp_path / "ckpt", 0, method, {})
    state = capture_state(method)
    (entry,) = read_manifest(tmp_path / "ckpt")["checkpoints"]
    large = {hashlib.sha256(_blobs.raw_bytes(t)).hexdigest()
             for t in state.tensors.values() if t.nbytes >= INLINE_BYTES}
    assert set(entry["blobs"]) == large
    assert any(t.nbytes < INLINE_BYTES for t in state.tensors.values())  # stored inline, and restored below
    resumed = fresh(tmp_path)
    load_latest_state(tmp_path / "ckpt", resumed)
    assert_same_state(method, resumed, ())


# -- the digest cache: an unchanged tensor is not hashed again --------------------------------------------
def test_a_cached_digest_follows_in_place_changes_and_never_outlives_its_tensor():
    t = torch.zeros(1000)
    assert _blobs.tensor_digest(t) == hashlib.sha256(bytes(4000)).hexdigest()
    t[3] = 1.0
    assert _blobs.tensor_digest(t) == hashlib.sha256(_blobs.raw_bytes(t)).hexdigest()
    with torch.no_grad():
        t.detach().add_(1.0)  # a detached alias shares the version counter
    assert _blobs.tensor_digest(t) == hashlib.sha256(_blobs.raw_bytes(t)).hexdigest()
    for _ in range(20):  # new tensors, often at a freed one's address with the same shape and version
        u = torch.Generator().manual_seed(len(_blobs._DIGESTS)).get_state()
        assert _blobs.tensor_digest(u) == hashlib.sha256(_blobs.raw_bytes(u)).hexdigest()
        del u


@pytest.mark.parametrize("name, scenario, extra", CASES)
def test_cached_digests_match_the_bytes_for_every_method(name, scenario, extra, tmp_path):
    """Every method changes its state through torch operations, which the digest cache relies on."""
    tasks = make_tasks(num_tasks=3, n_train=64, n_test=32)
    method, scenario = build(name, scenario, extra, tmp_path)
    for task in tasks:
        step(method, scenario, task, tasks)
        for key, t in capture_state(method, copy=False).tensors.items():
            if t.nbytes >= INLINE_BYTES:
                assert _blobs.tensor_digest(t) == hashlib.sha256(_blobs.raw_bytes(t)).hexdigest(), key
