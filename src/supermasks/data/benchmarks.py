"""Turn a Dataset into a sequence of Tasks: permuted, rotated, split and SplitCIFAR100 benchmarks (SplitImageNet,
read from an image folder, is `imagenet.make_splitimagenet`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from .augment import CropFlip
from .permutations import (check_fraction_range, moved_count, nested_counts, nested_fractions, nested_permutation,
                           partial_permutation)
from .dataset import Dataset
from .task import Task
from .images import TaskImages
from .transforms import Normalization, rotation_index
from supermasks.seeds import streams

_BENCHMARKS: dict[str, str] = {
    "permuted": "task i shuffles the pixels by RandomState(seed + i).permutation(H*W), or with permute_fraction "
    "f < 1 moves a random round(f * H*W) of them (every one of them); with permute_subsets nested, task i moves "
    "the first round(f_i * H*W) positions of one seeded order, f_i evenly spaced over permute_fraction_range, so "
    "pairs share 1 - max(f_i, f_j) of the pixels; all classes",
    "rotated": "task i turns images i * rotation_step degrees anticlockwise (default 360 // num_tasks); all classes",
    "split": "task i keeps classes_per_task classes: consecutive groups when they suffice, "
    "else distinct seeded subsets",
    "pair": "two tasks: the source's data, then pair_source's (MNIST then Fashion-MNIST)",
    "splitcifar100": "task i keeps classes perm[5i:5i+5] of RandomState(seed).permutation(100), remapped to 0..4 "
    "(up to 20 tasks; source cifar100 or synthetic-cifar); training batches randomly cropped (4-pixel padding) "
    "and flipped",
    "splitimagenet": "task i keeps classes perm[10i:10i+10] of RandomState(seed).permutation(classes) of a local "
    "ImageNet folder (source imagenet, data.data_dir), remapped to 0..9 (up to 100 tasks); JPEGs decoded per batch, "
    "training crops random-resized and flipped",
}
# Benchmarks built from an image folder (`imagenet.ImageFolder`), not from a Dataset.
FOLDER_BENCHMARKS = ("splitimagenet",)
_ALIASES = {"partitioned": "split"}
LABEL_MODES = ("remap", "keep")
PERMUTE_SUBSETS = ("independent", "nested")
NESTED_RANGE = (0.1, 1.0)  # nested tasks' fractions where no range is given: pairs share 0 to 0.8 with 10 tasks


def list_benchmarks() -> dict[str, str]:
    """Benchmark name -> one-line description (aliases included)."""
    listed = dict(_BENCHMARKS)
    listed.update({alias: f"alias of {target}" for alias, target in _ALIASES.items()})
    return listed


def _require_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _all_classes_task(
    dataset: Dataset, task_id: int, name: str, images: tuple[TaskImages, TaskImages], benchmark: str,
    angle: float | None = None, pixel_map: torch.Tensor | None = None,
) -> Task:
    """A task over every class: the data set's labels, shared, and images read through a map."""
    return Task(
        task_id=task_id,
        name=name,
        x_train=images[0],
        y_train=dataset.y_train,
        x_test=images[1],
        y_test=dataset.y_test,
        classes=tuple(range(dataset.num_classes)),
        num_classes=dataset.num_classes,
        benchmark=benchmark,
        angle=angle,
        pixel_map=pixel_map,
    )


def _permute_settings(subsets: str, fraction: float | None, fraction_range: Sequence[float] | None
                      ) -> tuple[float, tuple[float, float] | None]:
    """(permute_fraction, permute_fraction_range) of the permuted benchmark's `subsets` mode, each given only where
    that mode reads it (ValueError elsewhere, so a setting that does nothing is never silently accepted)."""
    if subsets not in PERMUTE_SUBSETS:
        raise ValueError(f"permute_subsets must be one of {PERMUTE_SUBSETS}, got {subsets!r}")
    if subsets == "nested":
        if fraction is not None:
            raise ValueError("permute_fraction applies to independent subsets; nested tasks take their fractions from "
                             "permute_fraction_range")
        return 1.0, check_fraction_range(NESTED_RANGE if fraction_range is None else fraction_range)
    if fraction_range is not None:
        raise ValueError("permute_fraction_range applies to nested subsets only (permute_subsets='nested')")
    return (1.0 if fraction is None else fraction), None


def _permutation_maps(pixels: int, num_tasks: int, seed: int, fraction: float,
                      fraction_range: tuple[float, float] | None) -> list[np.ndarray]:
    """Each permuted task's pixel map: independent subsets where `fraction_range` is None, else nested ones."""
    rngs = (np.random.RandomState(streams(seed).permutation(i)) for i in range(num_tasks))
    if fraction_range is None:
        moved_count(pixels, fraction)  # refuses a bad fraction before any task is built
        return [partial_permutation(rng, pixels, fraction) for rng in rngs]
    counts = nested_counts(pixels, nested_fractions(num_tasks, fraction_range))
    order = np.random.RandomState(streams(seed).pixel_order).permutation(pixels)
    return [nested_permutation(rng, order, count) for rng, count in zip(rngs, counts)]


def _permuted(dataset: Dataset, num_tasks: int, seed: int, fraction: float,
              fraction_range: tuple[float, float] | None) -> list[Task]:
    pixels = dataset.x_train.shape[-2] * dataset.x_train.shape[-1]
    norm = dataset.normalization
    tasks = []
    for i, perm in enumerate(_permutation_maps(pixels, num_tasks, seed, fraction, fraction_range)):
        source = torch.from_numpy(perm).to(device=dataset.x_train.device, dtype=torch.long)
        images = (TaskImages(dataset.x_train, source=source, norm=norm),
                  TaskImages(dataset.x_test, source=source, norm=norm))
        tasks.append(_all_classes_task(dataset, i, f"permuted-{i}", images, "permuted", pixel_map=source))
    return tasks


def _rotated(dataset: Dataset, num_tasks: int, step: float | None) -> list[Task]:
    if step is None:
        step = 360 // num_tasks
        if step == 0:
            raise ValueError(f"rotated: at most 360 tasks (one degree apart), got {num_tasks}")
    elif not 0 < step <= 360:
        raise ValueError(f"rotation_step must be in (0, 360] degrees, got {step}")
    height, width = dataset.x_train.shape[-2:]
    tasks = []
    for i in range(num_tasks):
        angle = i * step
        # The fill is raw 0 before normalisation, so it is black, not the mean (as `rotate` gives).
        index = rotation_index(height, width, angle)
        train = TaskImages.from_index(dataset.x_train, index, norm=dataset.normalization)
        images = (train, TaskImages(dataset.x_test, source=train.source, inside=train.inside, norm=train.norm))
        tasks.append(_all_classes_task(dataset, i, f"rotated-{angle:g}deg", images, "rotated", angle=float(angle)))
    return tasks


def split_problem(num_classes: int, num_tasks: int, classes_per_task: int) -> str | None:
    """Why `num_tasks` split tasks of `classes_per_task` classes cannot be drawn from `num_classes`
    classes (None when they can): each task needs that many classes, and the tasks distinct subsets."""
    if classes_per_task < 2:
        return f"classes_per_task must be >= 2, got {classes_per_task}"
    if classes_per_task > num_classes:
        return f"classes_per_task={classes_per_task} exceeds the {num_classes} classes"
    if num_tasks * classes_per_task <= num_classes:
        return None
    available = math.comb(num_classes, classes_per_task)
    if num_tasks > available:
        return (f"num_tasks={num_tasks} distinct subsets of {classes_per_task} classes requested, but only "
                f"{available} exist among {num_classes} classes")
    return None


def split_classes(
    num_classes: int, num_tasks: int, classes_per_task: int, seed: int
) -> list[tuple[int, ...]]:
    """The sorted class ids of each split task.

    When num_tasks * classes_per_task <= num_classes the groups are consecutive:
    (0, 1), (2, 3), ... Otherwise there are not enough disjoint groups, and the subsets are
    drawn from rng = np.random.RandomState(seed): repeat
    `tuple(sorted(rng.choice(num_classes, classes_per_task, replace=False)))`, dropping any
    subset drawn before, until num_tasks distinct subsets are kept, in draw order.
    """
    problem = split_problem(num_classes, num_tasks, classes_per_task)
    if problem:
        raise ValueError(f"split: {problem}")
    if num_tasks * classes_per_task <= num_classes:
        return [
            tuple(range(i * classes_per_task, (i + 1) * classes_per_task)) for i in range(num_tasks)
        ]
    rng = np.random.RandomState(seed)
    chosen: list[tuple[int, ...]] = []
    seen: set[tuple[int, ...]] = set()
    while len(chosen) < num_tasks:
        subset = tuple(
            sorted(int(c) for c in rng.choice(num_classes, classes_per_task, replace=False))
        )
        if subset not in seen:
            seen.add(subset)
            chosen.append(subset)
    return chosen


def _select(
    x: torch.Tensor, y: torch.Tensor, classes: tuple[int, ...], lut: torch.Tensor | None, norm: Normalization
) -> tuple[TaskImages, torch.Tensor]:
    keep = torch.isin(y, torch.tensor(classes, dtype=y.dtype, device=y.device))
    labels = y[keep] if lut is None else lut[y[keep]]
    return TaskImages(x, rows=keep.nonzero().squeeze(1), norm=norm), labels


def _split(
    dataset: Dataset, num_tasks: int, seed: int, classes_per_task: int, label_mode: str
) -> list[Task]:
    tasks = []
    for i, classes in enumerate(
        split_classes(dataset.num_classes, num_tasks, classes_per_task, seed)
    ):
        lut = None
        if label_mode == "remap":
            # Original label -> its position among this task's sorted classes (-1: unused).
            lut = torch.full((dataset.num_classes,), -1, dtype=torch.int64, device=dataset.y_train.device)
            lut[list(classes)] = torch.arange(len(classes), device=lut.device)
        x_train, y_train = _select(dataset.x_train, dataset.y_train, classes, lut, dataset.normalization)
        x_test, y_test = _select(dataset.x_test, dataset.y_test, classes, lut, dataset.normalization)
        tasks.append(
            Task(
                task_id=i,
                name=f"split-{i}[{','.join(map(str, classes))}]",
                x_train=x_train,
                y_train=y_train,
                x_test=x_test,
                y_test=y_test,
                classes=classes,
                num_classes=len(classes) if label_mode == "remap" else dataset.num_classes,
                benchmark="split",
            )
        )
    return tasks


SPLITCIFAR100_CLASSES_PER_TASK = 5
SPLITCIFAR100_PADDING = 4


def splitcifar100_problem(num_classes: int, num_tasks: int) -> str | None:
    """Why `num_tasks` SplitCIFAR100 tasks cannot be drawn from a source of `num_classes` classes (None: they can)."""
    if num_classes != 100:
        return f"it needs a source of 100 classes (cifar100 or synthetic-cifar), not {num_classes}"
    if num_tasks > 100 // SPLITCIFAR100_CLASSES_PER_TASK:
        return f"100 classes make at most 20 tasks of 5, got num_tasks={num_tasks}"
    return None


def splitcifar100_classes(seed: int, num_tasks: int, num_classes: int = 100,
                          classes_per_task: int = SPLITCIFAR100_CLASSES_PER_TASK) -> list[tuple[int, ...]]:
    """The classes of each SplitCIFAR100 task, in label order: task i's label j is class perm[5i + j].

    perm = np.random.RandomState(seed).permutation(100): the same numbers as the SupSup code's
    `np.random.seed(seed); np.random.permutation(100)` (both draw from a Mersenne Twister seeded
    by `seed`, and `permutation` shuffles the same way).
    """
    most = num_classes // classes_per_task
    if not 1 <= num_tasks <= most:
        raise ValueError(f"splitcifar100: {num_classes} classes make at most {most} tasks of {classes_per_task}, "
                         f"got num_tasks={num_tasks}")
    perm = np.random.RandomState(seed).permutation(num_classes)
    return [tuple(int(c) for c in perm[i * classes_per_task:(i + 1) * classes_per_task]) for i in range(num_tasks)]


def _class_task(x: torch.Tensor, y: torch.Tensor, classes: tuple[int, ...], num_classes: int,
                norm: Normalization) -> tuple[TaskImages, torch.Tensor]:
    """A task's rows of (x, y) whose label is in `classes`, relabelled by position in `classes`."""
    lut = torch.full((num_classes,), -1, dtype=torch.int64, device=y.device)
    lut[list(classes)] = torch.arange(len(classes), device=y.device)
    return _select(x, y, classes, lut, norm)


def _splitcifar100(dataset: Dataset, num_tasks: int, seed: int, augment: bool) -> list[Task]:
    problem = splitcifar100_problem(dataset.num_classes, num_tasks)
    if problem or dataset.x_train.dim() != 4:
        raise ValueError(f"splitcifar100 on {dataset.name} ({dataset.num_classes} classes, images "
                         f"{tuple(dataset.x_train.shape[1:])}): {problem or 'it needs colour images (N, C, H, W)'}")
    tasks = []
    for i, classes in enumerate(splitcifar100_classes(seed, num_tasks)):
        x_train, y_train = _class_task(dataset.x_train, dataset.y_train, classes, 100, dataset.normalization)
        x_test, y_test = _class_task(dataset.x_test, dataset.y_test, classes, 100, dataset.normalization)
        tasks.append(Task(
            task_id=i, name=f"splitcifar100-{i}[{','.join(map(str, classes))}]", x_train=x_train, y_train=y_train,
            x_test=x_test, y_test=y_test, classes=classes, num_classes=len(classes), benchmark="splitcifar100",
            augment=CropFlip(seed, i, SPLITCIFAR100_PADDING, dataset.normalization) if augment else None))
    return tasks


def make_benchmark(
    name: str,
    dataset: Dataset,
    num_tasks: int,
    seed: int,
    classes_per_task: int = 2,
    label_mode: str = "remap",
    second: Dataset | None = None,
    rotation_step: float | None = None,
    permute_fraction: float | None = None,
    augment: bool = True,
    permute_subsets: str = "independent",
    permute_fraction_range: Sequence[float] | None = None,
) -> list[Task]:
    """Build `num_tasks` tasks from `dataset`, images normalised to float32 (N, C, H, W).

    Each task's images are a `TaskImages`: the data set's uint8 images, shared by every task
    and not copied, seen through the task's row selection and pixel map, and normalised batch
    by batch as they are indexed. Tasks over every class share the data set's label tensors.
    The data set must not be modified while its tasks are in use.

    `classes_per_task` and `label_mode` ("remap": labels 0..c-1 in sorted class order;
    "keep": the original labels) apply to the split benchmark only. The pair benchmark has
    exactly two tasks: all of `dataset`, then all of `second` (the EWC tutorial's MNIST then
    Fashion-MNIST). `rotation_step` (rotated only) is the angle between consecutive tasks in
    degrees; by default `360 // num_tasks`, spreading the tasks over the full circle. Small steps
    give related tasks (similarity-guided transfer, docs/algorithms.md section 3).

    The permuted benchmark chooses each task's moved pixels by `permute_subsets`. "independent"
    (default): each task draws its own subset; `permute_fraction` f is the fraction each moves: 1
    (default) the full random permutation, 0 the identity, in between a random subset of
    round(f * H*W) positions of which every one moves (`partial_permutation`), so every pair shares
    about (1 - f)^2 of the pixels. "nested": task i moves the first round(f_i * H*W) positions of
    one seeded order of the positions (stream `pixel_order`), each of them (`nested_permutation`),
    with f_i evenly spaced over `permute_fraction_range` [low, high] (default NESTED_RANGE), task 0
    moving `low`; two tasks then share exactly the positions the one moving more leaves in place,
    1 - max(f_i, f_j) of them, so relatedness spans the range within one run. Tasks share the
    pixels both leave in place. Each task records how it was made (`Task.benchmark`, `angle`,
    `pixel_map`), which `data.relatedness.task_relatedness` compares.

    splitcifar100 (docs/algorithms.md section 5): task i keeps the classes perm[5i:5i+5] of
    `splitcifar100_classes`, labelled 0..4 in that order, and, when `augment`, declares the
    training augmentation `data.augment.CropFlip` (random crop with 4 pixels of black padding,
    horizontal flip; drawn per (seed, task, step)) on `Task.augment`.
    """
    canonical = _ALIASES.get(name, name)
    if canonical not in _BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; valid names: {', '.join(list_benchmarks())}")
    if canonical in FOLDER_BENCHMARKS:
        raise ValueError(f"{canonical} reads an image folder, not a Dataset: use "
                         "data.imagenet.make_splitimagenet(load_image_folder(DIR), ...)")
    num_tasks = _require_int("num_tasks", num_tasks, 1)
    seed = _require_int("seed", seed, 0)
    if label_mode not in LABEL_MODES:
        raise ValueError(f"label_mode must be one of {LABEL_MODES}, got {label_mode!r}")
    if canonical == "pair":
        if second is None:
            raise ValueError("the pair benchmark needs a second dataset")
        if num_tasks != 2:
            raise ValueError(f"the pair benchmark has exactly 2 tasks, got num_tasks={num_tasks}")
        return [_all_classes_task(d, i, f"pair-{i}-{d.name}", (TaskImages(d.x_train, norm=d.normalization),
                                                              TaskImages(d.x_test, norm=d.normalization)), "pair")
                for i, d in enumerate((dataset, second))]
    if canonical == "permuted":
        fraction, fraction_range = _permute_settings(permute_subsets, permute_fraction, permute_fraction_range)
        return _permuted(dataset, num_tasks, seed, fraction, fraction_range)
    if canonical == "rotated":
        return _rotated(dataset, num_tasks, rotation_step)
    if canonical == "splitcifar100":
        return _splitcifar100(dataset, num_tasks, seed, augment)
    classes_per_task = _require_int("classes_per_task", classes_per_task, 2)
    return _split(dataset, num_tasks, seed, classes_per_task, label_mode)
