"""Crop-and-flip augmentation on whole batches equals the per-image construction, is seeded per
(task, step), and reaches the methods' training batches, the same after a resume."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from supermasks.data import Task, TaskImages, load_source, make_benchmark
from supermasks.data.augment import CropFlip, black, crop_flip
from supermasks.data.transforms import CIFAR100_NORMALIZATION, MNIST_NORMALIZATION, normalize
from supermasks.methods.naive import Naive
from supermasks.methods.supsup import SupSup
from supermasks.models import build_model, build_multihead
from supermasks.seeds import streams
from supermasks.training import TrainingSettings, iterate_batches


def reference_crop_flip(raw: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, padding: int) -> torch.Tensor:
    """Image by image, on the raw uint8 pixels: pad with black, cut the window, mirror; as torchvision does."""
    out = []
    for image, (top, left), flip in zip(raw, offsets.tolist(), flips.tolist()):
        c, h, w = image.shape
        padded = torch.zeros(c, h + 2 * padding, w + 2 * padding, dtype=image.dtype)
        padded[:, padding:padding + h, padding:padding + w] = image
        window = padded[:, top:top + h, left:left + w]
        out.append(window.flip(-1) if flip else window)
    return torch.stack(out)


def test_black_is_the_normalised_zero() -> None:
    assert torch.equal(black(CIFAR100_NORMALIZATION), normalize(torch.zeros(1, 3, 1, 1, dtype=torch.uint8),
                                                                CIFAR100_NORMALIZATION).flatten())
    assert black(MNIST_NORMALIZATION).tolist() == pytest.approx([-0.1307 / 0.3081])


@pytest.mark.parametrize("padding", [0, 1, 4])
def test_batched_crop_flip_equals_cropping_raw_images_one_by_one(padding: int) -> None:
    gen = torch.Generator().manual_seed(padding)
    raw = torch.randint(0, 256, (64, 3, 8, 6), dtype=torch.uint8, generator=gen)
    offsets = torch.randint(0, 2 * padding + 1, (64, 2), generator=gen)
    offsets[:4] = torch.tensor([[0, 0], [2 * padding, 2 * padding], [0, 2 * padding], [2 * padding, 0]])
    flips = torch.randint(0, 2, (64,), generator=gen).bool()
    got = crop_flip(normalize(raw, CIFAR100_NORMALIZATION), offsets, flips, padding, black(CIFAR100_NORMALIZATION))
    expected = normalize(reference_crop_flip(raw, offsets, flips, padding), CIFAR100_NORMALIZATION)
    assert torch.equal(got, expected)  # bit for bit: each pixel is read, never computed


def test_grey_images_crop_too() -> None:
    raw = torch.randint(0, 256, (10, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    offsets, flips = torch.full((10, 2), 8), torch.ones(10, dtype=torch.bool)
    got = crop_flip(normalize(raw[:, 0]), offsets, flips, 4, black(MNIST_NORMALIZATION))
    assert torch.equal(got, normalize(reference_crop_flip(raw, offsets, flips, 4)[:, 0]))


def test_crop_flip_draws_are_seeded_per_task_and_step() -> None:
    aug = CropFlip(seed=3, task_id=1, padding=4, norm=CIFAR100_NORMALIZATION)
    offsets, flips = aug.draws(500, step=7)
    gen = torch.Generator().manual_seed(streams(3).augment(1, 7))
    assert torch.equal(offsets, torch.randint(0, 9, (500, 2), generator=gen))
    assert torch.equal(flips, torch.randint(0, 2, (500,), generator=gen).bool())
    assert set(offsets.flatten().tolist()) == set(range(9)) and 0.4 < flips.float().mean() < 0.6
    again = aug.draws(500, step=7)
    assert torch.equal(again[0], offsets) and torch.equal(again[1], flips)
    for other in (aug.draws(500, step=8), CropFlip(3, 2, norm=CIFAR100_NORMALIZATION).draws(500, 7),
                  CropFlip(4, 1, norm=CIFAR100_NORMALIZATION).draws(500, 7)):
        assert not torch.equal(other[0], offsets)


def test_crop_flip_reads_the_batch_through_the_task_images() -> None:
    data = load_source("synthetic-cifar")
    images = TaskImages(data.x_train, rows=torch.arange(100, 300), norm=data.normalization)
    aug = CropFlip(seed=0, task_id=0, norm=data.normalization)
    index = torch.tensor([5, 199, 0, 17])
    offsets, flips = aug.draws(4, step=2)
    raw = reference_crop_flip(data.x_train[100 + index], offsets, flips, 4)
    assert torch.equal(aug(images, index, 2), normalize(raw, data.normalization))


def test_iterate_batches_augments_without_moving_the_batch_order() -> None:
    data = load_source("synthetic-cifar")
    task = make_benchmark("splitcifar100", data, num_tasks=1, seed=0)[0]
    plain = list(iterate_batches(task.x_train, task.y_train, 16, 12, torch.Generator().manual_seed(5)))
    augmented = list(iterate_batches(task.x_train, task.y_train, 16, 12, torch.Generator().manual_seed(5),
                                     task.augment))
    order = list(iterate_batches(torch.arange(len(task.y_train)), task.y_train, 16, 12,
                                 torch.Generator().manual_seed(5)))
    for step, ((xp, yp), (xa, ya), (idx, _)) in enumerate(zip(plain, augmented, order, strict=True)):
        assert torch.equal(yp, ya) and xa.shape == xp.shape
        assert torch.equal(xa, task.augment(task.x_train, idx, step))
        assert not torch.equal(xa, xp)


class Recording:
    """An augmentation that records what it is asked for and changes nothing."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[int], int]] = []

    def __call__(self, images, index: torch.Tensor, step: int) -> torch.Tensor:
        self.calls.append((index.tolist(), step))
        return images[index]


def grey_tasks(n: int, augment) -> list[Task]:
    tasks = make_benchmark("permuted", load_source("synthetic"), num_tasks=n, seed=0)
    return [dataclasses.replace(t, augment=augment(t.task_id)) for t in tasks]


@pytest.mark.parametrize("method", ["supsup", "naive"])
def test_methods_draw_their_training_batches_through_the_task_augment(method: str) -> None:
    recorder = Recording()
    (task,) = grey_tasks(1, lambda _: recorder)
    if method == "supsup":
        learner = SupSup(build_model("fc-300-300", output_size=10, seed=0),
                         training=TrainingSettings(lr=1e-3, batch_size=32, steps_per_task=6), seed=0)
    else:
        learner = Naive(build_multihead("fc-300-300", output_size=10, seed=0),
                        training=TrainingSettings(optimizer="adam", lr=1e-3, batch_size=32, steps_per_task=6),
                        scenario="task")
    learner.begin_task(task)
    learner.learn(task, progress=False)
    order = torch.arange(len(task.y_train))
    expected = [idx.tolist() for idx, _ in iterate_batches(order, order, 32, 6,
                                                           torch.Generator().manual_seed(streams(0).batches))]
    assert recorder.calls == [(idx, step) for step, idx in enumerate(expected)]


def test_a_resumed_supsup_trains_the_next_augmented_task_as_the_uninterrupted_one() -> None:
    tasks = grey_tasks(3, lambda t: CropFlip(seed=0, task_id=t, padding=4))

    def make() -> SupSup:
        return SupSup(build_model("fc-300-300", output_size=10, seed=0),
                      training=TrainingSettings(lr=1e-3, batch_size=32, steps_per_task=8), seed=0)

    straight = make()
    for task in tasks[:2]:
        straight.learn(task, progress=False)
    state = copy.deepcopy(straight.state_dict())  # what a checkpoint after task 1 holds
    resumed, plain = make(), make()
    resumed.load_state_dict(copy.deepcopy(state))
    plain.load_state_dict(copy.deepcopy(state))
    losses = straight.learn(tasks[2], progress=False).losses
    assert resumed.learn(tasks[2], progress=False).losses == losses
    for name, mask in straight.masks(2).items():
        assert np.array_equal(resumed.masks(2)[name], mask)
    # The same task without its augmentation trains differently: the augmentation was applied.
    assert plain.learn(dataclasses.replace(tasks[2], augment=None), progress=False).losses != losses


def test_an_augmented_task_learned_apart_equals_it_learned_in_sequence() -> None:
    tasks = grey_tasks(2, lambda t: CropFlip(seed=0, task_id=t, padding=4))

    def make() -> SupSup:
        return SupSup(build_model("fc-300-300", output_size=10, seed=0),
                      training=TrainingSettings(lr=1e-3, batch_size=32, steps_per_task=6), seed=0)

    in_sequence = make()
    fits = [in_sequence.learn(task, progress=False) for task in tasks]
    starts = make().task_starts(tasks)
    # Learned as task 0 of a fresh SupSup: its augmentation keeps its own task id, so the same crops.
    alone = make().learn_alone(tasks[1], starts[1])
    assert alone.fit.losses == fits[1].losses
