"""Time one training step of the masked ResNet-18 (SplitCIFAR100's) against the same dense network.

One step = forward, cross-entropy, backward and an Adam update (SupSup's SplitCIFAR100 optimiser),
on 3x32x32 images at batch 128, one thread, timed in this thread's CPU time, interleaved A B C ...
in one process (medians, so the ratios hold on a noisy shared machine):
- masked top-k, density 0.1 with the ER budget (`model.density_budget=er`): the mask of every
  layer selected by `torch.topk` (no full sort), SupSup's rule on SplitCIFAR100;
- masked top-k, global density 0.1 (the same fraction in every layer);
- masked threshold (`s >= 0`);
- dense: the same network with ordinary trainable conv weights (`models.kits.DenseKit`) and the
  same non-affine BatchNorm, every weight trained.
Printed: ms per step, images per second, the ratio masked/dense, and the share of a masked step
spent building the masks (`W * M(s)` in forward and the straight-through gradient in backward),
from the autograd profiler. Without `--quick` also ResNet-50 at batch 8 on 3x224x224 (fewer steps).
Run: `PYTHONPATH=src .venv/bin/python benchmarks/conv_step.py [--quick]` (a few minutes; --quick
about one minute on 2 shared CPU cores).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from supermasks.models import add_task, set_task, task_scores
from supermasks.models.kits import DenseKit
from supermasks.models.networks import ARCHITECTURES, build_model


class _SameNormDenseKit(DenseKit):
    """Dense conv weights with the masked network's BatchNorm kind: non-affine."""

    def norm(self, features: int, *, dims: int) -> nn.Module:
        return nn.BatchNorm2d(features, affine=False) if dims == 2 else nn.BatchNorm1d(features, affine=False)


def _step(model: nn.Module, params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    opt = torch.optim.Adam(params, lr=1e-3, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    model.train()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    return step


def _masked(arch: str, output_size: int, **rule: object) -> tuple[nn.Module, list[torch.Tensor]]:
    model = build_model(arch, output_size=output_size, batch_norm=True, seed=0, **rule)  # type: ignore[arg-type]
    set_task(model, add_task(model, torch.Generator().manual_seed(1)))
    return model, list(task_scores(model, 0))


def _dense(arch: str, output_size: int) -> tuple[nn.Module, list[torch.Tensor]]:
    build = ARCHITECTURES[arch].build
    assert build is not None
    torch.manual_seed(0)
    model = build(_SameNormDenseKit(), output_size, True)
    return model, list(model.parameters())


def _timed(fn: Callable[[], None]) -> float:
    start = time.thread_time()
    fn()
    return time.thread_time() - start


def _mask_share(step: Callable[[], None]) -> float:
    """Fraction of one step's self CPU time in the ops that build masks and their gradient (topk, abs,
    index, sign, clamp, ge, copies); copies occur elsewhere too, so this is an upper bound."""
    mask_ops = ("aten::topk", "aten::abs", "aten::index_put_", "aten::zeros", "aten::sign", "aten::clamp_",
                "aten::ge", "aten::_to_copy", "aten::copy_", "aten::index_copy_", "aten::index_select",
                "_MaskedWeight", "_MaskedWeightBackward")
    step()
    with torch.autograd.profiler.profile() as prof:
        step()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    masks = sum(e.self_cpu_time_total for e in events if any(op in e.key for op in mask_ops))
    return masks / total if total else float("nan")


def measure(arch: str, output_size: int, batch: int, side: int, steps: int) -> None:
    x = torch.randn(batch, 3, side, side, generator=torch.Generator().manual_seed(2))
    y = torch.randint(0, output_size, (batch,), generator=torch.Generator().manual_seed(3))
    variants = {
        "dense (conv weights trained)": _dense(arch, output_size),
        "masked top-k 0.1, ER budget": _masked(arch, output_size, rule="topk", density=0.1, density_budget="er"),
        "masked top-k 0.1, global": _masked(arch, output_size, rule="topk", density=0.1),
        "masked threshold": _masked(arch, output_size, rule="threshold"),
    }
    timers = {name: _step(model, params, x, y) for name, (model, params) in variants.items()}
    for fn in timers.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in timers}
    for _ in range(steps):  # interleaved, so every variant sees the same machine load
        for name, fn in timers.items():
            times[name].append(_timed(fn))
    med = {k: statistics.median(v) for k, v in times.items()}
    dense_s = med["dense (conv weights trained)"]
    share = _mask_share(timers["masked top-k 0.1, ER budget"])
    print(f"### {arch}, batch {batch} of 3x{side}x{side}, Adam, 1 thread\n")
    print(f"torch {torch.__version__}; medians of {steps} interleaved steps, thread CPU time\n")
    print("| variant | ms per step | images / s | ratio to dense |")
    print("|---|---:|---:|---:|")
    for name, s in med.items():
        print(f"| {name} | {1e3 * s:.0f} | {batch / s:,.1f} | {s / dense_s:.2f}x |")
    print(f"\nmask ops (top-k selection, W * M, straight-through gradient; copies included, so an upper bound) "
          f"take {100 * share:.1f}% of a masked top-k ER step's CPU time (autograd profiler, self time).\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=9, help="timed steps per variant (ResNet-18)")
    parser.add_argument("--quick", action="store_true", help="3 steps of ResNet-18 only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("## Conv training step: masked ResNet against the same dense network\n")
    measure("resnet18", 5, 128, 32, 3 if args.quick else args.steps)
    if not args.quick:
        measure("resnet50", 10, 8, 224, 3)


if __name__ == "__main__":
    main()
