"""Resumable state: every registered method, and one outside the registry, goes on bit for bit from a checkpoint;
a checkpoint refuses other settings; what a state holds is encoded and decoded as it went in.

The checkpoint files' damage and recovery are tests/reliability/test_checkpoint_files.py; the blobs shared
between checkpoints and their digests, tests/reliability/test_checkpoint_blobs.py."""

import copy
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from supermasks.inference.hopfield import HopfieldStore, NeuronMaskMLP
from supermasks.store.checkpoints import load_latest_state, save_state_checkpoint
from supermasks.store.state import StateMismatchError, capture_state, decode, encode
from tests.conftest import make_conflicting_tasks, make_tasks
from tests.reliability.state_helpers import (CASES, assert_same_predictions, assert_same_state, build, fresh, step,
                                             trained)


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
