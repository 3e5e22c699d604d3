"""Where a run's numbers are also sent while it runs: TensorBoard, MLflow, Weights & Biases (`run.loggers`).

Each backend is one module here and imports its package only when a run opens it, so a run without
loggers loads none of them. The runner talks to every backend through the `Logger` Protocol (`base`).
"""

from __future__ import annotations

from supermasks.loggers.base import Broadcast, Logger, flat_settings, numeric_metrics
from supermasks.loggers.registry import LOGGER_NAMES, check_loggers, logger_problem, open_loggers

__all__ = ["Broadcast", "LOGGER_NAMES", "Logger", "check_loggers", "flat_settings", "logger_problem",
           "numeric_metrics", "open_loggers"]
