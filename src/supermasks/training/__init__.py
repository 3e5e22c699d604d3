"""Training: the `training` section's settings, the one shared loop, batches, optimisers and rate schedules.

- `settings`: `TrainingSettings` and its checks against the other sections (`check_training`);
- `loop`: `fit` (cross-entropy over batches, one optimiser step each), `predict` and `accuracy`;
- `batches`: shuffled mini-batches from in-memory tensors, replayable without drawing them (`skip_batches`);
- `optimizers`: RMSprop, Adam and SGD as torch.optim computes them, without its import of the compiler;
- `schedule`: steps per task and the learning-rate factor of each step (constant, cosine).

Nothing here knows a model or a method: methods build on it.
"""

from __future__ import annotations

from supermasks.training.batches import iterate_batches, skip_batches
from supermasks.training.loop import AMP_DEVICE_TYPE, FitResult, Forward, Probe, accuracy, fit, predict
from supermasks.training.optimizers import StepOptimizer, make_optimizer
from supermasks.training.schedule import Schedule, rate_factors, task_steps, task_training
from supermasks.training.settings import OPTIMIZERS, Optimizer, Precision, TrainingSettings, check_training

__all__ = ["AMP_DEVICE_TYPE", "OPTIMIZERS", "FitResult", "Forward", "Optimizer", "Precision",
           "Probe", "Schedule", "StepOptimizer", "TrainingSettings", "accuracy", "check_training", "fit",
           "iterate_batches", "make_optimizer", "predict", "rate_factors", "skip_batches",
           "task_steps", "task_training"]
