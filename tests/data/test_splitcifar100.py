"""SplitCIFAR100: the paper's seeded class permutation, labels remapped, colour images per batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from supermasks.data import load_source, make_benchmark, materialize
from supermasks.data.augment import CropFlip
from supermasks.data.benchmarks import splitcifar100_classes
from supermasks.data.settings import DataSettings
from supermasks.data.transforms import normalize


@pytest.fixture(scope="module")
def colour():
    return load_source("synthetic-cifar")


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_classes_are_the_papers_seeded_permutation(seed: int) -> None:
    np.random.seed(seed)  # how the SupSup code draws it
    perm = np.random.permutation(100)
    classes = splitcifar100_classes(seed, 20)
    assert [list(c) for c in classes] == [perm[5 * i:5 * i + 5].tolist() for i in range(20)]
    assert sorted(c for group in classes for c in group) == list(range(100))


def test_tasks_keep_their_classes_remapped_in_permutation_order(colour) -> None:
    tasks = make_benchmark("splitcifar100", colour, num_tasks=3, seed=2)
    for i, task in enumerate(tasks):
        classes = splitcifar100_classes(2, 3)[i]
        assert task.classes == classes and task.num_classes == 5 and task.benchmark == "splitcifar100"
        for x_all, y_all, x, y in ((colour.x_train, colour.y_train, task.x_train, task.y_train),
                                   (colour.x_test, colour.y_test, task.x_test, task.y_test)):
            keep = torch.isin(y_all, torch.tensor(classes))
            assert torch.equal(materialize(x), normalize(x_all[keep], colour.normalization))
            lut = {c: j for j, c in enumerate(classes)}
            assert y.tolist() == [lut[int(c)] for c in y_all[keep]]
        assert isinstance(task.augment, CropFlip) and task.augment.task_id == i and task.augment.padding == 4
        assert task.x_train.shape[1:] == (3, 32, 32)


def test_augmentation_can_be_left_off_and_test_images_never_carry_it(colour) -> None:
    (task,) = make_benchmark("splitcifar100", colour, num_tasks=1, seed=0, augment=False)
    assert task.augment is None
    (task,) = make_benchmark("splitcifar100", colour, num_tasks=1, seed=0)
    # x_test is the plain normalised images; only the training batches go through the augmentation.
    assert torch.equal(task.x_test[:], normalize(colour.x_test[torch.isin(colour.y_test, torch.tensor(task.classes))],
                                                colour.normalization))


def test_bad_requests_are_refused(colour) -> None:
    with pytest.raises(ValueError, match="at most 20 tasks"):
        make_benchmark("splitcifar100", colour, num_tasks=21, seed=0)
    with pytest.raises(ValueError, match="100 classes"):
        make_benchmark("splitcifar100", load_source("synthetic"), num_tasks=2, seed=0)


def test_config_names_the_benchmark_and_sources() -> None:
    settings = DataSettings(benchmark=["splitcifar100"], source="synthetic-cifar", num_tasks=2)
    assert settings.benchmarks() == ["splitcifar100"]
    DataSettings(benchmark=["splitcifar100"], source="cifar100", data_dir="/somewhere", num_tasks=20)


def test_a_run_refuses_a_source_or_task_count_splitcifar100_cannot_use() -> None:
    from supermasks.config import ConfigError, load_config
    from supermasks.runner import validate

    validate(load_config(None, ["data.benchmark=[splitcifar100]", "data.source=synthetic-cifar", "data.num_tasks=2"]))
    with pytest.raises(ConfigError, match="splitcifar100 on mnist-5k: it needs a source of 100 classes"):
        validate(load_config(None, ["data.benchmark=[splitcifar100]", "data.num_tasks=2"]))
    with pytest.raises(ConfigError, match="at most 20 tasks of 5, got num_tasks=21"):
        validate(load_config(None, ["data.benchmark=[splitcifar100]", "data.source=cifar100", "data.num_tasks=21"]))
