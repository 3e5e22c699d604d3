"""Relatedness of each pair of tasks, against counts made by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from supermasks.data import Dataset, Relatedness, Task, make_benchmark, task_relatedness
from supermasks.data.benchmarks import split_classes


def hand_task(task_id: int, classes: tuple[int, ...], **made: object) -> Task:
    x, y = torch.zeros(2, 1, 28, 28), torch.zeros(2, dtype=torch.int64)
    return Task(task_id, f"t{task_id}", x, y, x, y, classes, len(classes), **made)


def check_shape(rel: Relatedness, tasks: int) -> None:
    assert rel.matrix.shape == (tasks, tasks) and rel.matrix.dtype == np.float64
    assert np.array_equal(rel.matrix, rel.matrix.T)


def test_rotated_step_30_gives_the_angle_differences(small: Dataset) -> None:
    rel = task_relatedness(make_benchmark("rotated", small, num_tasks=3, seed=0, rotation_step=30))
    check_shape(rel, 3)
    assert rel.matrix.tolist() == [[0, 30, 60], [30, 0, 30], [60, 30, 0]]
    assert rel.related_when == "lower" and rel.name == "angle difference (degrees)"


def test_rotated_differences_wrap_around_the_circle(small: Dataset) -> None:
    thirds = task_relatedness(make_benchmark("rotated", small, num_tasks=3, seed=0, rotation_step=120))
    assert thirds.matrix.tolist() == [[0, 120, 120], [120, 0, 120], [120, 120, 0]]
    # 0, 100, 200, 300, 400 degrees: 400 is 40, 300 is 60 from 0.
    five = task_relatedness(make_benchmark("rotated", small, num_tasks=5, seed=0, rotation_step=100))
    assert five.matrix[0].tolist() == [0, 100, 160, 60, 40]
    assert five.matrix[1].tolist() == [100, 0, 100, 160, 60]


def test_permuted_with_nothing_moved_is_related_everywhere(small: Dataset) -> None:
    rel = task_relatedness(make_benchmark("permuted", small, num_tasks=4, seed=0, permute_fraction=0))
    check_shape(rel, 4)
    assert rel.matrix.tolist() == [[1.0] * 4] * 4 and rel.related_when == "higher"


def direct_shared_fixed(maps: list[np.ndarray]) -> np.ndarray:
    out = np.zeros((len(maps), len(maps)))
    for i, j in itertools.product(range(len(maps)), repeat=2):
        out[i, j] = sum(1 for q in range(784) if maps[i][q] == q and maps[j][q] == q) / 784
    return out


def test_permuted_quarter_against_a_direct_count(small: Dataset) -> None:
    tasks = make_benchmark("permuted", small, num_tasks=3, seed=2, permute_fraction=0.25)
    rel = task_relatedness(tasks)
    check_shape(rel, 3)
    assert np.array_equal(rel.matrix, direct_shared_fixed([t.pixel_map.numpy() for t in tasks]))
    assert np.diag(rel.matrix).tolist() == [(784 - 196) / 784] * 3  # each task's own fixed fraction
    # Two tasks that each keep 588 pixels share at least 588 + 588 - 784 = 392 of them.
    assert all(392 / 784 <= rel.matrix[i, j] < 588 / 784 for i, j in ((0, 1), (0, 2), (1, 2)))


def test_permuted_full_is_nearly_unrelated(small: Dataset) -> None:
    tasks = make_benchmark("permuted", small, num_tasks=5, seed=0)
    rel = task_relatedness(tasks)
    old = [np.random.RandomState(i).permutation(784) for i in range(5)]
    assert np.array_equal(rel.matrix, direct_shared_fixed(old))
    assert rel.matrix.max() <= 5 / 784


def test_split_counts_shared_classes() -> None:
    tasks = [hand_task(i, c, benchmark="split") for i, c in enumerate([(0, 1), (1, 2), (3, 4), (0, 1, 2)])]
    rel = task_relatedness(tasks)
    check_shape(rel, 4)
    assert rel.matrix.tolist() == [[2, 1, 0, 2], [1, 2, 0, 2], [0, 0, 2, 0], [2, 2, 0, 3]]
    assert rel.related_when == "higher" and rel.name == "shared classes"
    # Task-id order, whatever order the tasks come in.
    assert np.array_equal(task_relatedness(tasks[::-1]).matrix, rel.matrix)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_seeded_ten_task_split_has_sharing_and_disjoint_pairs(mnist5k: Dataset, seed: int) -> None:
    tasks = make_benchmark("split", mnist5k, num_tasks=10, seed=seed)
    rel = task_relatedness(tasks)
    pairs = split_classes(10, 10, 2, seed)
    off = rel.matrix[~np.eye(10, dtype=bool)]
    assert set(off.tolist()) == {0.0, 1.0}  # distinct pairs share at most one class
    assert rel.matrix[0, 1] == len(set(pairs[0]) & set(pairs[1])) and np.diag(rel.matrix).tolist() == [2.0] * 10


def test_consecutive_split_groups_are_disjoint(small: Dataset) -> None:
    rel = task_relatedness(make_benchmark("split", small, num_tasks=5, seed=0))
    assert rel.matrix.tolist() == (2 * np.eye(5)).tolist()


def test_benchmarks_without_relatedness_give_none(small: Dataset) -> None:
    assert task_relatedness(make_benchmark("pair", small, num_tasks=2, seed=0, second=small)) is None
    assert task_relatedness([hand_task(0, (0, 1)), hand_task(1, (1, 2))]) is None
    mixed = make_benchmark("rotated", small, 2, seed=0) + make_benchmark("permuted", small, 2, seed=0)
    assert task_relatedness(mixed) is None


def test_tasks_record_how_they_were_made(small: Dataset) -> None:
    rotated = make_benchmark("rotated", small, num_tasks=3, seed=0, rotation_step=7.5)
    assert [(t.benchmark, t.angle, t.pixel_map) for t in rotated] == [("rotated", a, None) for a in (0.0, 7.5, 15.0)]
    split = make_benchmark("partitioned", small, num_tasks=2, seed=0)
    assert [(t.benchmark, t.angle, t.pixel_map) for t in split] == [("split", None, None)] * 2
