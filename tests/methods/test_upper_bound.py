"""The upper bound (a network per task, each from its predecessor's weights) and the lower bound (naive, task scenario)."""

import copy

import pytest
import torch

from supermasks.config import load_config
from supermasks.methods import method_spec
from supermasks.methods.naive import Naive
from supermasks.methods.upper_bound import SPEC, UpperBound, from_config
from supermasks.models import build_multihead, parameter_bytes
from supermasks.training import TrainingSettings, accuracy
from tests.conftest import make_conflicting_tasks, make_tasks


def make(arch="fc-300-300", steps=30):
    return UpperBound(build_multihead(arch, output_size=4, seed=0),
                      training=TrainingSettings(optimizer="adam", lr=1e-3, batch_size=32, steps_per_task=steps), seed=0)


def params(module):
    return [p.detach().clone() for p in module.state_dict().values()]


def same(a, b):
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def test_spec_is_task_incremental_only_and_counts_a_float_per_weight_per_task():
    assert SPEC.scenarios == frozenset({"task"}) and method_spec("upper_bound") is SPEC
    assert SPEC.task_bits(None) == 32


def test_finished_tasks_keep_their_outputs_and_conflicting_tasks_are_both_learned():
    tasks = make_conflicting_tasks()  # the same inputs with swapped labels: one shared network cannot fit both
    method = make(steps=100)
    method.begin_task(tasks[0])
    method.learn(tasks[0], progress=False)
    before = method.predict(tasks[0].x_test, 0).clone()
    first_network = params(method.networks[0])
    method.begin_task(tasks[1])
    method.learn(tasks[1], progress=False)
    assert torch.equal(method.predict(tasks[0].x_test, 0), before)
    assert same(params(method.networks[0]), first_network)
    for task in tasks:
        assert accuracy(lambda x: method.predict(x, task.task_id), task.x_test, task.y_test) > 0.9


def test_each_task_starts_from_the_previous_tasks_trained_network():
    tasks = make_tasks(num_tasks=2)
    method = make()
    initial = params(method.networks[0])
    method.learn(tasks[0], progress=False)
    trained = params(method.networks[0])
    assert not same(initial, trained)
    method.begin_task(tasks[1])
    assert len(method.networks) == 2 and method.networks[1] is not method.networks[0]
    assert same(params(method.networks[1]), trained)  # a copy, trunk and head, of task 0's trained network
    method.learn(tasks[1], progress=False)
    assert not same(params(method.networks[1]), trained) and same(params(method.networks[0]), trained)


@pytest.mark.parametrize("arch", ["fc-300-300", "lenet5"])
def test_memory_is_one_full_network_per_task(arch):
    method = make(arch, steps=1)
    one = parameter_bytes(build_multihead(arch, output_size=4, seed=0))
    assert method.bytes_per_task() == one
    if arch == "fc-300-300":
        assert one == (784 * 300 + 300 + 300 * 300 + 300 + 300 * 4 + 4) * 4
    for task in make_tasks(num_tasks=3, n_train=32, n_test=8):
        method.begin_task(task)
        assert method.memory_bytes() == (task.task_id + 1) * one


def test_needs_the_task_id_and_tasks_in_order():
    tasks = make_tasks(num_tasks=3, n_train=32, n_test=8)
    method = make(steps=1)
    assert method.can_predict(0) and not method.can_predict(1) and not method.can_predict(None)
    with pytest.raises(ValueError, match="task id"):
        method.predict(tasks[0].x_test, None)
    with pytest.raises(ValueError, match="in order"):
        method.begin_task(tasks[2])


def test_a_resumed_state_holds_every_tasks_network():
    tasks = make_tasks(num_tasks=3, n_train=64, n_test=32)
    straight = make(steps=10)
    for task in tasks[:2]:
        straight.learn(task, progress=False)
    state = copy.deepcopy(straight.state_dict())
    assert len(state["networks"]) == 2
    resumed = make(steps=10)
    resumed.load_state_dict(state)
    for a, b in zip(straight.networks, resumed.networks):
        assert same(params(a), params(b))
    assert straight.learn(tasks[2], progress=False).losses == resumed.learn(tasks[2], progress=False).losses
    assert torch.equal(straight.predict(tasks[2].x_test, 2), resumed.predict(tasks[2].x_test, 2))
    longer = make(steps=10)
    longer.load_state_dict(straight.state_dict())
    with pytest.raises(ValueError, match="3 networks already, the state 2"):
        longer.load_state_dict(state)


def test_from_config_reads_the_training_section():
    config = load_config(None, ["method=[upper_bound]", "model.output_size=4", "training.optimizer=adam",
                                "training.lr=1e-2", "training.steps_per_task=7"])
    method = from_config(config)
    assert (method.training.optimizer, method.training.lr, method.training.steps_per_task) == ("adam", 1e-2, 7)
    assert len(method.networks) == 1 and method.networks[0].heads[0].out_features == 4


def test_the_lower_bound_is_naive_in_the_task_scenario_a_fine_tuned_trunk_with_per_task_heads():
    tasks = make_tasks(num_tasks=2)
    model = build_multihead("fc-300-300", output_size=4, seed=0)
    method = Naive(model, training=TrainingSettings(optimizer="adam", lr=1e-3, batch_size=32, steps_per_task=30),
                   scenario="task")
    method.begin_task(tasks[0])
    method.learn(tasks[0], progress=False)
    trunk, head0 = params(model.trunk), params(model.heads[0])
    method.begin_task(tasks[1])
    method.learn(tasks[1], progress=False)
    assert len(model.heads) == 2
    assert not same(params(model.trunk), trunk)  # the one trunk is fine-tuned on the later task
    assert same(params(model.heads[0]), head0)  # task 0's head takes no part in task 1's training
    assert "per task" in method_spec("naive").description
