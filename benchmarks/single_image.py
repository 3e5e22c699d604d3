"""Time single-image GNu evaluation (scenario.inference_batch_size=1): per-image classification against grouped.

SupSup (FC 784-300-300-10, one-shot task inference, objective H) learns a few synthetic tasks
briefly; then one task's test images are evaluated image by image, in two ways, timed
interleaved in one process (medians, this thread's CPU time):
- per image: the task of every image inferred (batched per-image inference), then one
  `predict` call per image with its inferred task;
- grouped: the same inference, then the images classified grouped by inferred task, in batches
  (`runner.evaluate.infer_and_classify`, via `classify_by_task`).
Also the time of the inference alone and of classifying a whole batch with the given task.
Run: `PYTHONPATH=src .venv/bin/python benchmarks/single_image.py [--quick]`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from supermasks.data.task import Task
from supermasks.methods.supsup import SupSup
from supermasks.models import build_model
from supermasks.runner.evaluate import infer_and_classify
from supermasks.training import TrainingSettings


def _tasks(num_tasks: int, n_test: int, seed: int = 0) -> list[Task]:
    """Class prototypes plus noise, each task its own pixel permutation (4 classes)."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.randn(4, 784, generator=g) * 2
    tasks = []
    for t in range(num_tasks):
        perm = torch.randperm(784, generator=g)

        def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
            y = torch.randint(0, 4, (n,), generator=g)
            return (protos[y] + 0.5 * torch.randn(n, 784, generator=g))[:, perm].view(n, 1, 28, 28), y

        (xtr, ytr), (xte, yte) = draw(512), draw(n_test)
        tasks.append(Task(t, f"synthetic-{t}", xtr, ytr, xte, yte, (0, 1, 2, 3), 4))
    return tasks


def _per_image(method: SupSup, task: Task) -> tuple[float, float]:
    """Inference per image (batched), then one predict call per image: (accuracy, inference accuracy)."""
    inferred = torch.cat([method.infer_task_per_image(c) for c in task.x_test.split(256)]).tolist()
    correct = sum(int(method.predict(task.x_test[i:i + 1], g).argmax()) == int(task.y_test[i]) and g == task.task_id
                  for i, g in enumerate(inferred))
    return correct / len(inferred), sum(g == task.task_id for g in inferred) / len(inferred)


def _median_ms(fn: Callable[[], object], times: list[float]) -> None:
    t0 = time.thread_time()
    fn()
    times.append((time.thread_time() - t0) * 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=5)
    parser.add_argument("--images", type=int, default=500, help="test images of the evaluated task")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 tasks, 200 images, 3 repeats")
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.images, args.repeats = 3, 200, 3
    torch.set_num_threads(1)
    tasks = _tasks(args.tasks, args.images)
    method = SupSup(build_model("fc-300-300", output_size=4, seed=0),
                    training=TrainingSettings(optimizer="adam", lr=1e-3, batch_size=64, steps_per_task=30))
    for task in tasks:
        method.learn(task, progress=False)
    task = tasks[-1]
    same = _per_image(method, task) == infer_and_classify(method, task, 1, unshared=True)[:2]
    variants: dict[str, Callable[[], object]] = {
        "per image": lambda: _per_image(method, task),
        "grouped": lambda: infer_and_classify(method, task, 1, unshared=True),
        "inference alone": lambda: method.infer_task_per_image(task.x_test),
        "one batch, task given": lambda: method.predict(task.x_test, task.task_id).argmax(dim=1),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for fn in variants.values():
        fn()  # warm-up
    for _ in range(args.repeats):
        for name, fn in variants.items():
            _median_ms(fn, times[name])
    per = {name: statistics.median(v) / len(task.y_test) for name, v in times.items()}
    print("## Single-image task inference and classification (GNu, inference_batch_size=1)\n")
    print(f"SupSup FC 784-300-300-4, one-shot H, {args.tasks} tasks, {len(task.y_test)} images, 1 thread, "
          f"medians of {args.repeats} interleaved runs (thread CPU time); same accuracies: {same}\n")
    print("| evaluation | ms per image | / grouped |")
    print("|---|---|---|")
    for name in variants:
        print(f"| {name} | {per[name]:.4f} | {per[name] / per['grouped']:.2f} |")
    print(f"\n- grouped evaluation is {per['per image'] / per['grouped']:.1f}x faster per image than "
          "one predict call per image")


if __name__ == "__main__":
    main()
