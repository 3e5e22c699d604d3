"""The one shared training loop (`fit`), and evaluation in batches (`predict`, `accuracy`)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from supermasks.training.optimizers import StepOptimizer

Forward = Callable[[torch.Tensor], torch.Tensor]
# Where `fit(amp=True)` autocasts to bfloat16: CUDA, the one device `devices.check_amp` allows it on.
AMP_DEVICE_TYPE = "cuda"


@dataclass(frozen=True)
class FitResult:
    """What one call of `fit` did: steps, samples, seconds and the loss of each step."""

    steps: int
    samples: int
    seconds: float
    losses: list[float]

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else math.inf


@dataclass(frozen=True)
class Probe:
    """A function `fn(step)` that `fit` calls every `every` steps (and after the last step).

    The runner uses it to record accuracy curves during training.
    """

    every: int
    fn: Callable[[int], None]


def fit(forward: Callable[[Any], torch.Tensor], optimizer: StepOptimizer,
        batches: Iterable[tuple[torch.Tensor, torch.Tensor]], *, total: int | None = None,
        penalty: Callable[[], torch.Tensor] | None = None, description: str = "train",
        progress: bool = True, probe: Probe | None = None, rates: Callable[[int], float] | None = None,
        amp: bool = False) -> FitResult:
    """Minimise cross-entropy (plus an optional `penalty`) over `batches`; the loop knows no model.

    `batches` yields (inputs, labels); `forward(inputs)` returns logits, so inputs may be any
    object the caller's forward understands (a tensor, or a tuple such as images and head ids).

    `rates(step)` (step counted from 0 within this call) is the factor on each parameter group's rate
    (as the group had it when `fit` began) for that step, set before it (None: the rates untouched). `amp` runs forward
    and loss under CUDA autocast to bfloat16; parameters, gradients and optimiser state stay float32.

    `probe.fn(step)` runs every `probe.every` steps and after the last one; its time is not
    counted in the result's `seconds`.
    """
    loss_fn = nn.CrossEntropyLoss()
    losses: list[float] = []
    samples = 0
    start = time.perf_counter()
    # disable=None: bars only on a terminal, so logs and CI output stay readable.
    bar = tqdm(batches, total=total, desc=description, disable=None if progress else True, leave=False,
               unit="step", dynamic_ncols=True)
    base_rates = [group["lr"] for group in optimizer.param_groups]
    for xb, yb in bar:
        if rates is not None:
            factor = rates(len(losses))
            for group, base in zip(optimizer.param_groups, base_rates):
                group["lr"] = factor * base
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(AMP_DEVICE_TYPE, dtype=torch.bfloat16) if amp else nullcontext():
            loss = loss_fn(forward(xb), yb)
        if penalty is not None:
            loss = loss + penalty()
        loss.backward()
        optimizer.step()
        value = loss.item()
        if not math.isfinite(value):
            raise FloatingPointError(f"{description}: loss became {value} at step {len(losses)}")
        losses.append(value)
        samples += len(yb)
        if len(losses) % 50 == 0:
            bar.set_postfix(loss=f"{value:.3f}")
        if probe is not None and len(losses) % probe.every == 0:
            paused = time.perf_counter()
            probe.fn(len(losses))
            start += time.perf_counter() - paused
    seconds = time.perf_counter() - start
    if probe is not None and losses and len(losses) % probe.every != 0:
        probe.fn(len(losses))
    return FitResult(len(losses), samples, seconds, losses)


@torch.no_grad()
def predict(forward: Forward, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Predicted class ids (argmax of the outputs) for all of `x`, in evaluation batches (on the outputs' device)."""
    return torch.cat([forward(x[i:i + batch_size]).argmax(dim=1) for i in range(0, len(x), batch_size)])


def accuracy(forward: Forward, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> float:
    """Fraction of `x` whose predicted class equals `y`."""
    if len(y) == 0:
        raise ValueError("accuracy of an empty test set is undefined")
    return (predict(forward, x, batch_size).to(y.device) == y).float().mean().item()
