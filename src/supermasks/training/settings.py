"""The `training` section (`TrainingSettings`): how every method trains on a task, and its checks against the
other sections (`check_training`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from supermasks.conditional import complete, only_when
from supermasks.errors import ConfigError, require_number
from supermasks.scenarios import scenario_of_stream
from supermasks.training.schedule import Schedule

Optimizer = Literal["rmsprop", "adam", "sgd"]
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
# Where masked layers' products run (`models.bfloat16`): float32, or bfloat16 with float32 accumulation.
Precision = Literal["float32", "bfloat16"]


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


def check_training(training: TrainingSettings, *, scenario: str) -> None:
    """ConfigError for training settings the scenario cannot use: bfloat16 products with autocast; a schedule, weight
    decay, amp or epochs on the one unsegmented stream of the NNs scenario. (Which methods can train in bfloat16 is
    theirs to say: `methods.check_methods`.)"""
    if training.precision != "float32" and training.amp:
        raise ConfigError(f"training.precision={training.precision} already runs the masked layers' products in "
                          f"{training.precision}, and training.amp=true would autocast the rest: choose one (set "
                          "training.amp=false, or training.precision=float32)")
    if scenario_of_stream(scenario) and (training.epochs is not None or training.schedule != "constant"
                                         or training.weight_decay != 0 or training.amp):
        raise ConfigError("the nns scenario trains on one stream without task boundaries: training.epochs, "
                          "training.schedule=cosine, training.weight_decay and training.amp are not supported there; "
                          "give training.steps_per_task (the stream's length per task) and leave the others unset")
