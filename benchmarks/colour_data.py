"""CPU cost of colour training batches: SplitCIFAR100 crop-and-flip on whole batches, ImageNet decoding.

Measures, in one process:
- per-thread CPU time (time.thread_time) to draw a SplitCIFAR100 training batch of 128 images
  (synthetic-cifar, 3 x 32 x 32): plain (`x[idx]`), augmented on the whole batch (`CropFlip`,
  one gather), and augmented image by image (pad, slice, flip in a Python loop, the per-image
  pipeline it replaces); interleaved A B C A B C, medians, as ratios to the plain batch;
- the memory a CIFAR-100 sized base takes as uint8 against float32 (arithmetic: 50,000 x 3 x 32 x 32);
- wall time to decode a batch of 32 generated 500 x 375 JPEGs into 224 x 224 training crops
  (`RandomResizedCropFlip`) with 1 and with 2 decoding threads, interleaved, medians; and the
  evaluation transform (resize 256, centre 224) with 2 threads. Wall time, since the work runs
  in pool threads; the machine is shared, so read the ratios, not the absolute figures.

Run: `PYTHONPATH=src .venv/bin/python benchmarks/colour_data.py` (`--quick` for a short run).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from supermasks.data import load_source, make_benchmark
from supermasks.data.imagenet import FolderImages, RandomResizedCropFlip

MIB = 2**20


def per_image(x, index: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """The per-image pipeline: pad each image with the fill, cut its window, mirror it."""
    out = []
    for i, (top, left), flip in zip(index.tolist(), offsets.tolist(), flips.tolist()):
        image = x[i]
        c, h, w = image.shape
        padded = fill.view(c, 1, 1).expand(c, h + 8, w + 8).clone()
        padded[:, 4:4 + h, 4:4 + w] = image
        window = padded[:, top:top + h, left:left + w]
        out.append(window.flip(-1) if flip else window)
    return torch.stack(out)


def interleaved(runs: dict[str, Callable[[], object]], repeats: int, clock: Callable[[], float]) -> dict[str, float]:
    """Median time of each run, the runs taken in turn `repeats` times."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = clock()
            run()
            times[name].append(clock() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def cifar_section(repeats: int) -> list[str]:
    torch.set_num_threads(1)
    data = load_source("synthetic-cifar")
    task = make_benchmark("splitcifar100", data, num_tasks=1, seed=0)[0]
    aug = task.augment
    generator = torch.Generator().manual_seed(0)
    n = len(task.x_train)
    # A batch of 128 positions (with repeats: a task of the generated source holds 80 images).
    index = torch.randint(0, n, (128,), generator=generator)
    offsets, flips = aug.draws(128, 0)
    runs = {
        "plain": lambda: task.x_train[index],
        "batched": lambda: aug(task.x_train, index, 0),
        "per-image": lambda: per_image(task.x_train, index, offsets, flips, aug.fill),
    }
    medians = interleaved(runs, repeats, time.thread_time)
    base = 50_000 * 3 * 32 * 32
    return [
        "| SplitCIFAR100 batch of 128 (3x32x32), one thread | CPU time per batch | ratio to plain |",
        "|---|---|---|",
        *(f"| {name} | {medians[name] * 1e3:.3f} ms | {medians[name] / medians['plain']:.2f}x |" for name in runs),
        "",
        f"- per-image crop-and-flip against the batched one: {medians['per-image'] / medians['batched']:.1f}x the CPU time",
        f"- CIFAR-100 train images held once as uint8: {base / MIB:.1f} MiB (as float32 they would be "
        f"{4 * base / MIB:.1f} MiB); tasks hold only their row selections",
    ]


def imagenet_section(repeats: int, count: int) -> list[str]:
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.RandomState(0)
        paths = []
        for k in range(count):
            path = Path(tmp) / f"img{k}.JPEG"
            Image.fromarray(rng.randint(0, 256, (375, 500, 3)).astype(np.uint8)).save(path, quality=90)
            paths.append(path)
        one, two = FolderImages(paths, workers=1), FolderImages(paths, workers=2)
        aug = RandomResizedCropFlip(seed=0, task_id=0)
        index = torch.arange(count)
        runs = {
            "train, 1 thread": lambda: aug(one, index, 0),
            "train, 2 threads": lambda: aug(two, index, 0),
            "eval, 2 threads": lambda: two[index],
        }
        medians = interleaved(runs, repeats, time.perf_counter)
    first = medians["train, 1 thread"]
    return [
        f"| ImageNet batch of {count} generated 500x375 JPEGs | wall time per batch | images/s | ratio to 1 thread |",
        "|---|---|---|---|",
        *(f"| {name} | {medians[name] * 1e3:.1f} ms | {count / medians[name]:.0f} | {medians[name] / first:.2f}x |"
          for name in runs),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and a smaller ImageNet batch")
    args = parser.parse_args()
    repeats = 5 if args.quick else 31
    lines = ["## Colour data: crop-and-flip batches and ImageNet decoding", ""]
    lines += cifar_section(repeats)
    lines += [""] + imagenet_section(3 if args.quick else 9, 8 if args.quick else 32)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
