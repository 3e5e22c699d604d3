"""Benchmarks: the exact permuted, rotated and split constructions, and their errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from supermasks.data import Dataset, list_benchmarks, load_source, make_benchmark, materialize, normalize
from supermasks.data.benchmarks import split_classes


def test_list_benchmarks() -> None:
    listed = list_benchmarks()
    assert {"permuted", "rotated", "split", "partitioned"} <= set(listed)
    assert all(isinstance(text, str) and text for text in listed.values())


@pytest.mark.parametrize("name", ["permuted", "rotated", "split"])
def test_every_task_is_normalised_and_well_formed(small: Dataset, name: str) -> None:
    tasks = make_benchmark(name, small, num_tasks=3, seed=0)
    assert [t.task_id for t in tasks] == [0, 1, 2]
    for task in tasks:
        assert materialize(task.x_train).dtype == torch.float32 and task.x_train.shape[1:] == (1, 28, 28)
        assert task.y_train.dtype == torch.int64
        assert float(materialize(task.x_train).min()) >= (0 - 0.1307) / 0.3081 - 1e-6
        assert float(materialize(task.x_train).max()) <= (1 - 0.1307) / 0.3081 + 1e-6
        assert int(task.y_train.max()) < task.num_classes and len(task.classes) >= 2


def test_permuted_matches_the_seeded_permutations(small: Dataset) -> None:
    seed = 7
    tasks = make_benchmark("permuted", small, num_tasks=3, seed=seed)
    for i, task in enumerate(tasks):
        perm = torch.as_tensor(np.random.RandomState(seed + i).permutation(784))
        for x, out in ((small.x_train, task.x_train), (small.x_test, task.x_test)):
            expected = normalize(x.reshape(len(x), 784)[:, perm].reshape(-1, 28, 28))
            assert torch.equal(materialize(out), expected)
        assert torch.equal(task.y_train, small.y_train)
        assert task.classes == tuple(range(10)) and task.num_classes == 10
    # Task 0 is permuted too: it is not the original image.
    assert not torch.equal(materialize(tasks[0].x_train), normalize(small.x_train))


def test_rotated_angles_and_rot90(small: Dataset) -> None:
    tasks = make_benchmark("rotated", small, num_tasks=4, seed=0)
    assert [t.name for t in tasks] == [
        "rotated-0deg",
        "rotated-90deg",
        "rotated-180deg",
        "rotated-270deg",
    ]
    assert torch.equal(materialize(tasks[0].x_train), normalize(small.x_train))
    for k in (1, 2, 3):
        assert torch.equal(materialize(tasks[k].x_test), normalize(torch.rot90(small.x_test, k, dims=(-2, -1))))


def test_rotated_fill_is_black_before_normalisation(small: Dataset) -> None:
    tasks = make_benchmark("rotated", small, num_tasks=8, seed=0)  # task 1 turns by 45 degrees
    corners = materialize(tasks[1].x_train)[:, 0, [0, 0, -1, -1], [0, -1, 0, -1]]
    torch.testing.assert_close(corners, torch.full_like(corners, -0.1307 / 0.3081))


def test_rotated_step_uses_integer_division(small: Dataset) -> None:
    tasks = make_benchmark("rotated", small, num_tasks=7, seed=0)
    assert tasks[1].name == "rotated-51deg" and tasks[6].name == "rotated-306deg"


def test_rotated_with_an_explicit_small_step(small: Dataset) -> None:
    tasks = make_benchmark("rotated", small, num_tasks=4, seed=0, rotation_step=90)
    assert [t.name for t in tasks][1] == "rotated-90deg"
    assert torch.equal(materialize(tasks[2].x_test), normalize(torch.rot90(small.x_test, 2, dims=(-2, -1))))
    near = make_benchmark("rotated", small, num_tasks=3, seed=0, rotation_step=7.5)
    assert [t.name for t in near] == ["rotated-0deg", "rotated-7.5deg", "rotated-15deg"]
    with pytest.raises(ValueError, match="rotation_step"):
        make_benchmark("rotated", small, num_tasks=3, seed=0, rotation_step=0)


def test_split_consecutive_pairs(mnist5k: Dataset) -> None:
    tasks = make_benchmark("split", mnist5k, num_tasks=5, seed=123)
    assert [t.classes for t in tasks] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    for task in tasks:
        assert task.num_classes == 2 and len(task.x_train) == 800 and len(task.x_test) == 200
        assert task.y_train.bincount().tolist() == [400, 400]


def test_split_remap_and_keep_select_the_same_images(mnist5k: Dataset) -> None:
    remap = make_benchmark("split", mnist5k, num_tasks=5, seed=0, label_mode="remap")[3]
    keep = make_benchmark("split", mnist5k, num_tasks=5, seed=0, label_mode="keep")[3]
    assert torch.equal(materialize(remap.x_train), materialize(keep.x_train))
    assert set(remap.y_train.tolist()) == {0, 1} and set(keep.y_train.tolist()) == {6, 7}
    assert torch.equal(remap.y_train + 6, keep.y_train)
    assert remap.num_classes == 2 and keep.num_classes == 10 and keep.classes == (6, 7)
    mask = torch.isin(mnist5k.y_train, torch.tensor([6, 7]))
    assert torch.equal(materialize(keep.x_train), normalize(mnist5k.x_train[mask]))


def test_partitioned_draws_distinct_seeded_pairs(mnist5k: Dataset) -> None:
    tasks = make_benchmark("partitioned", mnist5k, num_tasks=10, seed=1)
    pairs = [t.classes for t in tasks]
    assert len(set(pairs)) == 10 and all(a < b for a, b in pairs)
    assert pairs == split_classes(10, 10, 2, seed=1)  # reproducible
    assert pairs != split_classes(10, 10, 2, seed=2)  # and seed-dependent
    # The documented procedure, step by step.
    rng, expected = np.random.RandomState(1), []
    while len(expected) < 10:
        pair = tuple(sorted(int(c) for c in rng.choice(10, 2, replace=False)))
        if pair not in expected:
            expected.append(pair)
    assert pairs == expected
    for task in tasks:
        assert set(task.y_test.tolist()) == {0, 1} and len(task.x_test) == 200


def test_split_can_use_every_pair() -> None:
    assert len(set(split_classes(10, 45, 2, seed=0))) == 45


def test_split_larger_groups(small: Dataset) -> None:
    tasks = make_benchmark("split", small, num_tasks=2, seed=0, classes_per_task=5)
    assert [t.classes for t in tasks] == [(0, 1, 2, 3, 4), (5, 6, 7, 8, 9)]
    assert tasks[1].y_train.bincount().tolist() == [60] * 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(name="shuffled"), "unknown benchmark 'shuffled'.*permuted"),
        (dict(num_tasks=0), "num_tasks must be an integer >= 1"),
        (dict(num_tasks=2.5), "num_tasks"),
        (dict(seed=-1), "seed"),
        (dict(label_mode="other"), "label_mode"),
        (dict(classes_per_task=1), "classes_per_task"),
        (dict(classes_per_task=11), "exceeds the 10 classes"),
        (dict(num_tasks=46), "46 distinct subsets.*only 45"),
        (dict(name="rotated", num_tasks=361), "at most 360"),
    ],
)
def test_impossible_requests(small: Dataset, kwargs: dict, message: str) -> None:
    args = dict(name="split", dataset=small, num_tasks=5, seed=0) | kwargs
    with pytest.raises(ValueError, match=message):
        make_benchmark(**args)
