"""Where a sweep's runs execute: one after another in this process, or as Ray tasks.

An executor takes the jobs and yields each one's `Outcome` as it finishes, in whatever order
they finish. The Ray executor uses Ray's public API only: each run is one `ray.remote` task that
asks for `cpus_per_run` CPUs (and `gpus_per_run` GPUs), and `ray.wait` hands back the tasks that
are done; Ray decides where and when each runs. Without `address` it starts a local Ray for the
sweep with `num_cpus` CPUs (default: this machine's) and stops it afterwards; with `address` it
joins an existing cluster (`ray start --head` on one machine, `ray start --address=...` on the
others). A Ray already started in this process (`ray.init` by the caller) is used as it is.
Ray is imported only here, and only when asked for, so that the package works without it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from supermasks.errors import ConfigError
from supermasks.sweep.job import Job, Outcome, run_job

log = logging.getLogger(__name__)

ExecutorName = Literal["auto", "local", "ray"]
RAY_MISSING = ("--executor ray needs Ray, which is not installed: pip install 'supermasks[ray]' "
               "(or run the sweep in this process with --executor local)")
# The outcomes are a few hundred bytes each: a small object store spares the machine's shared memory.
OBJECT_STORE_BYTES = 200 * 2**20


class Executor(Protocol):
    """Runs jobs and yields each one's outcome as it finishes."""

    def __call__(self, jobs: Sequence[Job]) -> Iterator[Outcome]: ...


def ray_installed() -> bool:
    return importlib.util.find_spec("ray") is not None


def local_executor(jobs: Sequence[Job]) -> Iterator[Outcome]:
    """Every job in this process, one after another, in the given order."""
    for job in jobs:
        yield run_job(job)


@dataclass(frozen=True)
class RayExecutor:
    """Each job a Ray task with `cpus_per_run` CPUs and `gpus_per_run` GPUs (see the module docstring)."""

    cpus_per_run: float = 1
    gpus_per_run: float = 0
    address: str | None = None
    num_cpus: int | None = None  # CPUs of the local Ray started for the sweep; None: this machine's

    def __call__(self, jobs: Sequence[Job]) -> Iterator[Outcome]:
        import ray

        started = not ray.is_initialized()
        if started:
            arguments = self.init_arguments()
            if self.address is not None:
                log.info("joining the Ray cluster at %s", self.address)
            else:
                log.info("starting a local Ray with %d CPUs", arguments["num_cpus"])
            ray.init(**arguments)
        pending: dict = {}
        try:
            self._check_resources(ray.cluster_resources())
            task = ray.remote(run_job).options(num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run, max_retries=0)
            pending = {task.remote(job): job for job in jobs}
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    job = pending.pop(ref)
                    try:
                        yield ray.get(ref)
                    except ray.exceptions.RayError as error:  # the worker died (out of memory, killed, lost node)
                        yield Outcome.failed(job.key, error, str(error))
        finally:
            for ref in pending:  # stopped early (Ctrl-C): the runs resume from their checkpoints next time
                ray.cancel(ref, force=True)
            if started:
                ray.shutdown()

    def init_arguments(self) -> dict:
        """What `ray.init` gets: the cluster's address, or the CPUs of a local Ray started for the sweep."""
        if self.address is not None:  # the cluster's own settings stand
            return {"address": self.address, "logging_level": logging.WARNING}
        return {"num_cpus": self.num_cpus if self.num_cpus is not None else _machine_cpus(),
                "object_store_memory": OBJECT_STORE_BYTES, "include_dashboard": False,
                "logging_level": logging.WARNING}

    def _check_resources(self, available: dict) -> None:
        """Refuse a run that asks for more CPUs or GPUs than the whole cluster has (Ray would wait forever)."""
        for name, wanted in (("CPU", self.cpus_per_run), ("GPU", self.gpus_per_run)):
            if wanted > available.get(name, 0):
                raise ConfigError(f"each run asks for {wanted:g} {name}(s), and the Ray cluster has "
                                  f"{available.get(name, 0):g} in all: lower --{name.lower()}s-per-run")


def _machine_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def executor_for(name: ExecutorName, *, cpus_per_run: float = 1, gpus_per_run: float = 0, address: str | None = None,
                 num_cpus: int | None = None) -> tuple[str, Executor]:
    """(the executor's name, the executor): `auto` is Ray where it is installed, else this process."""
    if cpus_per_run <= 0 or gpus_per_run < 0:
        raise ConfigError(f"--cpus-per-run must be positive and --gpus-per-run 0 or more, got {cpus_per_run:g} "
                          f"and {gpus_per_run:g}")
    if name == "auto":
        name = "ray" if ray_installed() else "local"
        if name == "local":
            log.info("Ray is not installed: running the sweep in this process, one run after another")
    if name == "local":
        if address is not None or num_cpus is not None or gpus_per_run:
            raise ConfigError("--address, --num-cpus and --gpus-per-run are Ray's; they do nothing with "
                              "--executor local (nor where Ray is not installed)")
        return name, local_executor
    if not ray_installed():
        raise ConfigError(RAY_MISSING)
    return name, RayExecutor(cpus_per_run, gpus_per_run, address, num_cpus)


__all__ = ["Executor", "ExecutorName", "RAY_MISSING", "RayExecutor", "executor_for", "local_executor", "ray_installed"]
