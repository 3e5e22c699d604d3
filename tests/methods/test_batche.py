import pytest
import torch

from supermasks.config import load_config
from supermasks.methods.batche import SPEC, BatchE, build_batche, from_config
from supermasks.models.batche import BatchELinear
from supermasks.models import build_multihead
from supermasks.training import TrainingSettings, accuracy
from tests.conftest import make_tasks


def make(steps=30, seed=0, weight_lr=None):
    # The fast weights start at ±1, so they need a larger step than a dense net to move in few steps.
    return BatchE(build_batche("fc-300-300", output_size=4, seed=seed),
                  training=TrainingSettings(optimizer="adam", lr=1e-2, batch_size=32, steps_per_task=steps),
                  weight_lr=weight_lr, seed=seed)


def train(method, tasks):
    for task in tasks:
        method.begin_task(task)
        method.learn(task, progress=False)


def test_spec_is_task_incremental_only():
    assert SPEC.scenarios == frozenset({"task"})


def test_efficient_forward_equals_the_materialised_weight():
    torch.manual_seed(0)
    layer = BatchELinear(20, 7)
    layer.add_task(torch.Generator().manual_seed(1))
    with torch.no_grad():
        layer.r[1].mul_(torch.rand(7) + 0.5)  # not just signs: arbitrary trained values
        layer.s[1].mul_(torch.rand(20) + 0.5)
        layer.bias[1].normal_()
    x = torch.randn(5, 20)
    for t in range(2):
        weight = layer.weight * torch.outer(layer.r[t], layer.s[t])  # (out, in)
        assert torch.allclose(layer(x, t), x @ weight.T + layer.bias[t], atol=1e-5)


def test_task_0_is_a_plain_dense_network():
    layer = BatchELinear(20, 7)
    x = torch.randn(5, 20)
    assert torch.allclose(layer(x, 0), torch.nn.functional.linear(x, layer.weight, layer.bias[0]), atol=1e-6)
    # From the same seed, task 0 starts as the dense baselines' network does.
    dense = build_multihead("fc-300-300", output_size=4, seed=3)
    x = make_tasks(num_tasks=1)[0].x_test
    assert torch.allclose(build_batche("fc-300-300", output_size=4, seed=3)(x, 0), dense(x, 0), atol=1e-5)


def test_later_tasks_start_from_random_signs():
    method = make()
    tasks = make_tasks(num_tasks=2)
    for task in tasks:
        method.begin_task(task)
    for layer in method.model.layers:
        assert torch.equal(layer.r[0], torch.ones(layer.out_features))
        assert set(layer.r[1].tolist()) == {-1.0, 1.0} and set(layer.s[1].tolist()) == {-1.0, 1.0}


def test_weights_frozen_and_earlier_tasks_unchanged():
    tasks = make_tasks(num_tasks=3)
    method = make()
    logits, weights = {}, []
    for task in tasks:
        method.begin_task(task)
        method.learn(task, progress=False)
        logits[task.task_id] = method.predict(task.x_test, task.task_id).clone()
        weights.append([w.detach().clone() for w in method.model.shared_parameters()])
    for later in weights[1:]:  # W is bit-identical after tasks 1 and 2
        assert all(torch.equal(a, b) for a, b in zip(weights[0], later))
    for task in tasks[:2]:  # exactly the same logits after the later tasks were trained
        assert torch.equal(method.predict(task.x_test, task.task_id), logits[task.task_id])


def test_weight_lr_zero_keeps_w_random_while_task_0_learns():
    task = make_tasks(num_tasks=1)[0]
    method = make(weight_lr=0.0)
    initial = [w.detach().clone() for w in method.model.shared_parameters()]
    train(method, [task])
    assert all(torch.equal(a, b) for a, b in zip(initial, method.model.shared_parameters()))
    assert accuracy(lambda x: method.predict(x, 0), task.x_test, task.y_test) > 0.85


def test_memory_grows_by_the_per_task_vectors():
    method = make(steps=1)
    per_task = 4 * ((784 + 300 + 300) + (300 + 300 + 300) + (300 + 4 + 4))
    shared = 4 * (784 * 300 + 300 * 300 + 300 * 4)
    assert method.bytes_per_task() == per_task
    assert method.memory_bytes() == shared + per_task
    for task in make_tasks(num_tasks=3):
        before = method.memory_bytes()
        method.begin_task(task)
        assert method.memory_bytes() - before == (0 if task.task_id == 0 else per_task)
    assert method.memory_bytes() == shared + 3 * per_task


def test_learns_a_task_sequence():
    tasks = make_tasks(num_tasks=3)
    method = make()
    train(method, tasks)
    for task in tasks:
        assert accuracy(lambda x: method.predict(x, task.task_id), task.x_test, task.y_test) > 0.85


def test_needs_the_task_id_and_tasks_in_order():
    method = make(steps=1)
    tasks = make_tasks(num_tasks=3)
    assert not method.can_predict(None) and method.can_predict(0) and not method.can_predict(1)
    with pytest.raises(ValueError, match="task id"):
        method.predict(tasks[0].x_test, None)
    with pytest.raises(ValueError, match="in order"):
        method.begin_task(tasks[2])


def test_from_config():
    config = load_config(None, ["method=[batche]", "model.arch=lenet-300-100", "model.output_size=4",
                                "training.optimizer=adam", "training.lr=1e-2", "training.steps_per_task=7"])
    method = from_config(config)
    assert [layer.out_features for layer in method.model.layers] == [300, 100, 4]
    assert (method.training.optimizer, method.training.lr, method.training.steps_per_task) == ("adam", 1e-2, 7)
