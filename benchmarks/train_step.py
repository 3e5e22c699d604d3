"""Time one training step of the masked FC 784-300-300-10 against the same dense network, and the data pipeline.

Prints medians over repeated steps measured in one process, interleaved, so the ratio is
meaningful on a noisy shared machine. Run: `.venv/bin/python benchmarks/train_step.py`.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from supermasks.data import load_source, make_benchmark
from supermasks.models import add_task, build_model, build_multihead, set_task, task_scores
from supermasks.training import iterate_batches


def _step_timer(model: nn.Module, params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor):
    opt = torch.optim.RMSprop(params, lr=1e-4)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> float:
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
        return time.perf_counter() - t0

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=300, help="timed steps per network")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave the default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    x = torch.randn(args.batch_size, 1, 28, 28)
    y = torch.randint(0, 10, (args.batch_size,))
    masked = build_model("fc-300-300", output_size=10, seed=0)
    set_task(masked, add_task(masked, torch.Generator().manual_seed(1)))
    dense = build_multihead("fc-300-300", output_size=10, seed=0)  # the baselines' network (with biases)
    # The masked layers have no bias: the like-for-like dense network has none either.
    dense_nobias = nn.Sequential(nn.Flatten(), nn.Linear(784, 300, bias=False), nn.ReLU(),
                                 nn.Linear(300, 300, bias=False), nn.ReLU(), nn.Linear(300, 10, bias=False))
    timers = {"masked": _step_timer(masked, task_scores(masked, 0), x, y),
              "dense": _step_timer(dense_nobias, list(dense_nobias.parameters()), x, y),
              "dense+bias": _step_timer(dense, list(dense.parameters()), x, y)}
    for step in timers.values():  # warm-up
        for _ in range(20):
            step()
    times: dict[str, list[float]] = {k: [] for k in timers}
    for _ in range(args.steps):  # interleave so both see the same machine load
        for name, step in timers.items():
            times[name].append(step())
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}")
    print(f"dense  FC 784-300-300-10 train step, no bias:   {med['dense']:.3f} ms (median of {args.steps})")
    print(f"dense  FC 784-300-300-10 train step, with bias: {med['dense+bias']:.3f} ms")
    print(f"masked FC 784-300-300-10 train step (no bias):  {med['masked']:.3f} ms")
    print(f"masked / dense step time ratio, like for like:  {med['masked'] / med['dense']:.2f}x (target <= 1.5x)")
    print(f"masked / dense-with-bias step time ratio:       {med['masked'] / med['dense+bias']:.2f}x")

    # Data pipeline: build a benchmark from the embedded subset and draw batches from it.
    t0 = time.perf_counter()
    dataset = load_source("mnist-5k")
    tasks = make_benchmark("rotated", dataset, num_tasks=10, seed=0)
    build_s = time.perf_counter() - t0
    n_images = sum(len(t.x_train) + len(t.x_test) for t in tasks)
    print(f"rotated benchmark, 10 tasks of mnist-5k: built in {build_s:.2f} s ({n_images / build_s:,.0f} images/s)")
    generator = torch.Generator().manual_seed(0)
    n_batches = 2000
    t0 = time.perf_counter()
    seen = sum(len(xb) for xb, _ in iterate_batches(tasks[0].x_train, tasks[0].y_train,
                                                      args.batch_size, n_batches, generator))
    dt = time.perf_counter() - t0
    print(f"batch sampling: {seen / dt:,.0f} samples/s ({n_batches} batches of {args.batch_size})")


if __name__ == "__main__":
    main()
