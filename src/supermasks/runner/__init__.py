"""The experiment runner: a config in, run directories out.

`build` turns a config into tasks and methods, `evaluate` fills the accuracy matrix the way the
scenario asks (task given, task inferred per batch), `stream` runs the NNs scenario on one
unsegmented stream, `tables` writes the run's tables (`overlap` those of the masks), `checks` refuses bad configs before any
work, `loop` is the task loop of one method, `parallel` plans a run's cores and trains SupSup's tasks apart (in `workers` processes or as Ray tasks), `signals` turns SIGTERM into Ctrl-C while a run works,
and `experiment` runs a whole config into its run directory (lock, resume, status).
"""

from supermasks.runner.experiment import RunInterrupted, RunResult, run
from supermasks.runner.loop import TrainingDiverged
from supermasks.runner.checks import validate
from supermasks.runner.tables import MethodResult

__all__ = ["MethodResult", "RunInterrupted", "RunResult", "TrainingDiverged", "run", "validate"]
