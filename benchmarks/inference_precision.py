"""Agreement of bfloat16 task inference with float32 on a small trained SupSup model.

SupSup (LeNet-300-100, 20 permuted tasks of the embedded MNIST subset `mnist-5k`, 200 steps per
task) is trained once; then one-shot and binary task inference run on up to 4 batches of 128 test
images drawn from every task, and single-image one-shot on 64 of them per task, in float32 and in bfloat16
(`oneshot.PRECISIONS`). Prints the share of picks on which the two precisions agree, and each
one's accuracy. Run: `.venv/bin/python benchmarks/inference_precision.py`.
"""

from __future__ import annotations

import argparse

import torch

from supermasks.data.benchmarks import make_benchmark
from supermasks.data.sources import load_source
from supermasks.inference import MaskBank, infer_per_image, infer_task, infer_task_binary
from supermasks.methods.supsup import SupSup
from supermasks.models import build_model
from supermasks.training import TrainingSettings

BATCHES = 4  # batches of 128 test images per task (fewer where a task has fewer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="4 tasks of 30 steps: a check that it runs")
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.steps = 4, 30
    tasks = make_benchmark("permuted", load_source("mnist-5k"), args.tasks, seed=args.seed)
    method = SupSup(build_model("lenet-300-100", output_size=10, seed=args.seed),
                    training=TrainingSettings(batch_size=128, steps_per_task=args.steps))
    for task in tasks:
        method.learn(task, progress=False)
    model = method.model
    bank = MaskBank.from_model(model)
    gen = torch.Generator().manual_seed(args.seed)
    # The test images are stored by class: a random sample of each task's, the same in both precisions.
    samples = [torch.randperm(len(task.x_test), generator=gen)[:128 * BATCHES] for task in tasks]
    rows = []
    for name, infer, count in (("one-shot, batch of 128", infer_task, 128), ("binary, batch of 128", infer_task_binary, 128),
                               ("one-shot, single images", infer_per_image, 64)):
        picks = {}
        for precision in ("float32", "bfloat16"):
            out = []
            for task, sample in zip(tasks, samples):
                for x in task.x_test[sample].split(128)[:BATCHES if count == 128 else 1]:
                    out.append(torch.as_tensor(infer(model, bank, x[:count], precision=precision)).reshape(-1))
            picks[precision] = torch.cat(out)
        truth = torch.arange(len(tasks)).repeat_interleave(len(picks["float32"]) // len(tasks))
        agree = (picks["float32"] == picks["bfloat16"]).float().mean().item()
        rows.append(f"| {name} | {len(truth)} | {agree:.2%} | {(picks['float32'] == truth).float().mean():.2%} "
                    f"| {(picks['bfloat16'] == truth).float().mean():.2%} |")
    print(f"## bfloat16 against float32 task inference ({args.tasks} permuted mnist-5k tasks, LeNet-300-100, "
          f"{args.steps} steps per task, seed {args.seed})\n")
    print("| inference | picks | same pick | float32 accuracy | bfloat16 accuracy |")
    print("|---|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
