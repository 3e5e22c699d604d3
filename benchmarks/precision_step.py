"""Time one training step in float32 against bfloat16 products (`training.precision`), masked against dense.

One step = forward, cross-entropy, backward and the optimiser's update, one thread, this thread's
CPU time, the variants interleaved A B C ... in one process (FC: blocks of 10 consecutive steps, as
training runs them; medians, so ratios hold on a shared machine).

FC 784-300-300-10 at batch 128, RMSprop lr 1e-4 (the seed setting's step):
- masked float32: SupSup's path in float32 (`supermasks.training.optimizers.rmsprop`);
- masked bfloat16, unfused: bfloat16 products, the same RMSprop as torch ops;
- masked bfloat16, fused: bfloat16 products and the fused score step (`models.fused`), SupSup's
  path with `training.precision=bfloat16`; "compiled" says whether its C loop was built here;
- dense float32 / bfloat16: the same network with ordinary trainable weights and no bias, RMSprop
  over all of them; bfloat16 as `torch.autocast("cpu", dtype=torch.bfloat16)` (weights float32,
  cast per product) - the like-for-like dense network of each precision.
"masked / dense" divides a masked step by the dense step of the same precision.
- floor bfloat16: the eight bfloat16 products of one step on fixed weights, alone and with the
  elementwise ops every step needs (input rounding, ReLU, cross-entropy and their gradients): what no
  bfloat16 step of this network goes below on this CPU, without scores, masks or an update.

ResNet-18 of SplitCIFAR100 (20 base filters, per-task BN) at batch 128 of 3x32x32, Adam lr 1e-3
(SupSup's SplitCIFAR100 optimiser; unfused): masked top-k 0.1 with the ER budget, and the threshold
rule, in float32 and bfloat16 (whose convolutions run channels-last), and the seconds per
SplitCIFAR100 epoch each implies (2,500 training images per task at batch 128: 19 full batches).
Run: `PYTHONPATH=src .venv/bin/python benchmarks/precision_step.py [--quick]`.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from supermasks.models import add_task, build_model, fused_score_layers, set_precision, set_task, task_scores
from supermasks.compute.kernels import compiled_available
from supermasks.models.fused import FusedScoreRMSprop, deferring
from supermasks.training.optimizers import adam, rmsprop

Step = Callable[[], None]


def _masked_fc(precision: str) -> nn.Module:
    model = build_model("fc-300-300", output_size=10, rule="threshold", density=0.5, batch_norm=False, seed=0)
    set_task(model, add_task(model, torch.Generator().manual_seed(1)))
    set_precision(model, precision)
    return model


def _dense_fc() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 300, bias=False), nn.ReLU(), nn.Linear(300, 300, bias=False),
                         nn.ReLU(), nn.Linear(300, 10, bias=False))


def _step(model: nn.Module, optimizer, x: torch.Tensor, y: torch.Tensor, autocast: bool = False) -> Step:
    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16) if autocast else nullcontext():
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

    return step


def _floor(x: torch.Tensor, y: torch.Tensor, elementwise: bool) -> Step:
    """What no bfloat16 step of this network can go below: its eight products (three forward, three weight
    gradients, two input gradients; bfloat16 with float32 accumulation, as the masked step's) on fixed weights,
    and with `elementwise` the ops every step needs around them (rounding the input, ReLU and its backward,
    cross-entropy and its gradient). No scores, no mask, no update, no autograd graph."""
    g = torch.Generator().manual_seed(4)
    weights = [torch.randn(o, i, generator=g).to(torch.bfloat16) for i, o in ((784, 300), (300, 300), (300, 10))]
    flat = x.flatten(1)

    def step() -> None:
        h = flat.to(torch.bfloat16)
        hs = [h]
        for i, w in enumerate(weights):
            h = h.matmul(w.t())
            if i < len(weights) - 1:
                h = torch.relu_(h) if elementwise else h
                hs.append(h)
        if elementwise:
            logits = h.float().requires_grad_()
            F.cross_entropy(logits, y).backward()
            grad = logits.grad.to(torch.bfloat16)
        else:
            grad = h
        for i in reversed(range(len(weights))):
            grad.t().mm(hs[i])
            if i > 0:
                grad = grad.mm(weights[i])
                grad = torch.ops.aten.threshold_backward(grad, hs[i], 0) if elementwise else grad

    return step


def _measure(steps: dict[str, Step], rounds: int, block: int) -> dict[str, float]:
    """Median seconds per step of each variant: `rounds` rounds, each timing `block` consecutive steps of every
    variant in turn (consecutive, as training runs them: one variant's data does not evict another's between steps)."""
    for fn in steps.values():  # warm-up: allocations, the compiled loop, oneDNN's kernels
        fn()
        fn()
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(rounds):
        for name, fn in steps.items():
            start = time.thread_time()
            for _ in range(block):
                fn()
            times[name].append((time.thread_time() - start) / block)
    return {k: statistics.median(v) for k, v in times.items()}


def fc_table(rounds: int) -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(128, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (128,), generator=g)
    f32, low, low_fused = _masked_fc("float32"), _masked_fc("bfloat16"), _masked_fc("bfloat16")
    layers = fused_score_layers(low_fused, 0)
    dense32, dense16 = _dense_fc(), _dense_fc()
    steps = {
        "masked float32": _step(f32, rmsprop(task_scores(f32, 0), lr=1e-4), x, y),
        "masked bfloat16, unfused": _step(low, rmsprop(task_scores(low, 0), lr=1e-4), x, y),
        "masked bfloat16, fused": _step(low_fused, FusedScoreRMSprop(task_scores(low_fused, 0), layers, 1e-4), x, y),
        "dense float32": _step(dense32, rmsprop(dense32.parameters(), lr=1e-4), x, y),
        "dense bfloat16 (autocast)": _step(dense16, rmsprop(dense16.parameters(), lr=1e-4), x, y, autocast=True),
        "floor bfloat16: the eight products alone": _floor(x, y, elementwise=False),
        "floor bfloat16: products, ReLU, cross-entropy and their gradients": _floor(x, y, elementwise=True),
    }
    with deferring(layers):  # as SupSup's `learn` does around a task's training
        med = _measure(steps, rounds, block=10)
    dense = {"float32": med["dense float32"], "bfloat16": med["dense bfloat16 (autocast)"]}
    print("### FC 784-300-300-10, batch 128, RMSprop, 1 thread\n")
    print(f"medians of {rounds} interleaved blocks of 10 steps, thread CPU time; fused step's C loop compiled: "
          f"{'yes' if compiled_available() else 'no (torch ops)'}\n")
    print("| variant | ms per step | masked / dense |")
    print("|---|---:|---:|")
    for name, s in med.items():
        precision = "bfloat16" if "bfloat16" in name else "float32"
        ratio = f"{s / dense[precision]:.2f}x" if name.startswith("masked") else "-"  # floors: no network, no ratio
        print(f"| {name} | {1e3 * s:.2f} | {ratio} |")
    print(f"\nbfloat16 fused against float32, masked: {med['masked float32'] / med['masked bfloat16, fused']:.2f}x "
          "faster.\n")
    fused, floor = med["masked bfloat16, fused"], med["floor bfloat16: products, ReLU, cross-entropy and their gradients"]
    print(f"floor: the masked bfloat16 fused step is {1e3 * (fused - floor):.2f} ms over the floor of its products and "
          f"elementwise ops ({1e3 * floor:.2f} ms, of which the products alone "
          f"{1e3 * med['floor bfloat16: the eight products alone']:.2f} ms); that difference is its score gradient, "
          "RMSprop update and next mask (the fused pass), autograd and Python.\n")


def resnet_table(rounds: int) -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(128, 3, 32, 32, generator=g)
    y = torch.randint(0, 5, (128,), generator=g)
    base = build_model("resnet18", output_size=5, rule="topk", density=0.1, density_budget="er", batch_norm=True,
                       seed=0)
    set_task(base, add_task(base, torch.Generator().manual_seed(1)))
    threshold = build_model("resnet18", output_size=5, rule="threshold", batch_norm=True, seed=0)
    set_task(threshold, add_task(threshold, torch.Generator().manual_seed(1)))
    f32, low, t32, t16 = base, copy.deepcopy(base), threshold, copy.deepcopy(threshold)
    set_precision(low, "bfloat16")
    set_precision(t16, "bfloat16")
    steps = {
        "masked top-k 0.1 ER, float32": _step(f32, adam(task_scores(f32, 0), lr=1e-3), x, y),
        "masked top-k 0.1 ER, bfloat16": _step(low, adam(task_scores(low, 0), lr=1e-3), x, y),
        "masked threshold, float32": _step(t32, adam(task_scores(t32, 0), lr=1e-3), x, y),
        "masked threshold, bfloat16": _step(t16, adam(task_scores(t16, 0), lr=1e-3), x, y),
    }
    med = _measure(steps, rounds, block=1)
    print("### ResNet-18 (SplitCIFAR100's), batch 128 of 3x32x32, Adam, 1 thread\n")
    print(f"medians of {rounds} interleaved steps, thread CPU time\n")
    print("| variant | ms per step | against float32 | s per SplitCIFAR100 epoch (19 steps) |")
    print("|---|---:|---:|---:|")
    for name, s in med.items():
        ref = med[name.replace("bfloat16", "float32")]
        print(f"| {name} | {1e3 * s:.0f} | {ref / s:.2f}x | {19 * s:.1f} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30, help="timed blocks of 10 steps per FC variant")
    parser.add_argument("--resnet-rounds", type=int, default=5, help="timed steps per ResNet-18 variant")
    parser.add_argument("--quick", action="store_true", help="5 FC blocks and 2 ResNet-18 steps per variant")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("## Training step by precision: float32 against bfloat16 products\n")
    fc_table(5 if args.quick else args.rounds)
    resnet_table(2 if args.quick else args.resnet_rounds)


if __name__ == "__main__":
    main()
