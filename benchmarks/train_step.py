"""Time one training step of the masked FC 784-300-300-10 against the same dense network, on one thread.

Steps timed in this thread's CPU time, interleaved A B C ... in one process (medians, so ratios
hold on a noisy shared machine):
- masked, straightforward: the masked linear allocating `W * M` every step, `torch.optim.RMSprop`;
- masked, fused: the masked linear reusing its `MaskWorkspace`, the library's RMSprop with its reused
  denominator buffer (SupSup's path);
- dense, no bias (like for like) and dense with bias (the baselines' network), the library's RMSprop
  (as the dense baselines train);
- matmul only: the eight plain matrix products of one step (forward of the three layers, weight
  gradients of the three, input gradients of the last two) on the same shapes.
"matmul fraction" is the step's matmul FLOPs per second over the FLOP rate of the plain matmuls,
i.e. matmul time / step time. Also the data pipeline: building a benchmark and drawing batches.
Run: `PYTHONPATH=src .venv/bin/python benchmarks/train_step.py [--quick]`.
"""

from __future__ import annotations

import argparse
from typing import Any
import copy
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from supermasks.data import load_source, make_benchmark
from supermasks.training.optimizers import rmsprop
from supermasks.models import add_task, build_model, build_multihead, masked_layers, set_task, task_scores
from supermasks.training import iterate_batches


def _step(model: nn.Module, opt: Any, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    return step


def _matmuls(batch: int, sizes: tuple[int, ...]) -> tuple[Callable[[], None], float]:
    """The plain matrix products of one training step on these layer sizes, and their FLOPs."""
    g = torch.Generator().manual_seed(0)
    layers = list(zip(sizes[:-1], sizes[1:]))
    xs = [torch.randn(batch, n_in, generator=g) for n_in, _ in layers]
    ws = [torch.randn(n_out, n_in, generator=g) for n_in, n_out in layers]
    gs = [torch.randn(batch, n_out, generator=g) for _, n_out in layers]
    flops = sum(2 * batch * n_in * n_out for n_in, n_out in layers) * 2  # forward + weight gradient
    flops += sum(2 * batch * n_in * n_out for n_in, n_out in layers[1:])  # input gradients past the first

    def run() -> None:
        for x, w in zip(xs, ws):
            x.matmul(w.t())
        for x, gr in zip(xs, gs):
            gr.t().mm(x)
        for w, gr in zip(ws[1:], gs[1:]):
            gr.mm(w)

    return run, float(flops)


def _timed(fn: Callable[[], None]) -> float:
    """CPU time of this thread (time.thread_time): time spent waiting for a busy core is left out."""
    t0 = time.thread_time()
    fn()
    return time.thread_time() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300, help="timed steps per variant")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--quick", action="store_true", help="60 steps and a smaller data-pipeline check")
    args = parser.parse_args()
    steps = 60 if args.quick else args.steps
    torch.set_num_threads(1)

    x = torch.randn(args.batch_size, 1, 28, 28)
    y = torch.randint(0, 10, (args.batch_size,))
    fused = build_model("fc-300-300", output_size=10, seed=0)
    set_task(fused, add_task(fused, torch.Generator().manual_seed(1)))
    plain = copy.deepcopy(fused)
    for layer in masked_layers(plain).values():
        layer.workspace = None  # masked_linear without a workspace: W * M allocated every step
    dense = build_multihead("fc-300-300", output_size=10, seed=0)  # the baselines' network (with biases)
    # The masked layers have no bias: the like-for-like dense network has none either.
    dense_nobias = nn.Sequential(nn.Flatten(), nn.Linear(784, 300, bias=False), nn.ReLU(),
                                 nn.Linear(300, 300, bias=False), nn.ReLU(), nn.Linear(300, 10, bias=False))
    matmul, flops = _matmuls(args.batch_size, (784, 300, 300, 10))
    timers = {
        "masked, straightforward": _step(plain, torch.optim.RMSprop(task_scores(plain, 0), lr=1e-4), x, y),
        "masked, fused": _step(fused, rmsprop(task_scores(fused, 0), lr=1e-4), x, y),
        "dense, no bias": _step(dense_nobias, rmsprop(list(dense_nobias.parameters()), lr=1e-4), x, y),
        "dense, with bias": _step(dense, rmsprop(list(dense.parameters()), lr=1e-4), x, y),
        "matmuls only": matmul,
    }
    for fn in timers.values():  # warm-up
        for _ in range(20):
            fn()
    times: dict[str, list[float]] = {k: [] for k in timers}
    for _ in range(steps):  # interleaved, so every variant sees the same machine load
        for name, fn in timers.items():
            times[name].append(_timed(fn))
    med = {k: statistics.median(v) for k, v in times.items()}
    dense_s, mm_s = med["dense, no bias"], med["matmuls only"]

    print(f"## Training step, FC 784-300-300-10, batch {args.batch_size}, 1 thread\n")
    print(f"torch {torch.__version__}; medians of {steps} interleaved steps, thread CPU time; plain matmul rate "
          f"{flops / mm_s / 1e9:.1f} GFLOP/s ({flops / 1e6:.0f} MFLOP per step)\n")
    print("| step | ms | throughput / dense no-bias | fraction of matmul rate |")
    print("|---|---|---|---|")
    for name in ("masked, straightforward", "masked, fused", "dense, no bias", "dense, with bias"):
        print(f"| {name} | {med[name] * 1e3:.3f} | {dense_s / med[name]:.2f} | {mm_s / med[name]:.2f} |")
    print(f"\n- fused / straightforward masked step throughput: "
          f"{med['masked, straightforward'] / med['masked, fused']:.2f}x")

    # Data pipeline: build a benchmark from the embedded subset and draw batches from it.
    t0 = time.perf_counter()
    dataset = load_source("mnist-5k")
    tasks = make_benchmark("rotated", dataset, num_tasks=3 if args.quick else 10, seed=0)
    build_s = time.perf_counter() - t0
    n_images = sum(len(t.x_train) + len(t.x_test) for t in tasks)
    print(f"- rotated benchmark, {len(tasks)} tasks of mnist-5k: built in {build_s:.2f} s "
          f"({n_images / build_s:,.0f} images/s)")
    generator = torch.Generator().manual_seed(0)
    n_batches = 200 if args.quick else 2000
    t0 = time.perf_counter()
    seen = sum(len(xb) for xb, _ in iterate_batches(tasks[0].x_train, tasks[0].y_train,
                                                      args.batch_size, n_batches, generator))
    dt = time.perf_counter() - t0
    print(f"- batch sampling: {seen / dt:,.0f} samples/s ({n_batches} batches of {args.batch_size})")


if __name__ == "__main__":
    main()
