"""The one shared training loop, batch sampling from in-memory tensors, and evaluation."""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

import torch
from torch import nn
from tqdm.auto import tqdm

from supermasks.conditional import complete, only_when
from supermasks.devices import to_device
from supermasks.errors import ConfigError, require_number
from supermasks.models.bfloat16 import Precision
from supermasks.optimizers import StepOptimizer, adam, rmsprop, sgd
from supermasks.schedule import Schedule, rate_factors, task_steps

if TYPE_CHECKING:
    from supermasks.data.augment import Augment

Forward = Callable[[torch.Tensor], torch.Tensor]
# Where `fit(amp=True)` autocasts to bfloat16: CUDA, the one device `devices.check_amp` allows it on.
AMP_DEVICE_TYPE = "cuda"
Optimizer = Literal["rmsprop", "adam", "sgd"]
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)


@dataclass(frozen=True)
class TrainingSettings:
    """The `training` section of an experiment config: how every method trains on a task.

    A task trains `steps_per_task` steps, or, with `epochs`, `epochs` passes over its training set
    (`epochs * floor(n_train / batch_size)` steps; one or the other, not both). `schedule` is the
    learning rate over each task: "constant", or "cosine" annealing from `lr` to 0 (per epoch with
    `epochs`, as the SupSup code sets it at each epoch's start; per step otherwise). `weight_decay`
    is L2 decay added to the gradient (0: none). `amp` runs forward and loss in bfloat16 autocast,
    on CUDA only. `precision` is where masked layers' products run: "float32" (the default, the
    numbers the docs report), or "bfloat16" with float32 accumulation, scores and optimiser state
    (`models.bfloat16`; fast on CPUs with AMX or AVX512-BF16 and on recent GPUs), where RMSprop
    without weight decay also takes the fused step (`models.fused`). The SupSup SplitCIFAR100 regime: adam, lr 1e-3, weight_decay 1e-4, cosine, 250 epochs.
    """

    optimizer: Optimizer = "rmsprop"
    lr: float = 1e-4
    batch_size: int = 128
    steps_per_task: int | None = field(default=None, metadata=only_when(
        "epochs", (None,), "tasks trained by steps (training.epochs unset); give epochs or steps_per_task, not both",
        default=1000))
    epochs: int | None = None
    schedule: Schedule = "constant"
    weight_decay: float = 0.0
    amp: bool = False
    precision: Precision = "float32"

    def __post_init__(self) -> None:
        complete(self, "training")
        require_number("lr", self.lr)
        require_number("weight_decay", self.weight_decay, inclusive=True)
        for key in ("batch_size", "steps_per_task", "epochs"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ValueError(f"{key} must be a positive number, got {value}")

def check_training(training: TrainingSettings, *, stream: bool, dense_methods: list[str]) -> None:
    """ConfigError for training settings the other sections cannot use: bfloat16 products with autocast, or for a
    method that trains a dense network (`dense_methods`); a schedule, weight decay, amp or epochs on the one
    unsegmented stream of the NNs scenario (`stream`)."""
    if training.precision != "float32" and training.amp:
        raise ConfigError(f"training.precision={training.precision} already runs the masked layers' products in "
                          f"{training.precision}, and training.amp=true would autocast the rest: choose one (set "
                          "training.amp=false, or training.precision=float32)")
    if training.precision != "float32" and dense_methods:
        raise ConfigError(f"training.precision={training.precision} computes masked layers' products in "
                          f"{training.precision}; method {', '.join(dense_methods)} trains a dense network in float32: "
                          "set training.precision=float32 (or training.amp=true on CUDA), or method=supsup")
    if stream and (training.epochs is not None or training.schedule != "constant" or training.weight_decay != 0
                   or training.amp):
        raise ConfigError("the nns scenario trains on one stream without task boundaries: training.epochs, "
                          "training.schedule=cosine, training.weight_decay and training.amp are not supported there; "
                          "give training.steps_per_task (the stream's length per task) and leave the others unset")



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
                    generator: torch.Generator, augment: Augment | None = None,
                    device: torch.device | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """`steps` shuffled mini-batches, reshuffling at each pass over the data (epoch).

    Indexing whole tensors with a permutation keeps the pipeline free of per-sample Python work.
    The last incomplete batch of an epoch is dropped so every step sees `batch_size` samples.
    `augment` (a task's `Task.augment`) makes the images of batch `step` (0, 1, ...) from x and
    the batch's positions; it draws nothing from `generator`, so the batch order is the same
    with or without it. The order comes from the CPU `generator` whatever the device; each
    batch is gathered on the CPU and moved to `device` (None: left where the data is).
    """
    size = min(batch_size, len(x))
    step = 0
    for order, count in _epochs(len(x), batch_size, steps, generator):
        for b in range(count):
            idx = order[b * size:(b + 1) * size]
            images = x[idx] if augment is None else augment(x, idx, step)
            yield to_device(images, device), to_device(y[idx], device)
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


def task_training(steps_per_task: int | None, epochs: int | None, schedule: str, n: int,
                  batch_size: int) -> tuple[int, Callable[[int], float] | None]:
    """(steps, rates for `fit`) of a task of `n` training samples: `task_steps` and `rate_factors` together."""
    steps = task_steps(n, batch_size, steps_per_task, epochs)
    return steps, rate_factors(schedule, steps, None if epochs is None else steps // epochs)


# The constructor arguments of every method that trains with the run's optimiser, beyond optimizer, lr and
# batch size: how long a task trains, its rate schedule, weight decay and mixed precision.
SCHEDULE_ARGUMENTS = ("steps_per_task", "epochs", "schedule", "weight_decay", "amp")


def schedule_kwargs(settings: TrainingSettings) -> dict[str, Any]:
    """`SCHEDULE_ARGUMENTS` read from the `training` section."""
    return {name: getattr(settings, name) for name in SCHEDULE_ARGUMENTS}
