"""Permuted tasks that move a chosen fraction of the pixels (data.permute_fraction)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from supermasks.config import load_config
from supermasks.data import Dataset, make_benchmark, materialize, normalize
from supermasks.data.benchmarks import moved_count, partial_permutation
from supermasks.runner.build import build_tasks


def moved(pixel_map: torch.Tensor) -> int:
    return int((pixel_map != torch.arange(len(pixel_map))).sum())


def reference_images(x: torch.Tensor, pixel_map: torch.Tensor) -> torch.Tensor:
    """Output pixel q copies input pixel map[q], for the whole set at once."""
    return normalize(x.reshape(len(x), -1)[:, pixel_map].reshape(x.shape))


@pytest.mark.parametrize("seed", [0, 5])
def test_a_quarter_moves_exactly_196_of_784_pixels_in_every_task(small: Dataset, seed: int) -> None:
    tasks = make_benchmark("permuted", small, num_tasks=6, seed=seed, permute_fraction=0.25)
    for task in tasks:
        assert moved(task.pixel_map) == 196
        assert torch.equal(task.pixel_map.sort().values, torch.arange(784))  # a permutation
        for x, images in ((small.x_train, task.x_train), (small.x_test, task.x_test)):
            assert torch.equal(materialize(images), reference_images(x, task.pixel_map))
    # Each task draws its own subset, from its own stream.
    assert not torch.equal(tasks[0].pixel_map, tasks[1].pixel_map)
    again = make_benchmark("permuted", small, num_tasks=6, seed=seed, permute_fraction=0.25)
    assert all(torch.equal(a.pixel_map, b.pixel_map) for a, b in zip(tasks, again))


def test_the_documented_construction_step_by_step() -> None:
    rng = np.random.RandomState(3)
    order = rng.permutation(784)[:100]
    expected = np.arange(784)
    for j in range(100):  # the pixel at order[j] goes to order[j + 1], the last one to order[0]
        expected[order[(j + 1) % 100]] = order[j]
    got = partial_permutation(np.random.RandomState(3), 784, 100 / 784)
    assert np.array_equal(got, expected)
    # One cycle through the subset: following the map from one moved pixel visits all 100.
    start, seen, q = order[0], set(), order[0]
    while q not in seen:
        seen.add(q)
        q = got[q]
    assert len(seen) == 100 and q == start


@pytest.mark.parametrize(("fraction", "count"), [(0.0, 0), (2 / 784, 2), (0.3, 235), (0.5, 392), (0.9995, 784)])
def test_moved_count_rounds_and_the_map_moves_that_many(fraction: float, count: int) -> None:
    assert moved_count(784, fraction) == count
    pixel_map = partial_permutation(np.random.RandomState(0), 784, fraction)
    assert int((pixel_map != np.arange(784)).sum()) == count


def test_fraction_zero_is_the_identity(small: Dataset) -> None:
    for task in make_benchmark("permuted", small, num_tasks=3, seed=0, permute_fraction=0):
        assert torch.equal(task.pixel_map, torch.arange(784))
        assert torch.equal(materialize(task.x_test), normalize(small.x_test))


def test_fraction_one_is_the_full_permutation_of_before(small: Dataset) -> None:
    seed = 11
    default = make_benchmark("permuted", small, num_tasks=4, seed=seed)
    explicit = make_benchmark("permuted", small, num_tasks=4, seed=seed, permute_fraction=1.0)
    fixed = []
    for i, (a, b) in enumerate(zip(default, explicit)):
        old = torch.as_tensor(np.random.RandomState(seed + i).permutation(784))
        assert torch.equal(a.pixel_map, old) and torch.equal(b.pixel_map, old)
        assert torch.equal(materialize(b.x_train), reference_images(small.x_train, old))
        assert torch.equal(b.x_test[torch.tensor([5, 0, 17])], a.x_test[torch.tensor([5, 0, 17])])
        fixed.append(784 - moved(b.pixel_map))
    # A full random permutation may leave pixels in place (about one per task): these seeds do.
    assert fixed == [784 - int((np.random.RandomState(seed + i).permutation(784) != np.arange(784)).sum())
                     for i in range(4)]
    assert any(fixed)


def test_the_config_reaches_the_tasks(small: Dataset) -> None:
    config = load_config(None, ["data.source=synthetic", "data.num_tasks=3", "data.permute_fraction=0.5"])
    tasks = build_tasks(config, "permuted", small)
    assert [moved(t.pixel_map) for t in tasks] == [392] * 3
    default = build_tasks(load_config(None, ["data.source=synthetic", "data.num_tasks=3"]), "permuted", small)
    assert [torch.equal(t.pixel_map, torch.as_tensor(np.random.RandomState(i).permutation(784)))
            for i, t in enumerate(default)] == [True] * 3


@pytest.mark.parametrize(("fraction", "message"), [
    (1 / 784, "one pixel cannot move alone"), (-0.1, r"in \[0, 1\]"), (1.5, r"in \[0, 1\]"),
    (float("nan"), r"in \[0, 1\]"), (True, r"in \[0, 1\]"), ("half", r"in \[0, 1\]")])
def test_impossible_fractions(small: Dataset, fraction: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_benchmark("permuted", small, num_tasks=2, seed=0, permute_fraction=fraction)


def test_a_task_holds_its_pixel_map_once(small: Dataset) -> None:
    task = make_benchmark("permuted", small, num_tasks=1, seed=0, permute_fraction=0.5)[0]
    assert task.pixel_map is task.x_train.source and task.pixel_map is task.x_test.source
    assert task.benchmark == "permuted" and task.angle is None
