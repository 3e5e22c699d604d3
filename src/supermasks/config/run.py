"""The `run` section: what the runner evaluates and writes, and where (`RunSettings`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from supermasks.conditional import complete, only_when
from supermasks.compute.devices import check_device_name
from supermasks.models.settings import MASKED_METHODS
from supermasks.config.pathnames import RUN_DIR_ROOM, path_problem
from supermasks.loggers.registry import LOGGER_NAMES
from supermasks.scenarios import SCENARIOS, scenario_of_stream


# The scenarios with task boundaries, evaluated by the runner task by task; the NNs stream evaluates itself
# (runner.stream) in batches of scenario.inference_batch_size, after every task's part.
SEGMENTED = frozenset(name for name in SCENARIOS if not scenario_of_stream(name))
_SEGMENTED_REASON = "the scenarios with task boundaries (all but nns, whose stream the runner evaluates itself)"
_SEGMENTED_FIX = f"set scenario.name to one of {', '.join(name for name in SCENARIOS if name in SEGMENTED)}"


@dataclass(frozen=True)
class RunSettings:
    """The `run` section: what the runner evaluates and writes, and where."""

    eval_batch_size: int | None = field(default=None, metadata=only_when(
        "scenario.name", SEGMENTED, _SEGMENTED_REASON, default=1024,
        fix="set scenario.inference_batch_size, which nns reads"))
    # Steps between accuracy-curve points on every task seen so far (0: off).
    eval_every: int | None = field(default=None, metadata=only_when(
        "scenario.name", SEGMENTED, _SEGMENTED_REASON, default=0, inert=(0,), fix=_SEGMENTED_FIX))
    # "each": fill R after every task; "last": only after the last (long runs).
    evaluate: Literal["each", "last"] | None = field(default=None, metadata=only_when(
        "scenario.name", SEGMENTED, _SEGMENTED_REASON, default="each", fix=_SEGMENTED_FIX))
    # Test images per task that evaluation uses: a fixed random sample of each task's test set, drawn
    # once per task from the `eval_sample` stream (supermasks.seeds); None: every test image.
    eval_sample: int | None = None
    checkpoint_state: bool = True  # full training state after every task, so an interrupted run resumes
    # The mask-overlap analysis (Experiment 1), of the methods that learn masks; false is accepted with any method.
    overlap: bool | None = field(default=None, metadata=only_when(
        "method", MASKED_METHODS, "methods that learn a mask per task (supsup)", default=True,
        fix="add supsup to method", inert=(False,)))
    figures: bool = True
    figure_format: Literal["png", "svg", "png+svg"] | None = field(default=None, metadata=only_when(  # written once,
        "figures", True, "runs that write figures (run.figures true)", default="png",  # at the end of a run
        fix="set run.figures=true"))
    report: bool = True  # report.html (supermasks.report) in the run (or study) directory after the CLI's run
    out_dir: str = "runs"
    # SupSup's tasks (scenario task, transfer random) trained at once, in worker processes of one thread
    # (or as Ray tasks on a Ray the caller started), with the results of training them in sequence
    # (runner.parallel). auto: where the tasks allow it and the run has more than one thread (--threads N).
    parallel_tasks: bool | Literal["auto"] = "auto"
    # Where models, masks and optimiser state live (supermasks.compute.devices): auto (CUDA when available, else
    # the CPU), cpu, cuda or cuda:N. Data stays on the CPU and moves per batch. Not part of the run's hash.
    device: str = "auto"
    # Where the run's numbers are also sent while it runs (supermasks.loggers): tensorboard, mlflow, wandb; none by
    # default. Not part of the run's hash.
    loggers: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        complete(self, "run")
        check_device_name(self.device)
        for name in self.loggers:
            if name not in LOGGER_NAMES:
                raise ValueError(f"loggers: unknown logger {name!r}; choose from {', '.join(LOGGER_NAMES)}")
        if len(set(self.loggers)) != len(self.loggers):
            raise ValueError(f"loggers: {self.loggers} names one twice")
        if self.eval_batch_size is not None and self.eval_batch_size < 1:
            raise ValueError(f"eval_batch_size must be a positive number, got {self.eval_batch_size}")
        if self.eval_every is not None and self.eval_every < 0:
            raise ValueError(f"eval_every must be 0 (off) or a number of steps, got {self.eval_every}")
        if self.eval_sample is not None and self.eval_sample < 1:
            raise ValueError(f"eval_sample must be a positive number of test images per task, or null for every "
                             f"test image, got {self.eval_sample}")
        problem = path_problem(self.out_dir, room=RUN_DIR_ROOM)  # refused here, before a run directory exists
        if problem:
            raise ValueError(f"out_dir {problem}: choose another run.out_dir")

    @property
    def figure_formats(self) -> tuple[str, ...]:
        """The file formats of `figure_format`, e.g. ("png", "svg"); none without figures."""
        return tuple(self.figure_format.split("+")) if self.figure_format else ()
