"""The one shared training loop, batch sampling from in-memory tensors, and evaluation."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

import torch
from torch import nn
from tqdm.auto import tqdm

from supermasks.errors import require_number
from supermasks.optimizers import StepOptimizer, adam, rmsprop, sgd

if TYPE_CHECKING:
    from supermasks.data.augment import Augment

Forward = Callable[[torch.Tensor], torch.Tensor]
Optimizer = Literal["rmsprop", "adam", "sgd"]
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)


@dataclass(frozen=True)
class TrainingSettings:
    """The `training` section of an experiment config: how every method trains on a task."""

    optimizer: Optimizer = "rmsprop"
    lr: float = 1e-4
    batch_size: int = 128
    steps_per_task: int = 1000

    def __post_init__(self) -> None:
        require_number("lr", self.lr)
        for key in ("batch_size", "steps_per_task"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be a positive number, got {getattr(self, key)}")


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


def iterate_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, steps: int,
                    generator: torch.Generator,
                    augment: Augment | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """`steps` shuffled mini-batches, reshuffling at each pass over the data (epoch).

    Indexing whole tensors with a permutation keeps the pipeline free of per-sample Python work.
    The last incomplete batch of an epoch is dropped so every step sees `batch_size` samples.
    `augment` (a task's `Task.augment`) makes the images of batch `step` (0, 1, ...) from x and
    the batch's positions; it draws nothing from `generator`, so the batch order is the same
    with or without it.
    """
    size = min(batch_size, len(x))
    step = 0
    for order, count in _epochs(len(x), batch_size, steps, generator):
        for b in range(count):
            idx = order[b * size:(b + 1) * size]
            yield (x[idx] if augment is None else augment(x, idx, step)), y[idx]
            step += 1


def skip_batches(n: int, batch_size: int, steps: int, generator: torch.Generator) -> None:
    """Advance `generator` exactly as `iterate_batches` over `n` samples would, drawing no batch.

    What a task's training takes from the batch stream, replayed: one permutation per epoch.
    """
    for _ in _epochs(n, batch_size, steps, generator):
        pass


def _epochs(n: int, batch_size: int, steps: int,
            generator: torch.Generator) -> Iterator[tuple[torch.Tensor, int]]:
    """(a fresh permutation of `n` samples, the number of batches taken from it) per epoch, until `steps` batches."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if n == 0:
        raise ValueError("cannot draw batches from an empty task")
    per_epoch = max(1, n // batch_size)
    done = 0
    while done < steps:
        count = min(per_epoch, steps - done)
        yield torch.randperm(n, generator=generator), count
        done += count


def make_optimizer(name: str, params: Iterable[torch.Tensor], lr: float, weight_decay: float = 0.0,
                   momentum: float = 0.0) -> StepOptimizer:
    """An optimiser by name; SupSup on MNIST uses RMSprop lr 1e-4 without momentum or decay.

    The optimisers of `supermasks.optimizers`: torch.optim's arithmetic without its import of the
    compiler (`torch._dynamo`, about a second per process).
    """
    params = list(params)
    if name == "rmsprop":
        return rmsprop(params, lr=lr, weight_decay=weight_decay, momentum=momentum)
    if name == "adam":
        return adam(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return sgd(params, lr=lr, weight_decay=weight_decay, momentum=momentum)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def fit(forward: Callable[[Any], torch.Tensor], optimizer: StepOptimizer,
        batches: Iterable[tuple[torch.Tensor, torch.Tensor]], *, total: int | None = None,
        penalty: Callable[[], torch.Tensor] | None = None, description: str = "train",
        progress: bool = True, probe: Probe | None = None) -> FitResult:
    """Minimise cross-entropy (plus an optional `penalty`) over `batches`; the loop knows no model.

    `batches` yields (inputs, labels); `forward(inputs)` returns logits, so inputs may be any
    object the caller's forward understands (a tensor, or a tuple such as images and head ids).

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
    for xb, yb in bar:
        optimizer.zero_grad(set_to_none=True)
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
    """Predicted class ids (argmax of the outputs) for all of `x`, in evaluation batches."""
    return torch.cat([forward(x[i:i + batch_size]).argmax(dim=1) for i in range(0, len(x), batch_size)])


def accuracy(forward: Forward, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> float:
    """Fraction of `x` whose predicted class equals `y`."""
    if len(y) == 0:
        raise ValueError("accuracy of an empty test set is undefined")
    return (predict(forward, x, batch_size) == y).float().mean().item()
