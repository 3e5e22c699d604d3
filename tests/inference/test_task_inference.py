"""One-shot (H, G) and binary task inference on well-separated synthetic SupSup tasks."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from supermasks.inference import (MaskBank, alpha_gradient, infer_per_image, infer_task, infer_task_binary,
                                  inference_objective, task_inference_accuracy)
from supermasks.inference.binary import _search_rounds
from supermasks.inference.oneshot import per_image_alpha_gradient
from supermasks.methods.supsup import SupSup
from supermasks.models import MaskedMLP, add_task, build_model, masked_layers
from supermasks.training import TrainingSettings
from tests.conftest import make_tasks

NUM_TASKS, NUM_CLASSES = 4, 4


def trained(output_size: int):
    tasks = make_tasks(num_tasks=NUM_TASKS, num_classes=NUM_CLASSES, seed=0)
    method = SupSup(build_model("fc-300-300", output_size=output_size, seed=0),
                    training=TrainingSettings(optimizer="adam", lr=1e-3, batch_size=32, steps_per_task=60))
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


# -- binary search over re-packed subsets ---------------------------------------------------------


def _assert_a_smaller_half(kept: torch.Tensor, ids: torch.Tensor, reference: torch.Tensor) -> None:
    """`kept` (task ids) are a smaller half of `ids` by the `reference` gradient, up to float rounding.

    Two code paths that sum in different orders may order two near-equal gradients either way
    (with 250 random masks two of them differ by 3e-5 of the largest), so only an order that
    rounding cannot explain is an error.
    """
    is_kept = torch.isin(ids, kept)
    assert kept.numel() == int(is_kept.sum()) == (ids.numel() + 1) // 2
    if kept.numel() < ids.numel():
        tolerance = 1e-5 * float(reference.abs().max())
        assert float(reference[is_kept].max()) <= float(reference[~is_kept].min()) + tolerance


def _dense_rounds(model, stacks: dict[str, torch.Tensor], x, objective, num_classes=None):
    """The paper's binary search on dense float64 masks: per round, the candidates and their gradients."""
    model = copy.deepcopy(model).double()
    layers = masked_layers(model)
    remaining = torch.arange(next(iter(stacks.values())).shape[0])
    while remaining.numel() > 1:
        alphas = torch.full((remaining.numel(),), 1.0 / remaining.numel(), dtype=torch.float64, requires_grad=True)
        for name, layer in layers.items():
            mixture = torch.einsum("t,t...->...", alphas, stacks[name][remaining].double())
            layer.injected_weight = lambda w=layer.weight, m=mixture: w * m
        (grad,) = torch.autograd.grad(inference_objective(model(x.double()), objective, num_classes), alphas)
        yield remaining, grad
        remaining = remaining[torch.sort(grad, stable=True).indices[:(remaining.numel() + 1) // 2]]


def _random_masks(model, num_tasks: int, seed: int) -> tuple[MaskBank, dict[str, torch.Tensor]]:
    layers = masked_layers(model)
    gen = torch.Generator().manual_seed(seed)
    stacks = {name: torch.rand(num_tasks, *m.weight.shape, generator=gen) < 0.5 for name, m in layers.items()}
    bank = MaskBank({name: tuple(m.weight.shape) for name, m in layers.items()})
    for t in range(num_tasks):
        bank.add({name: stack[t] for name, stack in stacks.items()})
    return bank, stacks


def _small_model(output_size: int, seed: int) -> MaskedMLP:
    return MaskedMLP((784, 24, 16, output_size), rule="threshold", density=0.5, batch_norm=False,
                     generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("num_tasks,objective", [(2, "H"), (3, "H"), (37, "H"), (100, "H"), (53, "G")])
def test_binary_rounds_match_dense_masks(num_tasks: int, objective: str) -> None:
    # Odd sizes, several words and a tail: every round after the first runs on a re-packed subset.
    model = _small_model(output_size=14, seed=num_tasks)
    bank, stacks = _random_masks(model, num_tasks, seed=num_tasks)
    x = torch.randn(32, 1, 28, 28, generator=torch.Generator().manual_seed(num_tasks))
    num_classes = 10 if objective == "G" else None
    packed = list(_search_rounds(model, bank, x, objective, num_classes))
    dense = list(_dense_rounds(model, stacks, x, objective, num_classes))
    assert len(packed) == len(dense) == math.ceil(math.log2(num_tasks))
    for (ids, grad), (dense_ids, dense_grad) in zip(packed, dense):
        assert torch.equal(ids, dense_ids)
        torch.testing.assert_close(grad.double(), dense_grad, rtol=1e-4, atol=1e-6 * float(dense_grad.abs().max()))
    last_ids, last_grad = dense[-1]
    assert infer_task_binary(model, bank, x, objective, num_classes) == int(last_ids[last_grad.argmin()])


@pytest.mark.parametrize("num_tasks", [1, 5, 16, 17, 70, 250])
def test_binary_picks_as_superposing_from_the_bank(num_tasks: int) -> None:
    # Every round on re-packed subsets has the gradients of superposing its candidates straight
    # from the bank, and keeps a smaller half by them; the last round's half is the pick.
    model = build_model("lenet-300-100", output_size=30, seed=1)
    bank = _random_bank(model, num_tasks, seed=num_tasks)
    for seed in range(2):
        x = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
        for objective, num_classes in (("H", None), ("G", 20)):
            rounds = list(_search_rounds(model, bank, x, objective, num_classes))
            assert len(rounds) == math.ceil(math.log2(num_tasks))
            pick = infer_task_binary(model, bank, x, objective, num_classes)
            kept = [ids for ids, _ in rounds[1:]] + [torch.tensor([pick])]
            for (ids, grad), survivors in zip(rounds, kept):
                reference = alpha_gradient(model, bank, x, objective, num_classes, tasks=ids)
                torch.testing.assert_close(grad, reference, rtol=1e-4, atol=1e-5 * float(reference.abs().max()))
                _assert_a_smaller_half(survivors, ids, reference)
            if not rounds:
                assert pick == 0


def test_binary_never_picks_unlearned_masks(h_setup) -> None:
    # The learned tasks sit among 13 random masks (tasks never trained), one of them in the tail.
    model, tasks = h_setup
    learned = MaskBank.from_model(model)
    at = {0: 3, 1: 8, 2: 16, 3: 11}  # learned task -> its index in the bigger bank
    task_at = {index: task for task, index in at.items()}
    gen = torch.Generator().manual_seed(9)
    bank = MaskBank(learned.shapes)
    for index in range(17):
        bank.add({name: learned.mask(name, task_at[index]) if index in task_at else
                  torch.rand(shape, generator=gen) < 0.5 for name, shape in learned.shapes.items()})
    for task in tasks:
        assert infer_task_binary(model, bank, task.x_test, "H") == at[task.task_id]
        assert infer_task(model, bank, task.x_test, "H") == at[task.task_id]


def test_bfloat16_products_are_chosen_explicitly_and_pick_the_right_task(h_setup) -> None:
    model, tasks = h_setup
    bank = MaskBank.from_model(model)
    x = tasks[1].x_test
    default = alpha_gradient(model, bank, x)
    assert torch.equal(alpha_gradient(model, bank, x, precision="float32"), default)  # float32 is the default
    bf16 = alpha_gradient(model, bank, x, precision="bfloat16")
    assert bf16.dtype == torch.float32 and not torch.equal(bf16, default)  # rounded products: close, not equal
    torch.testing.assert_close(bf16, default, rtol=0, atol=0.05 * float(default.abs().max()))
    for task in tasks:
        assert infer_task(model, bank, task.x_test, precision="bfloat16") == task.task_id
        assert infer_task_binary(model, bank, task.x_test, precision="bfloat16") == task.task_id
    images = torch.cat([t.x_test[:8] for t in tasks])
    assert torch.equal(infer_per_image(model, bank, images, precision="bfloat16"),
                       per_image_alpha_gradient(model, bank, images, precision="bfloat16").argmin(dim=1))
    for bad in (lambda: infer_task(model, bank, x, precision="float16"),
                lambda: infer_per_image(model, bank, x, precision="bf16"),
                lambda: task_inference_accuracy(model, bank, [(x, 1)], precision="half")):
        with pytest.raises(ValueError, match="unknown precision .*; choose one of float32, bfloat16"):
            bad()
