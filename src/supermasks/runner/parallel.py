"""SupSup's tasks in the task-given scenario trained at once (`run.parallel_tasks`), and how a run uses its cores.

With random transfer and the task id given, SupSup learns each task from nothing but the fixed
weights and the run's two random streams (score init, batch order), and evaluates each task with
its own mask alone. So the tasks can train at the same time, as the original code's `--gpu-sets`
does with its own process pool.

The driver replays the streams to where each task starts (`SupSup.task_starts`: the draws, not
the training) and hands each worker the config, the task's id and its start; the worker builds
the benchmark's tasks and the same SupSup from the config (the data must be readable there), learns
that task alone (`SupSup.learn_alone`) and returns its packed masks, BN statistics and training
record. The run's loop then goes on exactly as in sequence, task after task: `begin_task`, the
untrained accuracy b, and, in place of training, the learned task installed
(`SupSup.learned_apart`), then R's row, `tasks.csv`, checkpoints. Masks, R and every metric are
those of sequential training with the same seed and thread count, bit for bit.

Where the tasks train (`plan_cores`, once per run):
- a Ray this process has started already (`ray.init` by the caller, a sweep on a cluster): each
  task is a Ray task (`ray.remote`, public API only) with this process's torch thread count;
  inside a Ray task (a run of `supermasks sweep` on Ray) the tasks train in sequence in that
  worker instead: the sweep keeps every CPU busy with runs already;
- else worker processes on this machine (`runner.workers`), one torch thread each, started once
  per run: as many as the run's threads (`--threads N`), or this machine's CPUs where the run has
  one thread and `run.parallel_tasks` is true. The run's own process evaluates with one thread
  meanwhile.
`run.parallel_tasks: auto` (the default) trains in parallel where the tasks are independent and
the run has more than one thread; `true` asks for it (refused where the tasks depend on each
other); `false` trains in sequence. Where tasks depend on each other, an FC network's steps are
too small to share between OpenMP threads that sleep between operations (OMP_WAIT_POLICY=PASSIVE,
the command's default): `benchmarks/threads.py` measures two such threads slower than one, so such
a run trains with one thread, and says so.
Tasks are handed out a few ahead of the one being installed (`AHEAD_PER_CPU` per worker or CPU),
so that no more than that many learned tasks wait.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Literal

import torch

from supermasks.config import ConfigError, ExperimentConfig
from supermasks.data import Task
from supermasks.data.user import is_given_source
from supermasks.models.networks import ARCHITECTURES, weight_count
from supermasks.models.user import is_given_arch
from supermasks.runner.workers import Workers, start_server
from supermasks.training import FitResult, Probe

if TYPE_CHECKING:
    from supermasks.methods import LearnsTasksApart, Method
    from supermasks.methods.base import LearnedTask, TaskStart

log = logging.getLogger(__name__)

# Learned tasks waiting, per worker (or Ray CPU), beyond the one the run installs next.
AHEAD_PER_CPU = 2
# MLPs up to this many maskable weights train with one thread where their tasks depend on each other
# (FC 784-300-300-10 has 328,200; benchmarks/threads.py measures its steps at batch 128).
SMALL_NETWORK_WEIGHTS = 1_000_000

# How the run's loop learns one task: (task, progress, probe) -> its training record.
Learner = Callable[[Task, bool, "Probe | None"], FitResult]
Backend = Literal["sequence", "processes", "ray"]


def dependence(config: ExperimentConfig) -> str | None:
    """Why the config's tasks cannot train apart (one line with the fix), or None where they are independent."""
    from supermasks.methods import list_methods, method_spec

    checks = {name: method_spec(name).tasks_apart for name in config.method}
    others = [name for name, apart in checks.items() if apart is None]
    if others:
        apart = [name for name in list_methods() if method_spec(name).tasks_apart is not None]
        return (f"method {', '.join(others)} learns each task on top of the earlier ones: set method="
                f"{' or '.join(apart)}, or run.parallel_tasks=false")
    if config.scenario.name != "task":
        return (f"run.parallel_tasks is for the task-given scenario (scenario.name=task), where each task is trained "
                f"and evaluated with its own mask alone; scenario {config.scenario.name} is not supported: set "
                "run.parallel_tasks=false")
    for apart in checks.values():
        problem = None if apart is None else apart(config)
        if problem is not None:
            return problem
    given = [what for what, given in (("network", is_given_arch(config.model.arch)),
                                      ("tasks", is_given_source(config.data.source))) if given]
    if given:
        return (f"the {' and '.join(given)} given to runner.run live in this process, not in worker processes: name "
                "them by import paths package.module:function, or set run.parallel_tasks=false")
    if config.run.eval_every:
        return ("run.eval_every records accuracy on the tasks seen so far during training, which tasks trained apart "
                "do not see: set run.eval_every=0, or run.parallel_tasks=false")
    return None


def check(config: ExperimentConfig) -> None:
    """Refuse `run.parallel_tasks: true` where tasks depend on each other (before any work); `auto` never refuses."""
    if config.run.parallel_tasks is not True:
        return
    problem = dependence(config)
    if problem is not None:
        raise ConfigError(problem if problem.startswith("run.parallel_tasks") else f"run.parallel_tasks trains "
                          f"SupSup's tasks apart, but {problem}")


@dataclass(frozen=True)
class CorePlan:
    """How a run uses the cores: where its tasks train, how many worker processes, this process's torch threads
    (None: as they are), and the line the run logs about it (empty: nothing to say)."""

    backend: Backend
    workers: int = 0
    threads: int | None = None
    note: str = ""


def plan_cores(config: ExperimentConfig, *, threads: int, cpus: int, ray: Literal["none", "driver", "task"],
               wait_policy: str | None) -> CorePlan:
    """The plan for a run of `config` in a process of `threads` torch threads on a machine of `cpus` CPUs, with Ray
    `none` (not started in this process), `driver` (started by the caller) or `task` (this process runs a Ray
    task), under OpenMP's `wait_policy` (OMP_WAIT_POLICY, None where unset). See the module docstring."""
    setting = config.run.parallel_tasks
    problem = dependence(config)
    wanted = setting is True or (setting == "auto" and problem is None and threads > 1)
    if wanted and ray == "task":
        return CorePlan("sequence", note="run.parallel_tasks: inside a Ray task, so the tasks train in sequence here")
    if wanted and ray == "driver":
        return CorePlan("ray")
    if wanted:
        workers = threads if threads > 1 else cpus
        why = f"the run's {threads} threads" if threads > 1 else f"this machine's {cpus} CPUs"
        return CorePlan("processes", workers, 1, f"run.parallel_tasks={str(setting).lower()}: the tasks train in up to "
                        f"{workers} worker processes of one thread each ({why}); this process evaluates with one thread")
    if threads > 1 and _small_network(config) and (wait_policy or "").strip().upper() == "PASSIVE":
        reason = "they depend on each other" if problem is not None else "run.parallel_tasks=false"
        return CorePlan("sequence", threads=1, note=(
            f"{threads} threads asked for, training uses one: the tasks train in sequence ({reason}), and the steps of "
            f"{config.model.arch} ({weight_count(config.model.arch, config.model.output_size):,} weights) are too "
            "small to share between OpenMP threads that sleep between operations (OMP_WAIT_POLICY=PASSIVE): two take "
            "longer per step than one (benchmarks/threads.py)"))
    return CorePlan("sequence")


def _small_network(config: ExperimentConfig) -> bool:
    arch = config.model.arch
    return (arch in ARCHITECTURES and ARCHITECTURES[arch].hidden is not None
            and weight_count(arch, config.model.output_size) <= SMALL_NETWORK_WEIGHTS)


@dataclass
class Cores:
    """A run's plan and, for the `processes` backend, its worker processes (started on first use)."""

    plan: CorePlan
    workers: Workers | None = field(default=None)

    def meta(self) -> dict[str, int]:
        """What meta.json records of the plan: the torch threads that train, and the worker processes (if any)."""
        recorded = {"torch_threads": self.plan.threads} if self.plan.threads is not None else {}
        return recorded | ({"task_workers": self.plan.workers} if self.plan.backend == "processes" else {})


def _plan(config: ExperimentConfig) -> CorePlan:
    return plan_cores(config, threads=torch.get_num_threads(), cpus=_machine_cpus(), ray=_ray_state(),
                      wait_policy=os.environ.get("OMP_WAIT_POLICY"))


def prepare_cores(config: ExperimentConfig) -> None:
    """Before a run loads its data: where its tasks will train in worker processes, start their fork server, which
    imports torch meanwhile (`workers.start_server`)."""
    if _plan(config).backend == "processes":
        start_server()


@contextmanager
def run_cores(config: ExperimentConfig) -> Iterator[Cores]:
    """The cores of one run: plan them (`plan_cores`, logged), set this process's torch threads for the run and
    start worker processes as the run needs them; give the threads back and stop the workers when the run ends."""
    plan = _plan(config)
    if plan.note:
        log.info("  %s", plan.note)
    before = torch.get_num_threads()
    if plan.threads is not None:
        torch.set_num_threads(plan.threads)
    cores = Cores(plan, Workers(plan.workers) if plan.backend == "processes" else None)
    try:
        yield cores
    finally:
        if cores.workers is not None:
            cores.workers.close()
        torch.set_num_threads(before)


def learn_apart(config: ExperimentConfig, method_name: str, benchmark: str, task_id: int, name: str,
                start: "TaskStart", threads: int) -> "LearnedTask":
    """A worker's job: the config's method `method_name`, built afresh, learns task `task_id` of `benchmark` alone
    from `start` (`LearnsTasksApart.learn_alone`).

    The worker builds the benchmark's tasks from the config itself (as the run did: the same
    source and seed give the same tasks), once per worker process and benchmark, so that only
    the config and a few numbers travel, never a task's images; `name` is checked against the
    task built. Torch uses `threads` threads. A worker trains on the CPU whatever `run.device`
    says (the results are the same up to float rounding, and the device is not part of the run).
    """
    from supermasks.config import updated
    from supermasks.methods import LearnsTasksApart, method_spec

    torch.set_num_threads(threads)
    task = _tasks(config, benchmark)[task_id]
    if task.name != name:
        raise RuntimeError(f"the worker built task {task_id} of {benchmark} as {task.name!r}, the run as {name!r}: "
                           "the same data must be readable where the worker runs")
    method = method_spec(method_name).build(updated(config, {"run.device": "cpu"}))
    assert isinstance(method, LearnsTasksApart)
    return method.learn_alone(task, start)


_BUILT: dict[tuple[str, str], list[Task]] = {}  # the tasks this worker built last, by (config hash, benchmark)


def _tasks(config: ExperimentConfig, benchmark: str) -> list[Task]:
    """The tasks of `benchmark` under `config`, built as the run builds them; the last ones built are kept."""
    from supermasks.runner.build import build_tasks, load_data
    from supermasks.config.records import config_hash

    key = (config_hash(config), benchmark)
    if key not in _BUILT:
        _BUILT.clear()
        _BUILT[key] = build_tasks(config, benchmark, load_data(config))
    return _BUILT[key]


def sequential(method: "Method") -> Learner:
    """The ordinary learner: `method.learn`."""
    return lambda task, progress, probe: method.learn(task, progress=progress, probe=probe)


@contextmanager
def parallel_learner(cores: Cores, config: ExperimentConfig, benchmark: str, method: "LearnsTasksApart",
                     tasks: list[Task]) -> Iterator[Learner]:
    """A learner for `tasks` (the run's next tasks of `benchmark`, in order) that trains them where `cores` says: in
    its worker processes, or as Ray tasks; see the module docstring. Leaving the context drops the tasks not yet
    installed (a resumed run trains them again)."""
    if not tasks or cores.plan.backend == "sequence":  # every task learned already (a resumed run), or no parallelism
        yield sequential(method)
    elif cores.plan.backend == "ray":
        with _ray_learner(config, benchmark, method, tasks) as learn:
            yield learn
    else:
        assert cores.workers is not None
        with _process_learner(cores.workers, config, benchmark, method, tasks) as learn:
            yield learn


@contextmanager
def _process_learner(workers: Workers, config: ExperimentConfig, benchmark: str, method: "LearnsTasksApart",
                     tasks: list[Task]) -> Iterator[Learner]:
    starts = method.task_starts(tasks)
    first = tasks[0].task_id
    ahead = workers.count * AHEAD_PER_CPU
    submitted = 0

    def submit_until(stop: int) -> None:
        nonlocal submitted
        while submitted < min(stop, len(tasks)):
            task = tasks[submitted]
            workers.submit((benchmark, task.task_id), f"task {task.task_id} ({task.name}) of {benchmark}",
                           learn_apart, config, method.name, benchmark, task.task_id, task.name, starts[submitted], 1)
            submitted += 1

    def learn(task: Task, progress: bool, probe: Probe | None) -> FitResult:
        if probe is not None:  # refused by `check`, never planned by `auto`
            raise ValueError("tasks trained apart record no accuracy curves (run.eval_every)")
        index = task.task_id - first
        submit_until(index + 1 + ahead)
        learned = workers.result((benchmark, task.task_id))
        method.learned_apart(task, learned, starts[index + 1])
        return learned.fit

    try:
        submit_until(ahead)
        log.info("  run.parallel_tasks: %d task(s) in worker processes (%d started, up to %d)", len(tasks),
                 workers.started, workers.count)
        yield learn
    finally:
        workers.forget()  # stopped early: what was not installed is trained again on resume


@contextmanager
def _ray_learner(config: ExperimentConfig, benchmark: str, method: "LearnsTasksApart",
                 tasks: list[Task]) -> Iterator[Learner]:
    """The tasks as Ray tasks of the Ray this process started (`ray.init` by the caller)."""
    import ray

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
                pending[submitted] = remote.remote(config_ref, method.name, benchmark, task.task_id, task.name,
                                                   starts[submitted], threads)
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


def _ray_state() -> Literal["none", "driver", "task"]:
    """Whether this process has started Ray (`driver`) or runs a Ray task (`task`); `none` where Ray was never
    imported (so not started) or not initialised."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return "none"
    return "task" if _inside_ray_task(ray) else "driver"


def _inside_ray_task(ray: ModuleType) -> bool:
    """Whether this process is a Ray worker running a task (a driver has no task id)."""
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


__all__ = ["Backend", "CorePlan", "Cores", "Learner", "check", "dependence", "learn_apart", "parallel_learner",
           "plan_cores", "prepare_cores", "run_cores", "sequential"]
