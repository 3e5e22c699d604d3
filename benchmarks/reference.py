"""This library's SupSup against a tensor-pipeline re-implementation of SupSup, side by side on the seed setting.

The setting: 10 Permuted Fashion-MNIST tasks (full size: 60,000 training and 10,000 test images,
one seeded pixel permutation per task), FC 784-300-300-10 without bias over fixed signed-constant
weights, the threshold rule (mask = scores >= 0, straight-through gradient), RMSprop lr 1e-4,
batch 128, 469 steps per task (one epoch), and after every task the accuracy on the test images of
every task seen so far, task id given. ACC is the mean accuracy over all tasks after the last one.

- reference: a tensor-pipeline re-implementation of SupSup (Wortsman et al., 2020, "Supermasks in
  Superposition"), written out in this file: a `GetSubnet` autograd function (forward
  `(scores >= 0).float()`, backward the identity), a multitask masked linear layer with one
  `nn.Parameter` of scores per task (Kaiming-uniform) over a fixed signed-constant weight
  (sign(w) * sqrt(2 / fan_in)) and the task chosen by an attribute; each task's permuted float
  data set materialised as tensors, a shuffling loader that keeps the partial last batch,
  `torch.optim.RMSprop` on the current task's scores, evaluation in batches of 1,000. It is not
  the paper's reference notebook: the notebook decodes every image on its own (PIL, then
  ToTensor and Normalize with Fashion-MNIST's mean and std) through a `DataLoader`, has 100
  outputs, draws its permutations with numpy seeded by the task and gives RMSprop every task's
  scores; `benchmarks/seed_setting.py` re-creates that formulation and times it.
- ours: `supermasks.run` on the equivalent config (`data.source=fashion-mnist`, permuted, 10
  tasks, fc-300-300, threshold, rmsprop 1e-4, batch 128, 469 steps, task scenario; overlap,
  figures and state checkpoints off; the run directory in a temporary folder), as a user runs it.
  Its evaluation also measures each new task before training (the `b` of FWT), which the
  reference does not.
- floor: only the matrix products of the setting (8 per training step, 3 per evaluation batch) on
  random data, in a fresh process: what any float32 implementation must compute. reference / floor
  bounds the speed-up any implementation of the same products can reach over the reference.

Each side runs in its own fresh process with the same thread settings (`OMP_NUM_THREADS=1`,
`OMP_WAIT_POLICY=PASSIVE`, `torch.set_num_threads(1)`), so its peak RSS (VmHWM, read in the child
at the end) and CPU time (`time.process_time` of the child, imports included) are its own; wall
time is measured by the parent around the child. Rounds alternate reference, ours, floor; figures are
medians over rounds. The machine is shared, so the speed ratio is taken on CPU time (wall is shown
too). The accuracies differ a little: different random draws, and ours draws full batches only.

Run: `.venv/bin/python benchmarks/reference.py` (a few minutes; `--repeats N`, default 2), `--quick`
for 2 tasks x 100 steps, one round.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
MEAN, STD = 0.1307, 0.3081  # MNIST's normalisation, as this library applies it: (x / 255 - mean) / std
EVAL_BATCH = 1000
SIDES = ("reference", "ours", "floor")


def _peak_rss_mb() -> float:
    """VmHWM of this process in MB (10^6 bytes)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


# ---- the reference formulation ----------------------------------------------------------------------------------

def _read_idx(path: Path, offset: int) -> Any:
    import gzip

    import numpy as np
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def _run_reference(num_tasks: int, steps: int, seed: int) -> float:
    """Train and evaluate the tensor-pipeline re-implementation; return ACC."""
    import math

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(1)
    torch.manual_seed(seed)

    class GetSubnet(torch.autograd.Function):
        """Threshold rule: the mask is scores >= 0; the gradient passes straight through."""

        @staticmethod
        def forward(ctx: Any, scores: torch.Tensor) -> torch.Tensor:
            return (scores >= 0).float()

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
            return grad

    class MultitaskMaskLinear(nn.Linear):
        """A linear layer over a fixed signed-constant weight with one score tensor per task."""

        def __init__(self, in_features: int, out_features: int, tasks: int) -> None:
            super().__init__(in_features, out_features, bias=False)
            self.task = 0
            self.scores = nn.ParameterList(
                [nn.Parameter(nn.init.kaiming_uniform_(torch.empty_like(self.weight), a=math.sqrt(5)))
                 for _ in range(tasks)])
            nn.init.kaiming_normal_(self.weight, mode="fan_in", nonlinearity="relu")
            std = math.sqrt(2.0 / in_features)
            self.weight.data = self.weight.data.sign() * std
            self.weight.requires_grad = False

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.linear(x, self.weight * GetSubnet.apply(self.scores[self.task]))

    def set_task(model: nn.Module, task: int) -> None:
        for m in model.modules():
            if isinstance(m, MultitaskMaskLinear):
                m.task = task

    images = {split: _read_idx(FASHION_DIR / f"{split}-images-idx3-ubyte.gz", 16) for split in ("train", "t10k")}
    labels = {split: _read_idx(FASHION_DIR / f"{split}-labels-idx1-ubyte.gz", 8) for split in ("train", "t10k")}
    raw = {s: torch.from_numpy(images[s].copy()).view(-1, 784) for s in images}
    targets = {s: torch.from_numpy(labels[s].astype("int64")) for s in labels}
    perm_gen = torch.Generator().manual_seed(seed)
    perms = [torch.randperm(784, generator=perm_gen) for _ in range(num_tasks)]

    def permuted(split: str, task: int) -> torch.Tensor:
        """The task's whole permuted float data set, materialised at once."""
        return raw[split][:, perms[task]].float().div_(255.0).sub_(MEAN).div_(STD)

    def batches(x: torch.Tensor, y: torch.Tensor, size: int, shuffle: bool) -> Any:
        """A DataLoader-like pass over (x, y): shuffled or not, the partial last batch kept."""
        order = torch.randperm(len(x)) if shuffle else torch.arange(len(x))
        for start in range(0, len(x), size):
            idx = order[start:start + size]
            yield x[idx], y[idx]

    model = nn.Sequential(MultitaskMaskLinear(784, 300, num_tasks), nn.ReLU(),
                          MultitaskMaskLinear(300, 300, num_tasks), nn.ReLU(),
                          MultitaskMaskLinear(300, 10, num_tasks))
    criterion = nn.CrossEntropyLoss()
    final: list[float] = []
    for task in range(num_tasks):
        set_task(model, task)
        x_train = permuted("train", task)
        model.train()
        optimizer = torch.optim.RMSprop(
            [m.scores[task] for m in model.modules() if isinstance(m, MultitaskMaskLinear)], lr=1e-4)
        step = 0
        while step < steps:  # one epoch is 469 batches; the quick run stops sooner
            for x, y in batches(x_train, targets["train"], 128, shuffle=True):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                step += 1
                if step == steps:
                    break
        del x_train
        model.eval()
        final = []
        with torch.no_grad():
            for seen in range(task + 1):
                set_task(model, seen)
                x_test = permuted("t10k", seen)
                correct = sum(int((model(x).argmax(1) == y).sum())
                              for x, y in batches(x_test, targets["t10k"], EVAL_BATCH, shuffle=False))
                final.append(correct / len(x_test))
    return 100.0 * sum(final) / len(final)


# ---- this library -----------------------------------------------------------------------------------------------

def _run_ours(num_tasks: int, steps: int, seed: int) -> float:
    """`supermasks.run` on the equivalent config; return ACC."""
    import supermasks

    with tempfile.TemporaryDirectory() as out_dir:
        config = supermasks.load_config(None, [
            "method=supsup", "data.source=fashion-mnist", "data.benchmark=[permuted]", f"data.num_tasks={num_tasks}",
            "model.arch=fc-300-300", "model.mask_rule=threshold", "training.optimizer=rmsprop", "training.lr=0.0001",
            "training.batch_size=128", f"training.steps_per_task={steps}", "scenario.name=task", f"seed={seed}",
            "run.overlap=false", "run.figures=false", "run.checkpoint_state=false", f"run.out_dir={out_dir}"])
        import torch
        torch.set_num_threads(1)
        result = supermasks.run(config, force=True, progress=False)
        last = result.results[0].accuracy[-1]
    return 100.0 * float(last.mean())


# ---- the floor: the matrix products alone ----------------------------------------------------------------------

def _run_floor(num_tasks: int, steps: int, seed: int) -> float:
    """Only the matrix products both sides must compute, on random data; no ACC.

    Per training step (batch 128): the three forward products, the three weight-shaped gradients
    (`g.T @ h`) and the two input gradients of layers 2 and 3; per evaluation batch of 1,000 the
    three forward products. Any implementation of the setting in float32 does at least these.
    """
    import torch

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(seed)
    sizes = (784, 300, 300, 10)
    weights = [torch.randn(o, i, generator=gen) for i, o in zip(sizes, sizes[1:])]

    def forward(x: torch.Tensor) -> list[torch.Tensor]:
        hs = [x]
        for w in weights:
            hs.append(hs[-1].matmul(w.t()))
        return hs

    x = torch.randn(128, 784, generator=gen)
    for _ in range(num_tasks * steps):
        hs = forward(x)
        g = hs[-1]
        for layer in (2, 1, 0):
            g.t().mm(hs[layer])
            if layer:
                g = g.matmul(weights[layer])
    test = torch.randn(EVAL_BATCH, 784, generator=gen)
    for _ in range(num_tasks * (num_tasks + 1) // 2 * (10_000 // EVAL_BATCH)):
        forward(test)
    return float("nan")


def _child(side: str, num_tasks: int, steps: int, seed: int) -> None:
    run = {"reference": _run_reference, "ours": _run_ours, "floor": _run_floor}[side]
    acc = run(num_tasks, steps, seed)
    print(json.dumps({"acc": acc, "cpu": time.process_time(), "rss": _peak_rss_mb()}))


def _measure(side: str, num_tasks: int, steps: int, seed: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "SUPERMASKS_THREADS")}
    env |= {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--child", side, "--tasks", str(num_tasks), "--steps", str(steps),
                          "--seed", str(seed)], env=env, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"{side} failed:\n{out.stderr[-4000:]}")
    return {"wall": wall, **json.loads(out.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 tasks x 100 steps, one round")
    parser.add_argument("--repeats", type=int, default=None, help="rounds of reference, ours (default 2, quick 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", choices=SIDES, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--tasks", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.tasks, args.steps, args.seed)
        return
    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file():
        sys.exit(f"Fashion-MNIST not found in {FASHION_DIR} (Debian package dataset-fashion-mnist)")
    num_tasks, steps = (2, 100) if args.quick else (10, 469)
    repeats = args.repeats or (1 if args.quick else 2)

    runs: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
    for _ in range(repeats):
        for side in SIDES:
            runs[side].append(_measure(side, num_tasks, steps, args.seed))
    med = {side: {k: statistics.median(r[k] for r in runs[side]) for k in runs[side][0]} for side in SIDES}
    ref, ours = med["reference"], med["ours"]

    print("## This library against the reference SupSup formulation\n")
    print(f"Permuted Fashion-MNIST, {num_tasks} tasks x {steps} steps (batch 128, RMSprop 1e-4, threshold rule, "
          f"FC 784-300-300-10), task given; each side a fresh process, one thread; median of {repeats} "
          "round(s), alternating. CPU and wall include imports and data loading.\n")
    print("| side | wall s | CPU s | peak RSS MB | ACC % |")
    print("|---|---:|---:|---:|---:|")
    for side in SIDES:
        m = med[side]
        acc = "-" if m["acc"] != m["acc"] else f"{m['acc']:.2f}"
        print(f"| {side} | {m['wall']:.1f} | {m['cpu']:.1f} | {m['rss']:.0f} | {acc} |")
    print()
    print(f"- CPU time reference / ours: **{ref['cpu'] / ours['cpu']:.2f}x** (target >= 6x)")
    print(f"- wall time reference / ours: {ref['wall'] / ours['wall']:.2f}x")
    print(f"- peak RSS ours / reference: **{ours['rss'] / ref['rss']:.2f}x** (target <= 1)")
    floor = med["floor"]
    print(f"- floor (the matrix products alone, random data, no optimiser or data): {floor['cpu']:.1f} CPU s; "
          f"reference / floor {ref['cpu'] / floor['cpu']:.2f}x, ours / floor {ours['cpu'] / floor['cpu']:.2f}x: "
          f"no implementation of these products is more than reference / floor faster than the reference")


if __name__ == "__main__":
    main()
