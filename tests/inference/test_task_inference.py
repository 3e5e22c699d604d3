"""One-shot (H, G) and binary task inference on well-separated synthetic SupSup tasks."""

from __future__ import annotations

import copy

import pytest
import torch

from supermasks.inference import (MaskBank, infer_per_image, infer_task, infer_task_binary,
                                  task_inference_accuracy)
from supermasks.methods.supsup import SupSup
from supermasks.models import add_task, build_model
from tests.conftest import make_tasks

NUM_TASKS, NUM_CLASSES = 4, 4


def trained(output_size: int):
    tasks = make_tasks(num_tasks=NUM_TASKS, num_classes=NUM_CLASSES, seed=0)
    method = SupSup(build_model("fc-300-300", output_size=output_size, seed=0), optimizer="adam", lr=1e-3,
                    batch_size=32, steps_per_task=60)
    for task in tasks:
        method.learn(task, progress=False)
    return method.model, tasks


@pytest.fixture(scope="module")
def h_setup():
    return trained(output_size=NUM_CLASSES)


@pytest.fixture(scope="module")
def g_setup():
    return trained(output_size=20)  # 16 s-neurons that are never labels


def test_oneshot_h_and_binary_pick_the_right_task(h_setup) -> None:
    model, tasks = h_setup
    bank = MaskBank.from_model(model)
    for task in tasks:
        assert infer_task(model, bank, task.x_test, "H") == task.task_id
        assert infer_task_binary(model, bank, task.x_test, "H") == task.task_id
    batches = [(t.x_test, t.task_id) for t in tasks]
    assert task_inference_accuracy(model, bank, batches) == 1.0
    assert task_inference_accuracy(model, bank, batches, method="binary") == 1.0


def test_single_image_inference_is_mostly_right(h_setup) -> None:
    model, tasks = h_setup
    bank = MaskBank.from_model(model)
    x = torch.cat([t.x_test[:8] for t in tasks])
    truth = torch.arange(NUM_TASKS).repeat_interleave(8)
    predicted = infer_per_image(model, bank, x, "H")
    assert predicted.dtype == torch.long and predicted.shape == truth.shape
    assert (predicted == truth).float().mean() >= 0.9


def test_oneshot_g_with_s_neurons(g_setup) -> None:
    model, tasks = g_setup
    bank = MaskBank.from_model(model)
    for task in tasks:
        assert infer_task(model, bank, task.x_test, "G", num_classes=NUM_CLASSES) == task.task_id
        assert infer_task_binary(model, bank, task.x_test, "G", num_classes=NUM_CLASSES) == task.task_id
    with pytest.raises(ValueError, match="s-neurons"):
        infer_task(model, bank, tasks[0].x_test, "G", num_classes=20)


def test_unlearned_tasks_are_never_chosen(h_setup) -> None:
    model, tasks = h_setup
    model = copy.deepcopy(model)
    # The model has scores for five tasks (two never trained), the bank holds the first three.
    gen = torch.Generator().manual_seed(5)
    add_task(model, gen)
    bank = MaskBank.from_model(model, task_ids=range(3))
    for task in tasks:
        x = task.x_test
        picks = {infer_task(model, bank, x, "H"), infer_task_binary(model, bank, x, "H"),
                 *infer_per_image(model, bank, x[:16], "H").tolist()}
        assert picks <= {0, 1, 2}
        if task.task_id < 3:
            assert infer_task(model, bank, x, "H") == task.task_id
