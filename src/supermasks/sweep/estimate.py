"""What a sweep is about to do, said before it starts: its runs, the tasks they train, and a time where one is known.

The work is counted from the configs alone: a run trains `data.num_tasks` tasks for each of its
methods on each of its benchmarks. A time is given only where it can be measured: from the runs of
this same sweep that have finished already (their meta.json start and end), as seconds per task
trained; the runs still to do may train longer or shorter tasks (a swept `training.steps_per_task`,
a costlier method), and a resumed run's start is that of its last part, so it is a rough figure, and
the message says what it rests on. Before any run has finished, the progress bar's ETA is the estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from supermasks.config import ExperimentConfig
from supermasks.store.rundir import read_meta
from supermasks.sweep.grid import SweepRun


@dataclass(frozen=True)
class Estimate:
    """`trainings` task trainings left in `to_run` runs; `seconds` of run time one after another, or None."""

    runs: int
    to_run: int
    trainings: int
    seconds: float | None
    measured_runs: int  # how many finished runs the time rests on


def trainings(config: ExperimentConfig) -> int:
    """Task trainings in one run: its tasks, for each method, on each benchmark."""
    return config.data.num_tasks * len(config.method) * len(config.data.benchmark)


def run_seconds(run: SweepRun) -> float | None:
    """The wall time of a finished run from its meta.json, or None where it is not recorded."""
    meta = read_meta(run.directory) or {}
    try:
        seconds = (datetime.fromisoformat(meta["finished"]) - datetime.fromisoformat(meta["started"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None


def estimate(todo: Sequence[SweepRun], done: Sequence[SweepRun]) -> Estimate:
    """The work left in `todo`, timed from the finished runs `done` where their times are recorded."""
    left = sum(trainings(run.config) for run in todo)
    measured = [(seconds, trainings(run.config)) for run in done if (seconds := run_seconds(run)) is not None]
    seconds = None
    if measured and todo:
        per_training = sum(s for s, _ in measured) / sum(n for _, n in measured)
        seconds = per_training * left
    return Estimate(len(todo) + len(done), len(todo), left, seconds, len(measured))


def estimate_text(est: Estimate) -> str:
    """One line: the work left, and its time with what that rests on (or why there is none yet)."""
    work = f"{est.to_run} to run, {est.trainings:,} task trainings (tasks x methods x benchmarks)"
    if not est.to_run:
        return "nothing to run"
    if est.seconds is None:
        return f"{work}; no time estimate until a run of this sweep finishes (then the progress bar's ETA)"
    return (f"{work}; about {_duration(est.seconds)} of run time one after another, from the "
            f"{est.measured_runs} finished run{'s' * (est.measured_runs != 1)} of this sweep (parallel runs share it)")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


__all__ = ["Estimate", "estimate", "estimate_text", "run_seconds", "trainings"]
