"""SupSup's tasks in the task-given scenario trained at once, as Ray tasks (`run.parallel_tasks`).

With random transfer and the task id given, SupSup learns each task from nothing but the fixed
weights and the run's two random streams (score init, batch order), and evaluates each task with
its own mask alone. So the tasks can train at the same time, as the original code's `--gpu-sets`
does with its own process pool; here each task is one Ray task (`ray.remote`, public API only).

The driver replays the streams to where each task starts (`SupSup.task_starts`: the draws, not
the training) and hands each Ray task the config, the task's id and its start; the worker builds
the benchmark's tasks and the same SupSup from the config (the data must be readable there, as
for a sweep's runs), learns that task alone (`SupSup.learn_alone`) and returns its packed masks,
BN statistics and training record. The run's loop then goes on exactly
as in sequence, task after task: `begin_task`, the untrained accuracy b, and, in place of
training, the learned task installed (`SupSup.learned_apart`), then R's row, `tasks.csv`,
checkpoints. Masks, R and every metric are those of sequential training with the same seed, bit
for bit, as long as the workers use the driver's torch thread count (each Ray task asks for that
many CPUs; the default is one thread).

Where Ray runs: the Ray this process has started already (`ray.init` by the caller), else a local
Ray started for the run with this machine's CPUs and stopped afterwards. Inside a Ray task (a run
of `supermasks sweep` on Ray) the tasks train in sequence in that worker instead: the sweep keeps
every CPU busy with runs already, and nesting tasks under a run would only add Ray's overhead.
Tasks are submitted a few ahead of the one being installed (`AHEAD_PER_CPU` per CPU), so that
no more than that many learned tasks wait in Ray's store.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING

import torch

from supermasks.config import ConfigError, ExperimentConfig
from supermasks.data import Task
from supermasks.training import FitResult, Probe

if TYPE_CHECKING:
    from supermasks.methods import LearnsTasksApart, Method
    from supermasks.methods.base import LearnedTask, TaskStart

log = logging.getLogger(__name__)

RAY_MISSING = ("run.parallel_tasks=true trains tasks as Ray tasks and needs Ray, which is not installed: "
               "pip install 'supermasks[ray]' (or set run.parallel_tasks=false)")
# Learned tasks waiting in Ray's store, per CPU of the cluster, beyond the one the run installs next.
AHEAD_PER_CPU = 2
# The store holds the config and the learned tasks (packed masks: 1 bit per weight): a small one suffices.
OBJECT_STORE_BYTES = 200 * 2**20

# How the run's loop learns one task: (task, progress, probe) -> its training record.
Learner = Callable[[Task, bool, "Probe | None"], FitResult]


def ray_available() -> bool:
    """Whether Ray can be imported (without importing it)."""
    try:
        return importlib.util.find_spec("ray") is not None
    except ValueError:  # a module without a spec stands in for it
        return True


def import_ray() -> ModuleType:
    """The `ray` module; ConfigError with `RAY_MISSING` where it is not installed."""
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_MISSING) from None
    return ray


def check(config: ExperimentConfig) -> None:
    """Refuse `run.parallel_tasks` where tasks depend on each other, or where Ray is missing (before any work)."""
    if not config.run.parallel_tasks:
        return
    others = [name for name in config.method if name != "supsup"]
    if others:
        raise ConfigError(f"run.parallel_tasks trains SupSup's tasks apart, but method {', '.join(others)} learns each "
                          "task on top of the earlier ones: set method=supsup, or run.parallel_tasks=false")
    if config.scenario.name != "task":
        raise ConfigError(f"run.parallel_tasks is for the task-given scenario (scenario.name=task), where each task "
                          f"is trained and evaluated with its own mask alone; scenario {config.scenario.name} is not "
                          "supported: set run.parallel_tasks=false")
    transfer = config.settings("supsup").transfer
    if transfer != "random":
        raise ConfigError(f"run.parallel_tasks needs independent tasks, but supsup.transfer={transfer} starts each task "
                          "from earlier tasks' trained scores: set supsup.transfer=random, or run.parallel_tasks=false")
    if config.run.eval_every:
        raise ConfigError("run.eval_every records accuracy on the tasks seen so far during training, which tasks "
                          "trained apart do not see: set run.eval_every=0, or run.parallel_tasks=false")
    if not ray_available():
        raise ConfigError(RAY_MISSING)


def learn_apart(config: ExperimentConfig, benchmark: str, task_id: int, name: str, start: "TaskStart",
                threads: int) -> "LearnedTask":
    """A Ray task's work: the config's SupSup, built afresh, learns task `task_id` of `benchmark` alone from `start`.

    The worker builds the benchmark's tasks from the config itself (as the run did: the same
    source and seed give the same tasks), once per worker process and benchmark, so that only
    the config and a few numbers travel, never a task's images; `name` is checked against the
    task built. Torch uses `threads` threads, the run's count. A Ray task asks for CPUs only,
    so it trains on the CPU whatever `run.device` says (the results are the same up to float
    rounding, and the device is not part of the run).
    """
    from supermasks.config import updated
    from supermasks.methods.supsup import from_config

    torch.set_num_threads(threads)
    task = _tasks(config, benchmark)[task_id]
    if task.name != name:
        raise RuntimeError(f"the worker built task {task_id} of {benchmark} as {task.name!r}, the run as {name!r}: "
                           "the same data must be readable where Ray runs the task")
    return from_config(updated(config, {"run.device": "cpu"})).learn_alone(task, start)


_BUILT: dict[tuple[str, str], list[Task]] = {}  # the tasks this worker built last, by (config hash, benchmark)


def _tasks(config: ExperimentConfig, benchmark: str) -> list[Task]:
    """The tasks of `benchmark` under `config`, built as the run builds them; the last ones built are kept."""
    from supermasks.runner.build import build_tasks, load_data
    from supermasks.store.rundir import config_hash

    key = (config_hash(config), benchmark)
    if key not in _BUILT:
        _BUILT.clear()
        _BUILT[key] = build_tasks(config, benchmark, load_data(config))
    return _BUILT[key]


def sequential(method: "Method") -> Learner:
    """The ordinary learner: `method.learn`."""
    return lambda task, progress, probe: method.learn(task, progress=progress, probe=probe)


@contextmanager
def parallel_learner(config: ExperimentConfig, benchmark: str, method: "LearnsTasksApart",
                     tasks: list[Task]) -> Iterator[Learner]:
    """A learner for `tasks` (the run's next tasks of `benchmark`, in order) that trains them as Ray tasks; see the
    module docstring.

    Leaving the context cancels the Ray tasks not yet installed and stops a Ray started here.
    """
    if not tasks:  # every task learned already (a resumed run): nothing to start Ray for
        yield sequential(method)
        return
    ray = import_ray()
    if _inside_ray_task(ray):
        log.info("  run.parallel_tasks: inside a Ray task, so the tasks train in sequence here")
        yield sequential(method)
        return
    started = not ray.is_initialized()
    if started:
        cpus = _machine_cpus()
        log.info("  run.parallel_tasks: starting a local Ray with %d CPUs", cpus)
        ray.init(num_cpus=cpus, include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES,
                 logging_level=logging.WARNING)
    pending: dict[int, object] = {}
    try:
        threads = torch.get_num_threads()
        cpus = ray.cluster_resources().get("CPU", 0)
        if cpus < threads:
            raise ConfigError(f"run.parallel_tasks: each task trains with this process's {threads} torch thread(s), "
                              f"and the Ray cluster has {cpus:g} CPU(s): run with fewer threads")
        starts = method.task_starts(tasks)
        remote = ray.remote(learn_apart).options(num_cpus=threads, max_retries=0)
        config_ref = ray.put(config)
        ahead = max(1, int(cpus // threads)) * AHEAD_PER_CPU
        submitted = 0
        first = tasks[0].task_id

        def submit_until(stop: int) -> None:
            nonlocal submitted
            while submitted < min(stop, len(tasks)):
                task = tasks[submitted]
                pending[submitted] = remote.remote(config_ref, benchmark, task.task_id, task.name, starts[submitted],
                                                   threads)
                submitted += 1

        def learn(task: Task, progress: bool, probe: Probe | None) -> FitResult:
            if probe is not None:  # refused by `check`
                raise ValueError("tasks trained apart record no accuracy curves (run.eval_every)")
            index = task.task_id - first
            submit_until(index + 1 + ahead)
            learned = ray.get(pending.pop(index))
            method.learned_apart(task, learned, starts[index + 1])
            return learned.fit

        submit_until(ahead)
        log.info("  run.parallel_tasks: %d task(s) as Ray tasks of %d CPU(s) each, %g CPUs in all", len(tasks), threads,
                 cpus)
        yield learn
    finally:
        for ref in pending.values():  # stopped early: what was not installed is trained again on resume
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


def _inside_ray_task(ray: ModuleType) -> bool:
    """Whether this process is a Ray worker running a task (a driver has no task id)."""
    if not ray.is_initialized():
        return False
    quiet = logging.getLogger("ray.runtime_context")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # in a driver `get_task_id` warns that it is a worker's, and answers None
    try:
        return ray.get_runtime_context().get_task_id() is not None
    finally:
        quiet.setLevel(level)


def _machine_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


__all__ = ["Learner", "RAY_MISSING", "check", "import_ray", "learn_apart", "parallel_learner", "ray_available",
           "sequential"]
