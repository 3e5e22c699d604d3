import pytest
import torch

from supermasks.config import load_config

from supermasks.config import ConfigError, ExperimentConfig
from supermasks.methods.separate_heads import SPEC, SeparateHeads, from_config
from supermasks.models import build_multihead
from supermasks.training import TrainingSettings, accuracy
from tests.conftest import make_conflicting_tasks, make_tasks


def make(trunk="task0", steps=30, seed=0):
    model = build_multihead("fc-300-300", output_size=4, seed=seed)
    training = TrainingSettings(optimizer="adam", lr=1e-3, batch_size=32, steps_per_task=steps)
    return SeparateHeads(model, training=training, trunk=trunk, seed=seed)


def trunk_state(method):
    return [p.detach().clone() for p in method.model.trunk.parameters()]


def test_spec_is_task_incremental_only():
    assert SPEC.scenarios == frozenset({"task"})


@pytest.mark.parametrize("trunk", ["task0", "random"])
def test_trunk_changes_only_on_task_0_in_task0_mode(trunk):
    method = make(trunk)
    initial = trunk_state(method)
    states = []
    for task in make_tasks(num_tasks=3):
        method.begin_task(task)
        method.learn(task, progress=False)
        states.append(trunk_state(method))
    trained_on_task0 = not all(torch.equal(a, b) for a, b in zip(initial, states[0]))
    assert trained_on_task0 == (trunk == "task0")
    for later in states[1:]:  # bit-identical after tasks 1 and 2
        assert all(torch.equal(a, b) for a, b in zip(states[0], later))


def test_earlier_tasks_predictions_never_change():
    tasks = make_tasks(num_tasks=3)
    method = make()
    logits = {}
    for task in tasks:
        method.begin_task(task)
        method.learn(task, progress=False)
        logits[task.task_id] = method.predict(task.x_test, task.task_id).clone()
    for task in tasks[:2]:
        assert torch.equal(method.predict(task.x_test, task.task_id), logits[task.task_id])


def test_memory_grows_by_one_head_per_task():
    method = make(steps=1)
    head_bytes = (300 * 4 + 4) * 4
    trunk_bytes = (784 * 300 + 300 + 300 * 300 + 300) * 4
    assert method.memory_bytes() == trunk_bytes + head_bytes
    for task in make_tasks(num_tasks=3):
        before = method.memory_bytes()
        method.begin_task(task)
        assert method.memory_bytes() - before == (0 if task.task_id == 0 else head_bytes)
    assert method.memory_bytes() == trunk_bytes + 3 * head_bytes


@pytest.mark.parametrize("trunk", ["task0", "random"])
def test_per_task_heads_learn_conflicting_tasks(trunk):
    tasks = make_conflicting_tasks()
    method = make(trunk)
    for task in tasks:
        method.begin_task(task)
        method.learn(task, progress=False)
    for task in tasks:  # the same inputs with swapped labels: only separate heads can fit both
        assert accuracy(lambda x: method.predict(x, task.task_id), task.x_test, task.y_test) > 0.9


def test_needs_the_task_id():
    method = make(steps=1)
    assert not method.can_predict(None) and method.can_predict(0) and not method.can_predict(1)
    with pytest.raises(ValueError, match="task id"):
        method.predict(torch.zeros(2, 1, 28, 28), None)


def test_config_rejects_an_unknown_trunk_mode():
    with pytest.raises(ConfigError, match="separate_heads.trunk: unknown value 'pretrained'; choose one of task0, random"):
        load_config(None, ["method=[separate_heads]", "separate_heads.trunk=pretrained"])
    load_config(None, ["method=[separate_heads]", "separate_heads.trunk=random"])
    with pytest.raises(ValueError, match="trunk"):
        make("pretrained")


def test_from_config_reads_the_trunk_mode():
    config = load_config(None, ["method=[separate_heads]", "separate_heads.trunk=random", "model.output_size=4",
                                "training.optimizer=adam", "training.lr=1e-2", "training.steps_per_task=7"])
    method = from_config(config)
    assert (method.trunk, method.training.lr, method.training.steps_per_task) == ("random", 1e-2, 7)
    assert method.model.heads[0].out_features == 4
