"""The same short SupSup run on CUDA and on the CPU: accuracies side by side, mask agreement, time per step.

SupSup (LeNet-300-300 masks, permuted MNIST subset, one seed) learns a few tasks once with
`run.device=cpu` and once with `run.device=cuda`, and once more on CUDA with bfloat16 autocast
(`training.amp`). Both devices draw the same initial scores and batches (CPU generators), so they
differ only by float rounding. It prints, per device: task-given accuracy (GG), one-shot and
binary task inference on test batches (GNu, entropy objective) and one-shot inference image by
image, the fraction of mask bits on which the CUDA masks agree with the CPU masks, and the median
seconds per training step. On a machine without CUDA it says why and exits 0.
Run: `python benchmarks/gpu_check.py` (about a minute on a GPU machine, most of it the CPU run),
`--quick` for fewer steps and tasks.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch

from supermasks.config import load_config
from supermasks.data import load_source
from supermasks.devices import device_info, resolve_device
from supermasks.methods.supsup import SupSup, from_config
from supermasks.runner.build import build_tasks


def train(overrides: list[str], tasks: list) -> tuple[SupSup, list[float]]:
    """SupSup of the config `overrides` trained on `tasks`; the seconds of each training step (median per task)."""
    method = from_config(load_config(None, overrides))
    per_step = []
    for task in tasks:
        result = method.learn(task, progress=False)
        per_step.append(result.seconds / result.steps)
    return method, per_step


def evaluate(method: SupSup, tasks: list, batch: int) -> dict[str, float]:
    """GG accuracy, GNu one-shot and binary batch inference, and per-image one-shot inference, over `tasks`."""
    out: dict[str, float] = {}
    hits = [(method.predict(t.x_test[:], t.task_id).argmax(1).cpu() == t.y_test).float().mean().item() for t in tasks]
    out["GG accuracy"] = float(np.mean(hits))
    for name in ("oneshot", "binary"):
        method.task_inference = name
        right = [method.infer_task(t.x_test[i:i + batch]) == t.task_id
                 for t in tasks for i in range(0, len(t.x_test) - batch + 1, batch)]
        out[f"GNu {name} task inference"] = float(np.mean(right))
    method.task_inference = "oneshot"
    per_image = [(method.infer_task_per_image(t.x_test[:256]).cpu() == t.task_id).float().mean().item() for t in tasks]
    out["one-shot per image"] = float(np.mean(per_image))
    return out


def agreement(a: SupSup, b: SupSup, num_tasks: int) -> float:
    """Fraction of mask bits, over every task and layer, that `a` and `b` agree on."""
    same = total = 0
    for t in range(num_tasks):
        for layer, mask in a.masks(t).items():
            same += int((mask == b.masks(t)[layer]).sum())
            total += mask.size
    return same / total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 tasks of 50 steps instead of 3 of 300")
    parser.add_argument("--source", default="mnist-5k", help="data source (default: the embedded MNIST subset)")
    parser.add_argument("--device", default="cuda", help="the device compared with the CPU (default: cuda; "
                                                          "cpu checks this script itself on any machine)")
    args = parser.parse_args()
    print(f"## GPU check: SupSup on {args.device} against the CPU\n")
    if args.device != "cpu" and not torch.cuda.is_available():
        why = "this torch is a CPU-only build" if torch.version.cuda is None else "no CUDA device is visible"
        print(f"- skipped: CUDA is not available here ({why}); run this on a machine with a GPU")
        return 0
    num_tasks, steps = (2, 50) if args.quick else (3, 300)
    base = [f"data.source={args.source}", "data.benchmark=permuted", f"data.num_tasks={num_tasks}",
            "scenario.name=gnu", "supsup.task_inference=oneshot", "model.arch=fc-300-300",
            f"training.steps_per_task={steps}", "training.batch_size=128", "training.optimizer=adam",
            "training.lr=1e-3", "seed=0"]
    config = load_config(None, base)
    tasks = build_tasks(config, "permuted", load_source(args.source, None))
    runs = {}
    variants = [("cpu", ["run.device=cpu"]), (args.device if args.device != "cpu" else "cpu again",
                                              [f"run.device={args.device}"])]
    if args.device != "cpu":  # autocast to bfloat16 is offered on CUDA only
        variants.append((f"{args.device} + bf16 autocast", [f"run.device={args.device}", "training.amp=true"]))
    for label, extra in variants:
        start = time.perf_counter()
        method, per_step = train([*base, *extra], tasks)
        scores = evaluate(method, tasks, batch=128)
        runs[label] = (method, per_step, scores, time.perf_counter() - start)
    info = device_info(resolve_device(args.device))
    gpu = f"{info['gpu_name']} (CUDA {info['cuda_version']})" if "gpu_name" in info else "no GPU"
    print(f"- {info['device']}: {gpu}, torch {torch.__version__}; "
          f"{num_tasks} permuted tasks of {args.source}, {steps} steps each, batch 128, seed 0\n")
    labels = list(runs)
    print("| measure | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    for key in runs["cpu"][2]:
        print(f"| {key} | " + " | ".join(f"{runs[label][2][key]:.2%}" for label in labels) + " |")
    reference = runs["cpu"][0]
    print("| mask bits agreeing with the CPU run | " +
          " | ".join(f"{agreement(reference, runs[label][0], num_tasks):.4%}" for label in labels) + " |")
    print("| median seconds per training step | " +
          " | ".join(f"{statistics.median(runs[label][1]) * 1e3:.2f} ms" for label in labels) + " |")
    print("| whole run (train + evaluate) | " + " | ".join(f"{runs[label][3]:.1f} s" for label in labels) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
