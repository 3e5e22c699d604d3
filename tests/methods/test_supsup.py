import math

import torch

from supermasks.methods import list_methods
from supermasks.methods.supsup import SupSup
from supermasks.models import build_model
from supermasks.training import TrainingSettings, accuracy


def make(steps=60, batch_norm=False, seed=0):
    model = build_model("fc-300-300", output_size=4, batch_norm=batch_norm, seed=seed)
    return SupSup(model, training=TrainingSettings(lr=1e-3, batch_size=32, steps_per_task=steps), seed=seed)


def test_registry_lists_supsup():
    assert "supsup" in list_methods()


def test_learns_a_synthetic_task(tiny_tasks):
    method = make()
    task = tiny_tasks[0]
    method.begin_task(task)
    before = accuracy(lambda x: method.predict(x, 0), task.x_test, task.y_test)
    method.learn(task, progress=False)
    after = accuracy(lambda x: method.predict(x, 0), task.x_test, task.y_test)
    assert after > 0.9 and after > before + 0.3


def test_earlier_tasks_predictions_never_change(tiny_tasks):
    from tests.conftest import make_tasks

    tasks = make_tasks(num_tasks=4)
    method = make(steps=20, batch_norm=True)
    snapshots = {}
    for task in tasks:
        method.learn(task, progress=False)
        snapshots[task.task_id] = method.predict(task.x_test, task.task_id).clone()
        snapshots[("masks", task.task_id)] = method.masks(task.task_id)
    for task in tasks[:3]:
        # exactly the same logits (not just predictions) after three more tasks were trained
        assert torch.equal(method.predict(task.x_test, task.task_id), snapshots[task.task_id])
        for layer, mask in method.masks(task.task_id).items():
            assert (mask == snapshots[("masks", task.task_id)][layer]).all()


def test_same_seed_same_masks(tiny_tasks):
    a, b = make(steps=10), make(steps=10)
    for m in (a, b):
        m.learn(tiny_tasks[0], progress=False)
    for layer, mask in a.masks(0).items():
        assert (mask == b.masks(0)[layer]).all()


def test_bytes_per_task_is_one_bit_per_weight_plus_bn():
    method = make(batch_norm=True)
    weights = 784 * 300 + 300 * 300 + 300 * 4
    assert method.bytes_per_task() == math.ceil(784 * 300 / 8) + math.ceil(300 * 300 / 8) + math.ceil(1200 / 8) \
        + 2 * 4 * (300 + 300)
    assert method.bytes_per_task() < weights  # far below 32 bits per weight
