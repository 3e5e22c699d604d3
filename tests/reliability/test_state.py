"""Resumable state: every registered method goes on bit for bit from a checkpoint, and damaged files are caught.

Over 400 lines because it is one job over many cases: each method's round trip, then each way a checkpoint's
files can be damaged (index, blob, manifest, a killed write), each with the error or warning it must give.
"""

import copy
import hashlib
import json
import os
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from supermasks.store import blobs as _blobs
from supermasks.store import checkpoints as resume
from supermasks.inference.hopfield import HopfieldStore, NeuronMaskMLP
from supermasks.methods import list_methods, method_spec
from supermasks.models import add_task, masked_layers
from supermasks.store.checkpoint_files import BLOB_FOLDERS, BLOBS, INLINE_BYTES, state_file_name
from supermasks.store.checkpoint_manifest import MANIFEST, StateCheckpointError, read_manifest
from supermasks.store.checkpoints import (CheckpointWarning, clear_state_checkpoints, load_latest_state,
                                          save_state_checkpoint)
from supermasks.errors import ConfigError
from supermasks.store.state import StateMismatchError, capture_state, decode, encode, restore_state
from tests.conftest import make_conflicting_tasks, make_tasks
from tests.methods.test_registry import config_for

CASES = [(name, scenario, ()) for name in list_methods()
         for scenario in sorted(method_spec(name).scenarios & {"task", "domain"})]
# Variants whose state has more parts: per-task BN and transfer alphas, a reservoir, one running Fisher.
CASES += [("supsup", "task", ("model.batch_norm=true", "supsup.transfer=similar")),
          ("replay", "task", ("replay.budget=40", "replay.selection=uncertain")),
          ("ewc", "domain", ("ewc.mode=online", "ewc.decay=0.5"))]


def build(name, scenario, extra, tmp_path, **overrides):
    config = config_for(scenario, tmp_path, f"method={name}", *extra,
                        *(f"{k}={v}" for k, v in overrides.items()))
    return method_spec(name).build(config), config.scenario.name


def step(method, scenario, task, tasks):
    """What the runner does per task: begin, learn, then evaluate every task it can."""
    method.begin_task(task)
    losses = method.learn(task, progress=False).losses
    for other in tasks:
        task_id = other.task_id if scenario == "task" else None
        if method.can_predict(task_id):
            method.predict(other.x_test, task_id)
    return losses


def assert_same_state(a, b, tasks):
    """Bitwise: every tensor the two methods keep, and the description of everything else."""
    sa, sb = capture_state(a, global_rng=False), capture_state(b, global_rng=False)
    assert json.dumps(sa.tree) == json.dumps(sb.tree)
    assert list(sa.tensors) == list(sb.tensors)
    for key, t in sa.tensors.items():
        u = sb.tensors[key]
        assert t.dtype == u.dtype and t.shape == u.shape, key
        assert t.reshape(-1).view(torch.uint8).equal(u.reshape(-1).view(torch.uint8)), key


def assert_same_predictions(a, b, scenario, tasks):
    for task in tasks:
        task_id = task.task_id if scenario == "task" else None
        assert a.can_predict(task_id) == b.can_predict(task_id)
        if a.can_predict(task_id):
            assert torch.equal(a.predict(task.x_test, task_id), b.predict(task.x_test, task_id))
    assert a.memory_bytes() == b.memory_bytes()


@pytest.mark.parametrize("name, scenario, extra", CASES)
def test_resumed_training_is_bitwise_identical(name, scenario, extra, tmp_path):
    tasks = make_tasks(num_tasks=3, n_train=128, n_test=64)
    straight, scenario = build(name, scenario, extra, tmp_path)
    losses = {}
    for task in tasks:
        losses[task.task_id] = step(straight, scenario, task, tasks)
        # One directory per resume point; after1 also holds task 0's checkpoint, whose unchanged blobs it reuses.
        for after in range(task.task_id, 2):
            save_state_checkpoint(tmp_path / f"after{after}", task.task_id, straight,
                                  {"rows": [{"task": task.task_id, "accuracy": float("nan")}]}, tasks=tasks)
    for after in (0, 1):
        resumed, _ = build(name, scenario, extra, tmp_path)
        point = load_latest_state(tmp_path / f"after{after}", resumed, tasks=tasks)
        assert point.task_id == after and point.warnings == []
        assert point.extra["rows"][0]["task"] == after and np.isnan(point.extra["rows"][0]["accuracy"])
        for task in tasks[after + 1:]:
            assert step(resumed, scenario, task, tasks) == losses[task.task_id]
        assert_same_state(straight, resumed, tasks)
        assert_same_predictions(straight, resumed, scenario, tasks)


def trained(tmp_path, num_tasks=2, keep=2, directory="ckpt"):
    """A supsup run over `num_tasks` tasks, checkpointed after each; returns (tasks, method, the state after each)."""
    tasks = make_tasks(num_tasks=num_tasks, n_train=64, n_test=32)
    method, _ = build("supsup", "task", (), tmp_path)
    states = []
    for task in tasks:
        step(method, "task", task, tasks)
        save_state_checkpoint(tmp_path / directory, task.task_id, method, {"after": task.task_id}, keep=keep)
        states.append(capture_state(method, global_rng=False))
    return tasks, method, states


def fresh(tmp_path):
    return build("supsup", "task", (), tmp_path)[0]


def fresh_from(state):
    method = build("supsup", "task", (), "unused")[0]
    restore_state(method, state, global_rng=False)
    return method


def flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


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


def test_other_settings_or_another_method_are_refused(tmp_path):
    trained(tmp_path, num_tasks=1)
    other, _ = build("supsup", "task", ("training.lr=0.5",), tmp_path)
    with pytest.raises(StateMismatchError, match="lr=0.5 here, 0.001 in the state"):
        load_latest_state(tmp_path / "ckpt", other)
    naive, _ = build("naive", "task", (), tmp_path)
    with pytest.raises(StateMismatchError, match="checkpoints of 'supsup'"):
        load_latest_state(tmp_path / "ckpt", naive)


def test_joint_keeps_its_data_in_its_state_and_shared_images_stay_shared(tmp_path):
    tasks = make_conflicting_tasks(n_train=64, n_test=32)  # task 1 reuses task 0's images
    method, _ = build("joint", "task", (), tmp_path)
    for task in tasks:
        step(method, "task", task, tasks)
    save_state_checkpoint(tmp_path / "ckpt", 1, method, {})
    resumed, _ = build("joint", "task", (), tmp_path)
    load_latest_state(tmp_path / "ckpt", resumed)  # no tasks given: the state holds the data
    assert resumed.seen_[0][0] is resumed.seen_[1][0]
    assert all(torch.equal(a, b) for k in (0, 1) for a, b in zip(method.seen_[k], resumed.seen_[k]))
    assert resumed.data_bytes() == method.data_bytes()


class ToyHop:
    """A method outside the registry: a lazily grown gated network, Hopfield stores, an optimiser kept across
    tasks (its state dict has integer keys), a float, and the global torch RNG, all through its own state dict."""

    name = "toyhop"

    def __init__(self) -> None:
        self.lr = 0.05
        self.model = NeuronMaskMLP((784, 16, 4), seed=0)
        self.optimizer_: torch.optim.Optimizer | None = None
        self.stores_: list[HopfieldStore] = []
        self.gates_: list[torch.Tensor] = []
        self.best_ = float("-inf")

    def state_dict(self):
        return {"lr": self.lr, "tasks": self.model.num_tasks, "model": self.model.state_dict(),
                "optimizer": None if self.optimizer_ is None else self.optimizer_.state_dict(),
                "stores": [s.state_dict() for s in self.stores_], "gates": self.gates_, "best": self.best_}

    def load_state_dict(self, state):
        if state["lr"] != self.lr:
            raise ValueError(f"lr={self.lr} here, {state['lr']} in the state")
        self.model.grow_tasks(state["tasks"])
        self.model.load_state_dict(state["model"])
        if state["optimizer"] is not None:
            self.optimizer_ = torch.optim.Adam(list(self.model.scores[0]), lr=self.lr)
            for t in range(1, self.model.num_tasks):
                self.optimizer_.add_param_group({"params": list(self.model.scores[t])})
            self.optimizer_.load_state_dict(copy.deepcopy(state["optimizer"]))
        self.stores_ = []
        for saved in state["stores"]:
            self.stores_.append(HopfieldStore(saved["d"]))
            self.stores_[-1].load_state_dict(saved)
        self.gates_ = [g.clone() for g in state["gates"]]
        self.best_ = state["best"]

    def learn(self, task) -> list[float]:
        task_id = self.model.add_task()
        params = list(self.model.scores[task_id])
        if self.optimizer_ is None:
            self.optimizer_ = torch.optim.Adam(params, lr=self.lr)
        else:
            self.optimizer_.add_param_group({"params": params})
        losses = []
        for _ in range(5):
            pick = torch.randint(0, len(task.y_train), (16,))  # the global generator, on purpose
            loss = F.cross_entropy(self.model(task.x_train[pick], task_id), task.y_train[pick])
            self.optimizer_.zero_grad()
            loss.backward()
            self.optimizer_.step()
            losses.append(loss.item())
        gates = torch.cat(self.model.gates(task_id)).float() * 2 - 1
        store = HopfieldStore(len(gates))
        store.store(gates)
        self.stores_.append(store)
        self.gates_.append(gates)
        self.best_ = max(self.best_, -losses[-1])
        return losses


def test_a_method_outside_the_registry_resumes_through_its_state_dict(tmp_path):
    tasks = make_tasks(num_tasks=3, n_train=64, n_test=32)
    torch.manual_seed(123)
    straight = ToyHop()
    straight.learn(tasks[0])
    save_state_checkpoint(tmp_path, 0, straight, {})
    expected = [straight.learn(t) for t in tasks[1:]]
    torch.manual_seed(999)  # a new process starts with another global RNG state
    resumed = ToyHop()
    load_latest_state(tmp_path, resumed)  # also sets the global torch RNG, which learn() draws from
    assert [resumed.learn(t) for t in tasks[1:]] == expected
    assert_same_state(straight, resumed, ())
    assert type(resumed.stores_[0]) is HopfieldStore and resumed.stores_[1].num_patterns_ == 1


def test_a_value_no_file_can_hold_is_an_error_at_capture_naming_its_path(tmp_path):
    method = fresh(tmp_path)
    state = method.state_dict()
    method.state_dict = lambda: {**state, "log": {"file": np.zeros(3)}}
    with pytest.raises(TypeError, match="cannot store state/log/file: a numpy.ndarray"):
        capture_state(method)


def test_tensors_come_back_under_the_keys_and_types_they_went_in():
    tree = {"a": [torch.arange(3), {"b": None, "c": (1, 2.5, "x", True)}], "opt": {0: {"step": torch.tensor(2.0)}},
            "$odd": 1}
    state = encode(tree)
    assert sorted(state.tensors) == ["a/0", "opt/0/step"]
    json.dumps(state.tree)  # plain JSON
    back = decode(state)
    assert torch.equal(back["a"][0], torch.arange(3)) and back["a"][1] == {"b": None, "c": [1, 2.5, "x", True]}
    assert list(back["opt"]) == [0] and torch.equal(back["opt"][0]["step"], torch.tensor(2.0))
    assert back["$odd"] == 1


# -- incremental saves: blobs shared between checkpoints ------------------------------------------------
def files(directory):
    """Every file under `directory` with what changes when it is (re)written: inode, size and mtime."""
    return {p: (p.stat().st_ino, p.stat().st_size, p.stat().st_mtime_ns) for p in directory.rglob("*") if p.is_file()}


def bytes_written(before, after):
    """Bytes of the files that are new or rewritten; every write replaces a file by a new one, so this is all of it."""
    return sum(size for path, (ino, size, _) in after.items() if before.get(path, (None,))[0] != ino)


def supsup_with_tasks(tmp_path, num_tasks):
    """A supsup method with `num_tasks` finished tasks of random scores, as after training."""
    method = fresh(tmp_path)
    for _ in range(num_tasks):
        grow(method)
    return method


def grow(method):
    task_id = add_task(method.model, method.score_generator_)
    method.end_task(task_id)  # as after training: its mask packed, its scores dropped
    method.alphas_.append({})
    method.similarities_.append({})


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


def test_a_manifest_of_the_whole_file_format_is_a_clear_error(tmp_path):
    trained(tmp_path, num_tasks=1)
    manifest = read_manifest(tmp_path / "ckpt")
    (tmp_path / "ckpt" / MANIFEST).write_text(json.dumps({**manifest, "format": 1}))
    with pytest.raises(StateCheckpointError, match="format 1.*move the directory aside"):
        load_latest_state(tmp_path / "ckpt", fresh(tmp_path))


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
