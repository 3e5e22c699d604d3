"""Methods on the conv nets: SupSup (GG, task inference, transfer, state), the dense baselines, refusals."""

from __future__ import annotations

import copy

import pytest
import torch

from supermasks.config import ConfigError
from supermasks.methods import list_methods, method_spec
from supermasks.methods.supsup import SupSup
from supermasks.models import build_model, masked_layers
from supermasks.runner import validate
from supermasks.training import TrainingSettings, accuracy
from tests.conftest import make_tasks
from tests.methods.test_registry import config_for
from tests.methods.test_state_dict import assert_same, build, predictions, train


def _supsup(arch="lenet5", steps=60, batch_norm=False, task_inference="oneshot", **model):
    net = build_model(arch, output_size=4, batch_norm=batch_norm, seed=0, **model)
    return SupSup(net, training=TrainingSettings(lr=1e-3, batch_size=32, steps_per_task=steps), seed=0,
                  task_inference=task_inference)


@pytest.mark.parametrize("batch_norm, model", [
    (False, {}),
    (True, {"rule": "topk", "density": 3.0, "density_budget": "er"}),
])
def test_lenet5_supsup_keeps_every_earlier_tasks_outputs_exactly(batch_norm, model):
    tasks = make_tasks(num_tasks=3)
    method = _supsup(steps=30, batch_norm=batch_norm, **model)
    logits, masks = {}, {}
    for task in tasks:
        method.learn(task, progress=False)
        logits[task.task_id] = method.predict(task.x_test, task.task_id).clone()
        masks[task.task_id] = method.masks(task.task_id)
        assert accuracy(lambda x: method.predict(x, task.task_id), task.x_test, task.y_test) > 0.8
    for task in tasks[:2]:
        assert torch.equal(method.predict(task.x_test, task.task_id), logits[task.task_id])
        for layer, mask in method.masks(task.task_id).items():
            assert mask.shape == masks[task.task_id][layer].shape and (mask == masks[task.task_id][layer]).all()
    assert method.masks(0)["conv1"].shape == (6, 1, 5, 5)


@pytest.mark.parametrize("task_inference", ["oneshot", "binary"])
def test_superposed_conv_masks_find_the_task_of_a_batch_and_of_single_images(task_inference):
    tasks = make_tasks(num_tasks=3)
    method = _supsup(task_inference=task_inference)
    for task in tasks:
        method.learn(task, progress=False)
    assert [method.infer_task(t.x_test[:64]) for t in tasks] == [0, 1, 2]
    # One image at a time is harder for this small conv net on pixel-permuted tasks (an MLP finds
    # every image here): well above chance (1/3), not perfect.
    hits = torch.cat([method.infer_task_per_image(t.x_test[:64]) == t.task_id for t in tasks])
    assert hits.float().mean() > 0.45


def test_mean_transfer_starts_a_conv_task_from_the_earlier_tasks_scores():
    tasks = make_tasks(num_tasks=2)
    net = build_model("lenet5", output_size=4, rule="topk", density=0.3, seed=0)
    method = SupSup(net, training=TrainingSettings(lr=1e-3, batch_size=32, steps_per_task=10), seed=0, transfer="mean")
    method.learn(tasks[0], progress=False)
    final0 = {name: m.scores[0].detach().clone() for name, m in masked_layers(net).items()} if method.keep_scores \
        else dict(method.score_sum_)
    method.begin_task(tasks[1])
    for name, m in masked_layers(net).items():
        start = m.scores[1].detach()
        # one earlier task: the mean is its scores, rescaled to the random init's norm (same direction)
        cos = torch.nn.functional.cosine_similarity(start.flatten(), final0[name].flatten(), dim=0)
        assert cos > 0.999, name


def test_resnet18_supsup_learns_with_per_task_batch_norm_and_keeps_earlier_tasks():
    g = torch.Generator().manual_seed(0)
    tasks = []
    from supermasks.data.task import Task
    for t in range(2):
        protos = torch.randn(3, 3, 8, 8, generator=g) * 2
        def draw(n):
            y = torch.randint(0, 3, (n,), generator=g)
            return protos[y] + 0.3 * torch.randn(n, 3, 8, 8, generator=g), y
        (xtr, ytr), (xte, yte) = draw(96), draw(48)
        tasks.append(Task(t, f"colour-{t}", xtr, ytr, xte, yte, (0, 1, 2), 3))
    net = build_model("resnet18", output_size=3, rule="topk", density=0.5, batch_norm=True, seed=0)
    method = SupSup(net, training=TrainingSettings(optimizer="adam", lr=1e-2, batch_size=32, steps_per_task=15), seed=0)
    method.learn(tasks[0], progress=False)
    before = method.predict(tasks[0].x_test, 0).clone()
    method.learn(tasks[1], progress=False)
    assert torch.equal(method.predict(tasks[0].x_test, 0), before)
    assert accuracy(lambda x: method.predict(x, 1), tasks[1].x_test, tasks[1].y_test) > 0.6


CONV_CASES = [("supsup", "task"), ("supsup", "gnu"), ("naive", "task"), ("ewc", "task"), ("replay", "task"),
              ("joint", "task"), ("separate_heads", "task"), ("upper_bound", "task"), ("batche", "task")]


@pytest.mark.parametrize("name, scenario", CONV_CASES)
def test_a_loaded_lenet5_state_predicts_and_trains_on_bit_for_bit(name, scenario, tmp_path):
    tasks = make_tasks(num_tasks=3, n_train=64, n_test=32)
    straight = build(name, scenario, tmp_path, "model.arch=lenet5")
    for task in tasks[:2]:
        train(straight, task)
    resumed = build(name, scenario, tmp_path, "model.arch=lenet5")
    resumed.load_state_dict(copy.deepcopy(straight.state_dict()))
    assert_same(predictions(straight, tasks[:2]), predictions(resumed, tasks[:2]))
    assert straight.memory_bytes() == resumed.memory_bytes()
    assert train(straight, tasks[2]) == train(resumed, tasks[2])
    assert_same(predictions(straight, tasks), predictions(resumed, tasks))


def test_hopsupsup_refuses_conv_nets_before_training(tmp_path):
    scenario = sorted(method_spec("hopsupsup").scenarios)[0]
    with pytest.raises(ConfigError, match="lenet5 is a convolutional network"):
        validate(config_for(scenario, tmp_path, "method=hopsupsup", "model.arch=lenet5"))


def test_every_other_method_validates_with_a_conv_net(tmp_path):
    for name in list_methods():
        if name == "hopsupsup":
            continue
        for scenario in sorted(method_spec(name).scenarios):
            split = ["data.benchmark=split", "data.label_mode=keep", "model.output_size=10"] if scenario == "class" else []
            validate(config_for(scenario, tmp_path, f"method={name}", "model.arch=lenet5", *split))
