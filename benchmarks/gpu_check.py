"""The same short SupSup run on CUDA and on the CPU: accuracies side by side, mask agreement, time per step.

SupSup (LeNet-300-300 masks, permuted MNIST subset, one seed) learns a few tasks once with
`run.device=cpu` and once with `run.device=cuda`, and once more on CUDA with bfloat16 autocast
(`training.amp`). Both devices draw the same initial scores and batches (CPU generators), so they
differ only by float rounding. It prints, per device: task-given accuracy (GG), one-shot and
binary task inference on test batches (GNu, entropy objective) and one-shot inference image by
image, the fraction of mask bits on which the CUDA masks agree with the CPU masks, and the median
seconds per training step. Then the inference paths alone, on identical masks: the CPU run's network
and mask bank are copied to each device (the bank follows the model), and one-shot, binary-search
and per-image task inference and NNs new-task detection run there on the same test batches; the
table gives the fraction of picks agreeing with the CPU and the largest alpha-gradient difference.
On a machine without CUDA it says why and exits 0.
Run: `python benchmarks/gpu_check.py` (about a minute on a GPU machine, most of it the CPU run),
`--quick` for fewer steps and tasks.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time

import numpy as np
import torch

from supermasks.config import load_config
from supermasks.data import load_source
from supermasks.compute.devices import device_info, resolve_device, to_device
from supermasks.inference import (MaskBank, detect_new_task, infer_per_image, infer_task, infer_task_binary,
                                  random_masks)
from supermasks.inference.oneshot import alpha_gradient
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


INFERENCE_TASKS = 20  # learned masks padded with random ones: full 16-task words and a tail, both layouts read


def inference_on(method: SupSup, device: torch.device, tasks: list, batch: int) -> dict[str, list]:
    """The inference paths on a copy of `method`'s network (and its masks' bank) on `device`.

    The bank holds the learned masks and random masks (`random_masks`, a fixed seed) up to
    `INFERENCE_TASKS`. Per test batch of every task: the one-shot alpha gradient (GNu, entropy), the
    one-shot and the binary-search pick, the per-image one-shot picks of its first 32 images; and NNs
    detection (`detect_new_task`, random candidates from a fixed seed) of the batch against the bank
    of the learned tasks before its own and of every learned task. Everything comes back on the CPU.
    """
    model = copy.deepcopy(method.model).to(device).eval()
    learned = MaskBank.from_model(model, task_ids=range(len(tasks)))  # on the model's device
    full = MaskBank(learned.shapes, learned.device)
    for t in range(len(tasks)):
        full.add({name: learned.mask(name, t) for name in learned.shapes})
    generator = torch.Generator().manual_seed(0)
    while full.num_tasks < INFERENCE_TASKS:
        full.add(random_masks(model, generator))
    if full.device != device:
        raise RuntimeError(f"the bank is on {full.device}, the model on {device}")
    out: dict[str, list] = {"gradient": [], "oneshot": [], "binary": [], "per image": [], "NNs": []}
    for t in tasks:
        for i in range(0, len(t.x_test) - batch + 1, batch):
            x = to_device(t.x_test[i:i + batch], device)
            with torch.enable_grad():
                out["gradient"].append(alpha_gradient(model, full, x).cpu())
                out["oneshot"].append(infer_task(model, full, x))
                out["binary"].append(infer_task_binary(model, full, x))
                out["per image"].extend(infer_per_image(model, full, x[:32]).cpu().tolist())
                for bank in ([MaskBank.from_model(model, task_ids=range(t.task_id))] if t.task_id else []) + [learned]:
                    out["NNs"].append(detect_new_task(model, bank, x, generator=torch.Generator().manual_seed(i)))
    return out


def agreeing(a: list, b: list) -> float:
    return float(np.mean([x == y for x, y in zip(a, b, strict=True)]))


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

    # The inference paths on the same masks: the CPU run's network and bank, copied to each device.
    devices = {"cpu": torch.device("cpu"), labels[1]: resolve_device(args.device)}
    start = time.perf_counter()
    found = {label: inference_on(reference, device, tasks, batch=128) for label, device in devices.items()}
    seconds = time.perf_counter() - start
    base_run = found["cpu"]
    print(f"\nInference on the CPU run's masks ({num_tasks} learned, padded with random masks to {INFERENCE_TASKS}), "
          f"copied to each device with its bank ({seconds:.1f} s):\n")
    print("| inference path (same masks) | " + " | ".join(devices) + " |")
    print("|---|" + "---|" * len(devices))
    for key, name in (("oneshot", "one-shot picks (batches of 128)"), ("binary", "binary-search picks"),
                      ("per image", "per-image one-shot picks"), ("NNs", "NNs decisions (new?, best mask)")):
        print(f"| {name} agreeing with the CPU | " +
              " | ".join(f"{agreeing(base_run[key], found[label][key]):.2%}" for label in devices) + " |")
    scale = float(torch.stack(base_run["gradient"]).abs().max())
    print("| largest one-shot alpha-gradient difference / largest gradient | " + " | ".join(
        f"{float((torch.stack(found[label]['gradient']) - torch.stack(base_run['gradient'])).abs().max()) / scale:.1e}"
        for label in devices) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
