"""The experiment runner: a config in, run directories out.

`build` turns a config into tasks and methods, `evaluate` fills the accuracy matrix the way the
scenario asks (task given, task inferred per batch), `stream` runs the NNs scenario on one
unsegmented stream, `tables` writes the run's tables, `checks` refuses bad configs before any
work, and `loop` is the task loop that ties them together.
"""

from supermasks.runner.loop import MethodResult, RunInterrupted, RunResult, TrainingDiverged, run
from supermasks.runner.checks import validate

__all__ = ["MethodResult", "RunInterrupted", "RunResult", "TrainingDiverged", "run", "validate"]
