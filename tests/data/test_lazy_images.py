"""Tasks computed per batch give bit for bit the images of transforming the whole set up front.

The reference below is the straightforward construction: normalise every uint8 image, then
permute or rotate with the whole-tensor transforms (a rotation is applied to the raw images and
normalised after, so its fill is black), keep a split task's rows, and remap its labels.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from supermasks.data import Dataset, Task, TaskImages, load_source, make_benchmark, materialize
from supermasks.data.benchmarks import split_classes
from supermasks.data.sources import SourceUnavailableError
from supermasks.data.transforms import MNIST_MEAN, MNIST_STD, normalize, permute_pixels, rotate
from supermasks.methods.naive import Naive
from supermasks.methods.supsup import SupSup
from supermasks.models import build_model, build_multihead
from supermasks.seeds import streams
from supermasks.training import TrainingSettings, accuracy, iterate_batches

Arrays = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def reference_normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W) -> (x / 255 - mean) / std, float32 (N, 1, H, W), out of place."""
    return ((images.float() / 255.0 - MNIST_MEAN) / MNIST_STD).unsqueeze(1)


def reference_permuted(data: Dataset, num_tasks: int, seed: int) -> list[Arrays]:
    out = []
    for i in range(num_tasks):
        perm = np.random.RandomState(streams(seed).permutation(i)).permutation(784)
        xs = [permute_pixels(reference_normalize(x).squeeze(1), perm).unsqueeze(1) for x in (data.x_train, data.x_test)]
        out.append((xs[0], data.y_train, xs[1], data.y_test))
    return out


def reference_rotated(data: Dataset, angles: list[float]) -> list[Arrays]:
    return [(reference_normalize(rotate(data.x_train, a)), data.y_train, reference_normalize(rotate(data.x_test, a)), data.y_test)
            for a in angles]


def reference_split(data: Dataset, num_tasks: int, seed: int, per_task: int, mode: str) -> list[Arrays]:
    out = []
    for classes in split_classes(data.num_classes, num_tasks, per_task, seed):
        parts = []
        for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
            keep = torch.tensor([int(label) in classes for label in y])
            labels = y[keep]
            if mode == "remap":
                labels = torch.tensor([classes.index(int(label)) for label in labels], dtype=torch.int64)
            parts += [reference_normalize(x[keep]), labels]
        out.append((parts[0], parts[1], parts[2], parts[3]))
    return out


def reference_pair(first: Dataset, second: Dataset) -> list[Arrays]:
    return [(reference_normalize(d.x_train), d.y_train, reference_normalize(d.x_test), d.y_test) for d in (first, second)]


def other_dataset() -> Dataset:
    """A second, differently shaped data set for the pair benchmark: random images, 10 classes."""
    rng = np.random.RandomState(5)
    x_train = torch.from_numpy(rng.randint(0, 256, (90, 28, 28)).astype(np.uint8))
    x_test = torch.from_numpy(rng.randint(0, 256, (30, 28, 28)).astype(np.uint8))
    return Dataset("other", x_train, torch.arange(90) % 10, x_test, torch.arange(30) % 10, 10, True, "random")


def assert_same_task(task: Task, reference: Arrays, seed: int) -> None:
    """Full sets, slices, single images and random index batches all equal, bit for bit."""
    x_train, y_train, x_test, y_test = reference
    assert isinstance(task.x_train, TaskImages) and isinstance(task.x_test, TaskImages)
    assert torch.equal(task.y_train, y_train) and torch.equal(task.y_test, y_test)
    g = torch.Generator().manual_seed(seed)
    for lazy, full in ((task.x_train, x_train), (task.x_test, x_test)):
        assert len(lazy) == len(full) and lazy.shape == full.shape
        out = materialize(lazy)
        assert out.dtype == torch.float32 and torch.equal(out, full)
        for index in (torch.randperm(len(full), generator=g)[:37], torch.randint(0, len(full), (64,), generator=g),
                      torch.randint(-len(full), 0, (5,), generator=g), torch.zeros(0, dtype=torch.int64)):
            assert torch.equal(lazy[index], full[index])
        for start, stop in ((0, 16), (5, 5), (len(full) - 3, len(full) + 10), (None, None)):
            assert torch.equal(lazy[start:stop], full[start:stop])
        for i in (0, len(full) - 1, -1, -len(full), np.int64(2)):
            assert torch.equal(lazy[i], full[i])
        with pytest.raises(IndexError):
            lazy[len(full)]


@pytest.mark.parametrize("seed", [0, 3])
def test_permuted(small: Dataset, seed: int) -> None:
    tasks = make_benchmark("permuted", small, num_tasks=3, seed=seed)
    for task, reference in zip(tasks, reference_permuted(small, 3, seed), strict=True):
        assert_same_task(task, reference, seed)


@pytest.mark.parametrize("step", [None, 90, 45, 7.5, 33, 137.5])
def test_rotated_including_angles_between_right_angles(small: Dataset, step: float | None) -> None:
    tasks = make_benchmark("rotated", small, num_tasks=4, seed=0, rotation_step=step)
    angles = [i * (360 // 4 if step is None else step) for i in range(4)]
    for task, reference in zip(tasks, reference_rotated(small, angles), strict=True):
        assert_same_task(task, reference, 1)


def test_rotated_fill_is_pixel_zero_normalised(small: Dataset) -> None:
    task = make_benchmark("rotated", small, num_tasks=8, seed=0)[1]  # 45 degrees
    assert task.x_train.inside is not None and int(task.x_train.inside[0]) == 0
    corner = task.x_train[torch.arange(10)][:, 0, 0, 0]
    assert torch.equal(corner, normalize(torch.zeros(1, 1, 1, dtype=torch.uint8)).flatten().expand(10))


@pytest.mark.parametrize("mode", ["remap", "keep"])
@pytest.mark.parametrize("num_tasks, per_task", [(5, 2), (10, 2), (2, 3)])
def test_split(mnist5k: Dataset, mode: str, num_tasks: int, per_task: int) -> None:
    tasks = make_benchmark("split", mnist5k, num_tasks=num_tasks, seed=4, classes_per_task=per_task, label_mode=mode)
    for task, reference in zip(tasks, reference_split(mnist5k, num_tasks, 4, per_task, mode), strict=True):
        assert_same_task(task, reference, 2)


def test_pair_uses_the_whole_second_dataset(small: Dataset) -> None:
    second = other_dataset()
    tasks = make_benchmark("pair", small, num_tasks=2, seed=0, second=second)
    for task, reference in zip(tasks, reference_pair(small, second), strict=True):
        assert_same_task(task, reference, 3)
    assert tasks[1].x_train.base is second.x_train


def test_every_task_shares_the_uint8_images_and_holds_a_few_kb(mnist5k: Dataset) -> None:
    for name in ("permuted", "rotated"):
        tasks = make_benchmark(name, mnist5k, num_tasks=5, seed=0)
        for task in tasks:
            assert task.x_train.base is mnist5k.x_train and task.x_test.base is mnist5k.x_test
            assert task.x_train.nbytes <= 784 * 9  # int64 source pixels and a uint8 fill flag per pixel
            assert task.y_train is mnist5k.y_train
    split = make_benchmark("split", mnist5k, num_tasks=5, seed=0)[0]
    assert split.x_train.base is mnist5k.x_train and split.x_train.nbytes == 800 * 8


def test_shuffled_batches_are_the_same(small: Dataset) -> None:
    task = make_benchmark("rotated", small, num_tasks=8, seed=0)[3]
    full = materialize(task.x_train)
    lazy = list(iterate_batches(task.x_train, task.y_train, 32, 40, torch.Generator().manual_seed(9)))
    eager = list(iterate_batches(full, task.y_train, 32, 40, torch.Generator().manual_seed(9)))
    assert len(lazy) == len(eager) == 40
    assert all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(lazy, eager))


def materialized(task: Task) -> Task:
    """The same task holding plain float tensors."""
    return dataclasses.replace(task, x_train=materialize(task.x_train).clone(), x_test=materialize(task.x_test).clone())


def run_supsup(tasks: list[Task]) -> list[float]:
    model = build_model("fc-300-300", output_size=10, seed=0)
    method = SupSup(model, training=TrainingSettings(lr=1e-3, batch_size=32, steps_per_task=15), seed=0)
    for task in tasks:
        method.begin_task(task)
        method.learn(task, progress=False)
    return [accuracy(lambda x, t=t: method.predict(x, t.task_id), t.x_test, t.y_test, 64) for t in tasks]


def run_naive(tasks: list[Task]) -> list[float]:
    method = Naive(build_multihead("fc-300-300", output_size=10, seed=0),
                   training=TrainingSettings(optimizer="adam", lr=1e-3, batch_size=32, steps_per_task=15),
                   scenario="task")
    for task in tasks:
        method.begin_task(task)
        method.learn(task, progress=False)
    return [accuracy(lambda x, t=t: method.predict(x, t.task_id), t.x_test, t.y_test, 50) for t in tasks]


@pytest.mark.parametrize("run", [run_supsup, run_naive])
def test_a_run_scores_the_same_on_lazy_and_materialised_tasks(small: Dataset, run) -> None:
    lazy = make_benchmark("rotated", small, num_tasks=2, seed=0, rotation_step=30) + \
        make_benchmark("permuted", small, num_tasks=1, seed=1)
    lazy = [dataclasses.replace(t, task_id=i) for i, t in enumerate(lazy)]
    eager = [materialized(t) for t in lazy]
    assert all(isinstance(t.x_test, torch.Tensor) for t in eager)
    scores = run(lazy)
    assert scores == run(eager)
    assert max(scores) > 0.2  # the runs learned something, so equal scores are not trivially equal


@pytest.mark.parametrize("n", [1, 7, 256, 3000])
def test_normalize_gives_the_bits_of_the_out_of_place_formula(n: int) -> None:
    images = (torch.arange(n * 4) % 256).to(torch.uint8).reshape(n, 2, 2)
    assert torch.equal(normalize(images), reference_normalize(images))


def test_task_images_refuses_what_it_cannot_read() -> None:
    with pytest.raises(ValueError, match="uint8"):
        TaskImages(torch.zeros(3, 28, 28))
    with pytest.raises(ValueError, match="source"):
        TaskImages(torch.zeros(3, 28, 28, dtype=torch.uint8), source=torch.arange(10))
    with pytest.raises(TypeError, match="1-D tensor"):
        TaskImages(torch.zeros(3, 28, 28, dtype=torch.uint8))[torch.ones(3, dtype=torch.bool)]


def test_full_size_source_reads_the_same(tmp_path) -> None:
    try:
        data = load_source("fashion-mnist")
    except SourceUnavailableError:
        pytest.skip("fashion-mnist is not installed")
    g = torch.Generator().manual_seed(0)
    index = torch.randint(0, len(data.x_train), (256,), generator=g)
    small = dataclasses.replace(data, name="rows", x_train=data.x_train[index], y_train=data.y_train[index])
    for lazy, reference in ((make_benchmark("permuted", data, 2, seed=1), reference_permuted(small, 2, 1)),
                            (make_benchmark("rotated", data, 3, seed=0, rotation_step=25), reference_rotated(small, [0, 25, 50]))):
        for task, (x_train, _, _, _) in zip(lazy, reference, strict=True):
            assert task.x_train.base is data.x_train and len(task.x_train) == 60000
            assert torch.equal(task.x_train[index], x_train)
