"""Time one-shot task inference over many stored masks, and report peak memory and mask storage.

LeNet-300-100 with 500 outputs (Wortsman, Ramanujan et al., NeurIPS 2020, 2,500-task experiment);
the k masks are random (density 0.5) and go straight into the bank, since only speed and memory
are measured. Each k runs in a fresh process. "infer peak" is the growth of the peak resident set
(Linux VmHWM, reset through /proc/self/clear_refs) over the resident set before the first,
cold one-shot call on a batch of 128: every allocation, torch's included (look-up table,
indices, activations). "RSS" is the process's resident set with the bank built (Python, torch
and the bank). "128 x 1 image" (`--per-image`) times single-image inference of 128 images in one
batched call. `--precision` picks the precisions of the network's products timed for one-shot
(default both: float32 in the plain columns, bfloat16 in the `bf16` ones; `oneshot.PRECISIONS`).
`--binary` adds binary search (same paper, section 3) on one image and on the batch
of 128, its time per batch over one-shot's ("binary / one-shot"), and the size of the largest re-packed
subset of masks it holds (the ceil(k / 2) survivors of its first round; "binary subset MB").
Prints a Markdown section: one table row per task count.
Run: `.venv/bin/python benchmarks/inference.py`.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch

from supermasks.inference import PRECISIONS, MaskBank, infer_task, infer_task_binary
from supermasks.inference.oneshot import infer_per_image
from supermasks.inference.subset import packed_subset
from supermasks.models import build_model, masked_layers


SUFFIX = {"float32": "", "bfloat16": " bf16"}  # column names: float32's keep their names


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def peak_growth_mib(fn: Callable[[], object]) -> float:
    """Peak resident memory during `fn()` above the resident memory before it, in MiB."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current VmRSS
    before = _status_kib("VmRSS")
    fn()
    return (_status_kib("VmHWM") - before) / 1024


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: builds the constant look-up table and touches the bank once
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def random_bank(model: torch.nn.Module, k: int, seed: int = 0) -> MaskBank:
    layers = masked_layers(model)
    bank = MaskBank({name: tuple(m.weight.shape) for name, m in layers.items()})
    gen = torch.Generator().manual_seed(seed)
    for _ in range(k):
        bank.add({name: torch.rand(m.weight.shape, generator=gen) < 0.5 for name, m in layers.items()})
    return bank


def binary_columns(model: torch.nn.Module, bank: MaskBank, x1: torch.Tensor, x128: torch.Tensor,
                   oneshot_batch: float, repeats: int) -> str:
    """Binary search per image (one image on its own) and per batch of 128, as measured for one-shot.

    Also its time per batch over one-shot's, and the bytes of its largest re-packed subset.
    """
    binary = functools.partial(infer_task_binary, model, bank)
    single = median_seconds(functools.partial(binary, x1), repeats)
    batch = median_seconds(functools.partial(binary, x128), repeats)
    subset = packed_subset(bank, torch.arange(0, bank.num_tasks, 2)).nbytes() / 1e6  # ceil(k / 2) tasks
    return f" {single * 1e3:.1f} | {batch * 1e3:.1f} | {batch / oneshot_batch:.2f} | {subset:.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, nargs="+", default=[10, 250, 1000, 2500])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precision", nargs="+", choices=PRECISIONS, default=list(PRECISIONS),
                        help="precisions of the network's products timed for one-shot (default: both)")
    parser.add_argument("--binary", action="store_true",
                        help="also time binary search on one image and on a batch of 128, beside one-shot")
    parser.add_argument("--per-image", action="store_true",
                        help="also time single-image inference for 128 images at once (one task per image)")
    parser.add_argument("--no-header", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if len(args.tasks) > 1:  # one fresh process per k, so memory figures do not mix
        extra = (["--repeats", str(args.repeats), "--precision", *args.precision] + (["--binary"] if args.binary else [])
                 + (["--per-image"] if args.per_image else []))
        for i, k in enumerate(args.tasks):
            subprocess.run([sys.executable, __file__, "--tasks", str(k), *extra] + (["--no-header"] if i else []),
                           check=True)
        return

    model = build_model("lenet-300-100", output_size=500, seed=0)
    weights = sum(m.weight.numel() for m in masked_layers(model).values())
    gen = torch.Generator().manual_seed(1)
    x1, x128 = torch.randn(1, 1, 28, 28, generator=gen), torch.randn(128, 1, 28, 28, generator=gen)
    precisions = [p for p in PRECISIONS if p in args.precision]  # float32 first: binary's ratio is to its time
    columns = [("tasks", "r"), ("build s", "r")]
    for precision in precisions:
        columns += [(f"one-shot 1 image{SUFFIX[precision]} ms", "r"), (f"one-shot 128{SUFFIX[precision]} ms", "r")]
    columns += [("infer peak MiB", "r"), ("RSS MiB", "r"), ("masks MB", "r"), ("bits/weight/task", "r"),
                ("counts MB", "r")]
    if args.binary:
        columns += [("binary 1 image ms", "r"), ("binary 128 ms", "r"), ("binary / one-shot", "r"),
                    ("binary subset MB", "r")]
    if args.per_image:
        columns += [("128 x 1 image ms", "r")]
    if not args.no_header:
        print("## Task inference over many stored masks (LeNet-300-100, 500 outputs)\n")
        print(f"{weights:,} masked weights, random masks (density 0.5); torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads; one-shot H, median of {args.repeats} calls; each task count in a "
              "fresh process; binary search and `infer peak` in "
              f"{precisions[0]}" + ("; `bf16`: the network's products in bfloat16" if "bfloat16" in precisions else "")
              + ". `infer peak`: growth of the peak resident set during one cold one-shot call on a "
              "batch of 128; `RSS`: the process with the bank built"
              + ("; `binary subset`: the re-packed half of the masks that binary search's first round holds"
                 if args.binary else "") + ".\n")
        print("| " + " | ".join(name for name, _ in columns) + " |")
        print("|" + "|".join("---:" if align == "r" else "---" for _, align in columns) + "|", flush=True)
    for k in args.tasks:
        t0 = time.perf_counter()
        bank = random_bank(model, k)
        build = time.perf_counter() - t0
        rss = _status_kib("VmRSS") / 1024
        peak = peak_growth_mib(lambda: infer_task(model, bank, x128, precision=precisions[0]))
        line = f"| {k:,} | {build:.1f} |"
        for precision in precisions:
            single = median_seconds(lambda: infer_task(model, bank, x1, precision=precision), args.repeats)
            batch = median_seconds(lambda: infer_task(model, bank, x128, precision=precision), args.repeats)
            line += f" {single * 1e3:.1f} | {batch * 1e3:.1f} |"
            if precision == precisions[0]:
                first_batch = batch
        bits = bank.nbytes() * 8 / (weights * k)
        line += (f" {peak:.1f} | {rss:.0f} | {bank.nbytes() / 1e6:.2f} | {bits:.4f} | {bank.cache_nbytes() / 1e6:.2f} |")
        if args.binary:
            line += binary_columns(model, bank, x1, x128, first_batch, args.repeats)
        if args.per_image:  # 128 single-image inferences, batched: one task per image
            line += f" {median_seconds(lambda: infer_per_image(model, bank, x128), 1) * 1e3:.1f} |"
        print(line, flush=True)
        del bank


if __name__ == "__main__":
    main()
