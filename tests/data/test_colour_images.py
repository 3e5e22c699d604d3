"""Colour images through the data path: per-channel normalisation per batch, bit for bit.

The reference normalises the whole uint8 (N, C, H, W) set up front, out of place, with one
float32 mean and std per channel, then applies the task's pixel map or row selection.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from supermasks.data import Dataset, TaskImages, make_benchmark, materialize
from supermasks.data.transforms import (
    CIFAR100_NORMALIZATION,
    MNIST_NORMALIZATION,
    Normalization,
    normalize,
    rotate,
)


def reference_normalize(images: torch.Tensor, norm: Normalization) -> torch.Tensor:
    mean = torch.tensor(norm.mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(norm.std, dtype=torch.float32).view(-1, 1, 1)
    return (images.float() / 255.0 - mean) / std


def colour_dataset(n_train: int = 40, n_test: int = 20, classes: int = 10, side: int = 8) -> Dataset:
    gen = torch.Generator().manual_seed(0)
    x_train = torch.randint(0, 256, (n_train, 3, side, side), generator=gen, dtype=torch.uint8)
    x_test = torch.randint(0, 256, (n_test, 3, side, side), generator=gen, dtype=torch.uint8)
    y_train = torch.arange(n_train) % classes
    y_test = torch.arange(n_test) % classes
    return Dataset("colour", x_train, y_train, x_test, y_test, classes, False, "generated colour",
                   normalization=CIFAR100_NORMALIZATION)


def test_normalize_colour_matches_out_of_place_reference() -> None:
    images = colour_dataset().x_train
    out = normalize(images, CIFAR100_NORMALIZATION)
    assert out.shape == images.shape and out.dtype == torch.float32
    assert torch.equal(out, reference_normalize(images, CIFAR100_NORMALIZATION))
    # Channel c is normalised with mean[c], std[c]: black maps to -mean/std per channel.
    black = normalize(torch.zeros(1, 3, 2, 2, dtype=torch.uint8), CIFAR100_NORMALIZATION)
    for c in range(3):
        expected = (0.0 - CIFAR100_NORMALIZATION.mean[c]) / CIFAR100_NORMALIZATION.std[c]
        assert black[0, c].flatten().tolist() == pytest.approx([expected] * 4, rel=1e-6)


def test_grey_normalisation_is_unchanged() -> None:
    images = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    expected = ((images.float() / 255.0 - 0.1307) / 0.3081).unsqueeze(1)
    assert torch.equal(normalize(images), expected)
    assert torch.equal(normalize(images, MNIST_NORMALIZATION), expected)


def test_mismatched_channels_are_refused() -> None:
    with pytest.raises(ValueError, match="channel"):
        normalize(torch.zeros(2, 3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="channel"):
        normalize(torch.zeros(2, 4, 4, dtype=torch.uint8), CIFAR100_NORMALIZATION)
    with pytest.raises(ValueError, match="channel"):
        TaskImages(torch.zeros(2, 3, 4, 4, dtype=torch.uint8))
    data = colour_dataset()
    with pytest.raises(ValueError, match="channel"):
        Dataset("bad", data.x_train, data.y_train, data.x_test, data.y_test, 10, False, "bad")
    with pytest.raises(ValueError, match="one mean and one std"):
        Normalization((0.5, 0.5), (0.2,))


def test_colour_task_images_per_batch_equal_the_whole_set() -> None:
    data = colour_dataset()
    images = TaskImages(data.x_train, norm=data.normalization)
    full = reference_normalize(data.x_train, data.normalization)
    assert images.shape == (40, 3, 8, 8)
    assert torch.equal(materialize(images), full)
    idx = torch.tensor([5, 0, 39, -1, 7])
    assert torch.equal(images[idx], full[idx])
    assert torch.equal(images[3], full[3])
    assert torch.equal(images[2:9], full[2:9])


def test_colour_split_selects_rows_and_remaps() -> None:
    data = colour_dataset()
    tasks = make_benchmark("split", data, num_tasks=2, seed=0, classes_per_task=2)
    full = reference_normalize(data.x_train, data.normalization)
    for task in tasks:
        keep = torch.isin(data.y_train, torch.tensor(task.classes))
        assert torch.equal(materialize(task.x_train), full[keep])
        assert task.x_train.shape[1:] == (3, 8, 8)
        assert set(task.y_train.tolist()) == {0, 1}


def test_colour_permuted_and_rotated_move_all_channels_of_a_pixel() -> None:
    data = colour_dataset()
    full = reference_normalize(data.x_test, data.normalization)
    permuted = make_benchmark("permuted", data, num_tasks=2, seed=3)[1]
    perm = permuted.pixel_map
    expected = full.reshape(20, 3, 64)[:, :, perm].reshape(20, 3, 8, 8)
    assert torch.equal(materialize(permuted.x_test), expected)
    rotated = make_benchmark("rotated", data, num_tasks=4, seed=0)[1]
    raw = torch.stack([rotate(data.x_test[:, c], 90.0) for c in range(3)], dim=1)
    assert torch.equal(materialize(rotated.x_test), reference_normalize(raw, data.normalization))
    assert np.isclose(rotated.angle, 90.0)
