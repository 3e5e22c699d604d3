"""Checks of a config before any work starts: combinations, a writable output directory, free disk space, memory."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from supermasks.config import ConfigError, ExperimentConfig
from supermasks.data.imagenet import ImageFolder
from supermasks.data.settings import crop_size
from supermasks.data.sources import Source
from supermasks.data.checks import check_data
from supermasks.compute.devices import check_device
from supermasks.loggers import check_loggers
from supermasks.data.errors import SourceUnavailableError
from supermasks.data.sources import folder_source_names, source_num_classes, source_problem
from supermasks.data.user import OwnTasks
from supermasks.methods import check_methods, method_spec
from supermasks.models.networks import weight_count
from supermasks.runner import parallel
from supermasks.scenarios import check_scenario
from supermasks.training import check_training


def validate(config: ExperimentConfig) -> None:
    """Check the config's sections against each other before any work starts (one clear error): one walk down the
    layers, each component checking its own section with the sections it depends on, passed explicitly: the
    runner's cores, the methods, training, data, the scenario, the device.

    Each section's own names, choices and ranges were checked when the config was built.
    """
    parallel.check(config)
    check_methods(config)
    check_training(config.training, scenario=config.scenario.name)
    check_data(config.data)
    check_scenario(config.scenario.name, benchmarks=config.data.benchmark, label_mode=config.data.label_mode,
                   batch_norm=config.model.batch_norm, eval_sample=config.run.eval_sample)
    check_device(config.run.device, amp=config.training.amp)
    check_loggers(config.run.loggers)  # each one's package is installed: found now, not after loading the data


def check_sources(labelled: Iterable[tuple[str, ExperimentConfig]]) -> None:
    """Refuse to start when a data source that one of the configs reads cannot be found here: its `data.source` (from
    `data.data_dir` where given) and, for the pair benchmark, its `data.pair_source`. A study checks every run's this
    way before its first run, so a missing one is not found hours in. Each source is looked for once; the error
    starts with the label of the first config that reads it (a study's part)."""
    checked: set[tuple[str, str | None]] = set()
    for label, config in labelled:
        wanted = [(config.data.source, config.data.data_dir)]
        if "pair" in config.data.benchmarks():
            wanted.append((config.data.pair_source, None))
        for name, data_dir in wanted:
            if (name, data_dir) in checked:
                continue
            checked.add((name, data_dir))
            problem = source_problem(name, data_dir)
            if problem:
                raise SourceUnavailableError(f"{label}: {problem}" if label else problem)


def _existing(directory: Path) -> Path:
    """`directory`, or the nearest of its parents that exists (where the run would create it)."""
    probe = Path(directory).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def check_writable(directory: Path) -> None:
    """Refuse to start when the run directory cannot be created or written to (a read-only disk, no
    permission), before any data is loaded; nothing is left behind by the check."""
    probe = _existing(directory)
    if not probe.is_dir():
        raise ConfigError(f"cannot write to {directory}: {probe} is not a directory; set run.out_dir to a directory")
    try:
        fd, name = tempfile.mkstemp(prefix=".supermasks-write-test-", dir=probe)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise ConfigError(f"cannot write to {probe}: {exc.strerror or exc}; set run.out_dir to a writable "
                          f"directory") from None


# What a run writes besides checkpoints, generous on purpose (measured on MLP runs of a few tasks: a run's tables
# about 25 KB per (benchmark, method) and its overlap tables about 2 KB per task pair and layer; its figures about
# 1.2 MB per (benchmark, method) in PNG; report.html about 2 MB with the figures it embeds).
FILES_BYTES = 256 * 2**10  # config.yaml, meta.json, run.log, comparison.csv
TABLE_BYTES = 64 * 2**10  # per (benchmark, method): tasks.csv, metrics.json, ...
MATRIX_BYTES = 64  # per task pair: accuracy.csv's cell and its learning-curve points
OVERLAP_BYTES = 8 * 2**10  # per task pair: the overlap, learned-change and relatedness tables of every layer
FIGURE_BYTES = 4 * 2**20  # per (benchmark, method) and figure format
REPORT_BYTES = {True: 8 * 2**20, False: 256 * 2**10}  # report.html with figures, and without


def needed_space(config: ExperimentConfig) -> int:
    """Bytes a run of `config` writes at most: per (benchmark, method), two full states (the two kept checkpoints
    share no file, so that either survives damage to the other; see `store.checkpoints`) of a float32 score (or
    weight) per weight of the network for every task where `run.checkpoint_state` keeps them, each task's bit-packed
    mask where the method learns masks, its tables (the overlap ones with `run.overlap`), and its figures with
    `run.figures`; plus the run's own files and report.html with `run.report`."""
    weights, num_tasks = _weights(config), config.data.num_tasks
    pairs = num_tasks * num_tasks
    formats = len(config.run.figure_formats) if config.run.figures else 0
    needed = FILES_BYTES + (REPORT_BYTES[config.run.figures] if config.run.report else 0)
    for name in config.method:
        masks = method_spec(name).masks
        per_method = (2 * 4 * weights * (num_tasks + 1) if config.run.checkpoint_state else 0) + TABLE_BYTES
        per_method += weights // 8 * num_tasks if masks else 0
        per_method += pairs * (MATRIX_BYTES + (OVERLAP_BYTES if masks and config.run.overlap else 0))
        per_method += formats * FIGURE_BYTES
        needed += len(config.data.benchmark) * per_method
    return needed


def check_free_space(config: ExperimentConfig, directory: Path) -> None:
    """Refuse to start when the disk holding `directory` has too little room for the run's files (`needed_space`).
    Generous on purpose: running out of disk in the middle of a run costs more than a false refusal."""
    needed = needed_space(config)
    probe = _existing(directory)
    free = shutil.disk_usage(probe).free
    if free < needed:
        smaller = [setting for setting, applied in (("run.checkpoint_state=false to skip resumable checkpoints",
                                                     not config.run.checkpoint_state),
                                                    ("run.figures=false", not config.run.figures)) if not applied]
        fix = f"set {' or '.join(smaller)}, or " if smaller else ""
        raise ConfigError(f"not enough free disk space for this run in {probe}: {_size(free)} free, about "
                          f"{_size(needed)} needed: {fix}free some space, or set run.out_dir to a disk with more room")


def _size(count: int) -> str:
    """Bytes for a message: in MiB, or KiB below one MiB."""
    return f"{count / 2**20:,.0f} MiB" if count >= 2**20 else f"{count / 2**10:,.0f} KiB"


def _weights(config: ExperimentConfig) -> int:
    """Maskable weights of the config's network (MLP or conv net), from its layer shapes."""
    return weight_count(config.model.arch, config.model.output_size)


# Bytes a listed image file costs: its `Path` object and name (about 370 for ImageNet's names, measured with
# tracemalloc), its int64 label, and its task's reference and remapped label; rounded up.
PATH_BYTES = 512


def estimate_memory(config: ExperimentConfig, images: int, pixels: int = 28 * 28) -> int:
    """Bytes a run of `config` holds at its peak, for a source of `images` train and test images of
    `pixels` values each (channels x height x width).

    A folder source (`imagenet`) holds no image: only `PATH_BYTES` per file listed, plus the
    batches being decoded (a uint8 and a float32 copy of a training and of an evaluation batch),
    and the methods' state as below, where the tasks' images together are at most the folder's
    (their classes are disjoint). So the estimate grows with the number of files by their paths
    alone, not by their pixels.

    The source's uint8 images are held once; every task computes its float32 images per batch
    from them (`data.images.TaskImages`), holding only its pixel map (an int64 source pixel and a
    fill flag per pixel) or, for a split task, its rows and labels (int64 each, its classes'
    share of the images); tasks over every class share the source's int64 labels. One task's
    images may be materialised as float32 at a time (replay's training set). The methods then
    run one at a time, each holding its network, gradients and optimiser state (four float32
    copies of the weights), plus what each task adds per weight (`MethodSpec.task_bits`: SupSup's
    finished tasks cost 1 bit per weight, a packed mask, or 32 where float scores are kept), plus
    every task's float32 images and labels where the method keeps them (joint training).
    """
    if config.data.source in folder_source_names():
        return _folder_memory(config, images, pixels)
    data = config.data
    per_image = 4 * pixels + 8
    tasks = 0
    for bench in data.benchmarks():
        if bench == "split":
            share = min(1.0, data.classes_per_task / source_num_classes(data.source))
            tasks += round(data.num_tasks * images * share) * 16
        else:
            tasks += data.num_tasks * 9 * pixels + images * 8
    kept = data.num_tasks * images * per_image
    return images * pixels + images * per_image + tasks + _methods_memory(config, kept)


def _methods_memory(config: ExperimentConfig, kept_images_bytes: int) -> int:
    """The largest method's bytes: network, gradients and optimiser state (four float32 copies of the weights),
    what each task adds per weight, and every task's images (`kept_images_bytes` in all) where the method keeps
    them."""
    weights = _weights(config)
    num_tasks = config.data.num_tasks

    def method_bytes(name: str) -> int:
        spec = method_spec(name)
        state = 4 * weights * 4 + math.ceil(weights * spec.task_bits(config) * num_tasks / 8)
        return state + (kept_images_bytes if spec.keeps_task_images else 0)

    return max(method_bytes(name) for name in config.method)


def _folder_memory(config: ExperimentConfig, images: int, pixels: int) -> int:
    """`estimate_memory` for a folder source: the listed paths and the batches in decoding, not the images."""
    batch = max(config.training.batch_size, config.run.eval_batch_size or config.scenario.inference_batch_size or 0)
    decoding = 2 * batch * pixels * (2 + 4)  # a training and an evaluation batch: decoded uint8 arrays, their stack,
    # the float32 batch
    return images * PATH_BYTES + decoding + _methods_memory(config, images * (4 * pixels + 8))


def image_count(config: ExperimentConfig, data: Source) -> tuple[int, int]:
    """(train and test images, values per image) of `data`: a folder's images count as the crops the
    config decodes, 3 x data.image_size x data.image_size."""
    if isinstance(data, ImageFolder):
        return len(data.train_paths) + len(data.val_paths), 3 * crop_size(config.data) ** 2
    if isinstance(data, OwnTasks):  # a user's tasks: already in memory, each its own images
        return sum(len(t.y_train) + len(t.y_test) for t in data.tasks), math.prod(data.tasks[0].x_train.shape[1:])
    return len(data.x_train) + len(data.x_test), math.prod(data.x_train.shape[1:])  # (N, H, W) or (N, C, H, W)


def check_source_memory(config: ExperimentConfig, data: Source) -> None:
    """`check_memory` for a run of `config` on `data` (a Dataset in memory or an image folder)."""
    check_memory(config, *image_count(config, data))


def available_memory() -> int | None:
    """Bytes the kernel says can be allocated without swapping (`MemAvailable`), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_memory(config: ExperimentConfig, images: int, pixels: int = 28 * 28) -> None:
    """Refuse a run whose estimated peak memory (`estimate_memory`) exceeds the memory available now,
    before its tasks are built; skipped where the available memory is unknown."""
    available = available_memory()
    if available is None:
        return
    needed = estimate_memory(config, images, pixels)
    if needed > available:
        raise ConfigError(
            f"this run needs about {needed / 2**30:,.1f} GiB of memory ({config.data.num_tasks} tasks over {images:,} "
            f"images of {config.data.source}, and the methods' state) but "
            f"{available / 2**30:,.1f} GiB is available: {_smaller(config)}")


def _smaller(config: ExperimentConfig) -> str:
    """What to change for a run that does not fit: an image folder is never held whole, so its source is not it."""
    if config.data.source in folder_source_names():
        return ("set fewer data.num_tasks, a smaller training.batch_size or data.image_size, or methods that keep "
                "less per task")
    return "set fewer data.num_tasks, a smaller data.source (mnist-5k), or fewer data.benchmark"


__all__ = ["available_memory", "check_free_space", "check_memory", "check_source_memory", "check_sources",
           "check_writable", "estimate_memory", "image_count", "needed_space", "validate"]
