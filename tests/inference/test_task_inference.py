"""One-shot (H, G) and binary task inference on well-separated synthetic SupSup tasks."""

from __future__ import annotations

import copy

import pytest
import torch

from supermasks.inference import (MaskBank, alpha_gradient, infer_per_image, infer_task, infer_task_binary,
                                  task_inference_accuracy)
from supermasks.inference.oneshot import per_image_alpha_gradient
from supermasks.methods.supsup import SupSup
from supermasks.models import add_task, build_model, masked_layers
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


def _looped_gradients(model, bank, x, objective, num_classes=None, tasks=None) -> torch.Tensor:
    """The reference: one superposed forward and backward per image."""
    return torch.stack([alpha_gradient(model, bank, x[i:i + 1], objective, num_classes, tasks)
                        for i in range(len(x))])


def _random_bank(model, num_tasks: int, seed: int = 0) -> MaskBank:
    layers = masked_layers(model)
    bank = MaskBank({name: tuple(m.weight.shape) for name, m in layers.items()})
    gen = torch.Generator().manual_seed(seed)
    for _ in range(num_tasks):
        bank.add({name: torch.rand(m.weight.shape, generator=gen) < 0.5 for name, m in layers.items()})
    return bank


@pytest.mark.parametrize("objective,num_classes", [("H", None), ("G", 10)])
def test_batched_per_image_gradient_matches_the_loop(objective: str, num_classes: int | None) -> None:
    # 37 tasks: two full 16-task words and an unfinished group, so both storage layouts are read.
    model = build_model("lenet-300-100", output_size=30, seed=0)
    bank = _random_bank(model, 37)
    x = torch.randn(12, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    batched = per_image_alpha_gradient(model, bank, x, objective, num_classes)
    looped = _looped_gradients(model, bank, x, objective, num_classes)
    assert batched.shape == (12, 37)
    torch.testing.assert_close(batched, looped, rtol=1e-4, atol=1e-6 * float(looped.abs().max()))
    assert torch.equal(infer_per_image(model, bank, x, objective, num_classes), looped.argmin(dim=1))


def test_batched_per_image_gradient_over_a_subset_of_tasks() -> None:
    model = build_model("fc-300-300", output_size=10, seed=1)
    bank = _random_bank(model, 20, seed=2)
    x = torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(4))
    tasks = torch.tensor([19, 3, 16, 0])  # tail, word, tail, word, out of order
    batched = per_image_alpha_gradient(model, bank, x, "H", tasks=tasks)
    looped = _looped_gradients(model, bank, x, "H", tasks=tasks)
    torch.testing.assert_close(batched, looped, rtol=1e-4, atol=1e-6 * float(looped.abs().max()))


def test_per_image_objective_is_each_images_own() -> None:
    # An image's gradient must not change with the rest of the batch (no batch-mean objective).
    model = build_model("lenet-300-100", output_size=10, seed=0)
    bank = _random_bank(model, 5)
    gen = torch.Generator().manual_seed(7)
    x, others = torch.randn(3, 1, 28, 28, generator=gen), torch.randn(9, 1, 28, 28, generator=gen)
    alone = per_image_alpha_gradient(model, bank, x[:1], "H")
    mixed = per_image_alpha_gradient(model, bank, torch.cat([x[:1], others]), "H")
    torch.testing.assert_close(mixed[:1], alone, rtol=1e-4, atol=1e-7)
    assert infer_per_image(model, bank, x[:0], "H").shape == (0,)


def test_per_image_inference_with_trained_masks_matches_infer_task(h_setup) -> None:
    model, tasks = h_setup
    bank = MaskBank.from_model(model)
    x = torch.cat([t.x_test[:4] for t in tasks])
    expected = torch.tensor([infer_task(model, bank, x[i:i + 1], "H") for i in range(len(x))])
    assert torch.equal(infer_per_image(model, bank, x, "H"), expected)
