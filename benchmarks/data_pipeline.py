"""Memory and CPU time of tasks computed per batch (TaskImages) against materialised float tasks.

Measures, in one process:
- bytes each task holds of its own, computed per batch (row selection, pixel map, own labels)
  against materialised (float32 images and cloned labels, as every task held them before), for
  permuted, rotated and split tasks of the embedded mnist-5k, and the shared uint8 images;
- resident-memory growth (/proc/self/status VmRSS, and VmHWM after resetting it) while building
  250 permuted tasks per batch;
- per-thread CPU time (time.thread_time) to draw and normalise a batch of 128 random images,
  against indexing a materialised tensor with the same indices (interleaved A B A B, medians);
- CPU time to build one task both ways, on mnist-5k and on full-size Fashion-MNIST when installed.

Run: `PYTHONPATH=src .venv/bin/python benchmarks/data_pipeline.py` (`--quick` for a short run).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from supermasks.data import Dataset, Task, load_source, make_benchmark, materialize, normalize
from supermasks.data.sources import SourceUnavailableError
from supermasks.data.transforms import permute_pixels, rotate
from supermasks.seeds import streams

MIB = 2**20


def status_kib(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in KiB (0 where unavailable)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak() -> bool:
    """Reset VmHWM to the current resident size (Linux clear_refs 5); False where refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def own_bytes(task: Task, shared: set[int]) -> int:
    """Bytes of a task's images and labels, each tensor once, not counting tensors in `shared` (by address)."""
    tensors: dict[int, torch.Tensor] = {}
    for x in (task.x_train, task.x_test):
        parts = [x] if isinstance(x, torch.Tensor) else [t for t in (x.rows, x.source, x.inside) if t is not None]
        tensors.update({t.data_ptr(): t for t in parts})
    tensors.update({y.data_ptr(): y for y in (task.y_train, task.y_test)})
    return sum(t.numel() * t.element_size() for ptr, t in tensors.items() if ptr not in shared)


def materialised_bytes(task: Task) -> int:
    """What the task held as float32 images and its own labels."""
    return sum(len(x) * 4 * int(np.prod(x.shape[1:])) for x in (task.x_train, task.x_test)) + \
        sum(y.numel() * y.element_size() for y in (task.y_train, task.y_test))


def cpu_median(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median thread CPU seconds per call of each function, calls interleaved A B A B."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.thread_time()
            fn()
            times[name].append(time.thread_time() - t0)
    return {name: statistics.median(values) for name, values in times.items()}


def materialised_permuted(data: Dataset, i: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The float images of permuted task i, built up front as before."""
    perm = np.random.RandomState(streams(seed).permutation(i)).permutation(784)
    return normalize(permute_pixels(data.x_train, perm)), normalize(permute_pixels(data.x_test, perm))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and tasks, no full-size data")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    repeats, many = (30, 50) if args.quick else (200, 250)

    data = load_source("mnist-5k")
    shared = {t.data_ptr() for t in (data.x_train, data.y_train, data.x_test, data.y_test)}
    print("## Data pipeline: tasks computed per batch vs materialised")
    print()
    print(f"mnist-5k ({len(data.x_train)} train + {len(data.x_test)} test images); shared uint8 images "
          f"{(data.x_train.nbytes + data.x_test.nbytes) / MIB:.2f} MiB once per benchmark; {args.threads} thread(s).")
    print()
    print("| task | bytes per task, per batch | bytes per task, materialised | materialised / per batch |")
    print("|---|---:|---:|---:|")
    for name, kwargs in (("permuted", {}), ("rotated", {"rotation_step": 45}), ("split", {})):
        task = make_benchmark(name, data, num_tasks=5, seed=0, **kwargs)[1]
        lazy, full = own_bytes(task, shared), materialised_bytes(task)
        print(f"| {name} ({task.name}) | {lazy:,} | {full:,} | {full / lazy:,.0f}x |")
    print()

    # Resident memory while building many permuted tasks per batch.
    rss0 = status_kib("VmRSS")
    peak_reset = reset_peak()
    hwm0 = status_kib("VmHWM")
    tasks = make_benchmark("permuted", data, num_tasks=many, seed=0)
    rss1, hwm1 = status_kib("VmRSS"), status_kib("VmHWM")
    held = sum(own_bytes(t, shared) for t in tasks)
    full_one = materialised_bytes(tasks[0])
    print(f"- {many} permuted tasks per batch: RSS growth {(rss1 - rss0) / 1024:.2f} MiB, peak (VmHWM) growth "
          f"{(hwm1 - hwm0) / 1024:.2f} MiB{'' if peak_reset else ' (VmHWM could not be reset: since start)'}; "
          f"{held / MIB:.2f} MiB held by the tasks themselves; materialised they would hold "
          f"{many * full_one / MIB:,.0f} MiB")
    del tasks

    # CPU per batch of 128 random images.
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, len(data.x_train), (128,), generator=g) for _ in range(64)]
    print()
    print(f"| batch of 128 (median of {repeats}, thread CPU) | per batch | materialised slice | ratio |")
    print("|---|---:|---:|---:|")
    for name, kwargs in (("permuted", {}), ("rotated", {"rotation_step": 45}), ("split", {})):
        task = make_benchmark(name, data, num_tasks=5, seed=0, **kwargs)[1]
        full = materialize(task.x_train).clone()
        rows = [b % len(full) for b in batches]
        state = {"k": 0}

        def draw(x: object) -> Callable[[], object]:
            def call() -> object:
                state["k"] = (state["k"] + 1) % len(rows)
                return x[rows[state["k"]]]  # type: ignore[index]
            return call

        med = cpu_median({"lazy": draw(task.x_train), "full": draw(full)}, repeats)
        print(f"| {name} | {med['lazy'] * 1e6:,.0f} us | {med['full'] * 1e6:,.0f} us | "
              f"{med['lazy'] / med['full']:.2f}x |")
    print()

    # CPU time to build one task.
    print("| build a task (median over building tasks 0 and 1, thread CPU, per task) | per batch | materialised | ratio |")
    print("|---|---:|---:|---:|")
    sources: list[tuple[str, Dataset, int]] = [("mnist-5k", data, repeats // 4)]
    if not args.quick:
        try:
            sources.append(("fashion-mnist (70k)", load_source("fashion-mnist"), 5))
        except SourceUnavailableError:
            print("| fashion-mnist | not installed | | |")
    for label, source, reps in sources:
        for name in ("permuted", "rotated"):
            if name == "permuted":
                lazy_build: Callable[[], object] = lambda s=source: make_benchmark("permuted", s, 2, seed=0)
                full_build: Callable[[], object] = lambda s=source: [materialised_permuted(s, i, 0) for i in (0, 1)]
            else:
                lazy_build = lambda s=source: make_benchmark("rotated", s, 2, seed=0, rotation_step=45)
                full_build = lambda s=source: [(normalize(rotate(s.x_train, a)), normalize(rotate(s.x_test, a)))
                                               for a in (0, 45)]
            med = cpu_median({"lazy": lazy_build, "full": full_build}, max(reps, 3))
            print(f"| {label} {name} | {med['lazy'] / 2 * 1e3:.2f} ms | {med['full'] / 2 * 1e3:.1f} ms | "
                  f"{med['full'] / med['lazy']:,.0f}x faster |")
    table_batches(data, repeats)


def table_batches(data: Dataset, repeats: int) -> None:
    """A bfloat16 MLP's training batch of a folded (permuted) task: normalised in float32 and rounded per batch,
    against rows of the table normalised and rounded once (`data.table_images`), and what making the table costs."""
    from supermasks.data.images import TaskImages
    from supermasks.data.table_images import TableImages

    base = make_benchmark("permuted", data, num_tasks=1, seed=0)[0].x_train
    plain = TaskImages(base.base, rows=base.rows, norm=base.norm)
    start = time.thread_time()
    table = TableImages(plain, torch.bfloat16)
    made = time.thread_time() - start
    g = torch.Generator().manual_seed(1)
    rows = [torch.randperm(len(plain), generator=g)[:128] for _ in range(64)]
    state = {"k": 0}

    def draw(x: object) -> Callable[[], object]:
        def call() -> object:
            state["k"] = (state["k"] + 1) % len(rows)
            return x[rows[state["k"]]].flatten(1).to(torch.bfloat16)  # type: ignore[index]
        return call

    med = cpu_median({"batch": draw(plain), "table": draw(table)}, repeats)
    print()
    print(f"| bfloat16 MLP's batch of 128, a folded task (median of {repeats}, thread CPU) | float32 batch, rounded | "
          "bfloat16 table rows | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| {len(plain):,} images | {med['batch'] * 1e6:,.0f} us | {med['table'] * 1e6:,.0f} us | "
          f"{med['batch'] / med['table']:.1f}x faster |")
    print(f"\nThe table of {len(plain):,} images took {made * 1e3:.0f} ms to make, once per data set "
          f"({table.table.numel() * table.table.element_size() / MIB:.1f} MiB).")


if __name__ == "__main__":
    main()
