"""How long a task trains and the learning rate at each of its steps: steps or epochs, constant or cosine.

Cosine annealing (Loshchilov & Hutter, "SGDR", ICLR 2017, without restarts), as the SupSup code
uses it on SplitCIFAR100: over a task of E epochs the rate of epoch e (from 0) is

    lr_e = lr * (1 + cos(pi * e / E)) / 2,   (computed as ((1 + cos(pi * e / E)) / 2) * lr)

set at the start of each epoch, so it starts at `lr` and nears 0 in the last epoch. A task given
in steps anneals per step the same way: `lr_t = lr * (1 + cos(pi * t / T)) / 2` for step t of T.
The rate is a function of the step count within the task alone, so a task resumed at any step
gets the rate the uninterrupted task had there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, get_args

Schedule = Literal["constant", "cosine"]
SCHEDULES: tuple[str, ...] = get_args(Schedule)


def task_steps(n: int, batch_size: int, steps_per_task: int | None, epochs: int | None) -> int:
    """Steps a task of `n` training samples trains: `steps_per_task`, or `epochs * max(1, floor(n / batch_size))`.

    An epoch is one pass over the task's data in full batches (`training.iterate_batches` drops the
    last incomplete one); exactly one of `steps_per_task` and `epochs` is given.
    """
    if (steps_per_task is None) == (epochs is None):
        raise ValueError(f"give steps_per_task or epochs, not both or neither (got {steps_per_task}, {epochs})")
    if epochs is None:
        return int(steps_per_task)  # type: ignore[arg-type]
    if n < 1:
        raise ValueError("cannot count the epochs of an empty task")
    return epochs * max(1, n // batch_size)


def cosine_factor(position: int, length: int) -> float:
    """`(1 + cos(pi * position / length)) / 2`: the factor of cosine annealing, 1 at position 0, towards 0."""
    return 0.5 * (1.0 + math.cos(math.pi * position / length))


def rate_factors(schedule: str, steps: int, steps_per_epoch: int | None = None) -> Callable[[int], float] | None:
    """The factor on each parameter group's own rate at each step (from 0) of a task of `steps` steps;
    None for a constant rate (the optimiser's rates untouched).

    With `steps_per_epoch` a cosine schedule changes once per epoch (`steps // steps_per_epoch`
    epochs), otherwise at every step. A factor rather than a rate, so groups with rates of their
    own (BatchE's shared weights) anneal alike.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    if schedule == "constant":
        return None
    if steps_per_epoch is None:
        return lambda step: cosine_factor(step, steps)
    epochs = max(1, steps // steps_per_epoch)
    return lambda step: cosine_factor(step // steps_per_epoch, epochs)



def task_training(steps_per_task: int | None, epochs: int | None, schedule: str, n: int,
                  batch_size: int) -> tuple[int, Callable[[int], float] | None]:
    """(steps, rates for `fit`) of a task of `n` training samples: `task_steps` and `rate_factors` together."""
    steps = task_steps(n, batch_size, steps_per_task, epochs)
    return steps, rate_factors(schedule, steps, None if epochs is None else steps // epochs)

__all__ = ["SCHEDULES", "Schedule", "cosine_factor", "rate_factors", "task_steps", "task_training"]
