"""Where a sweep's runs execute: one after another in this process, or as Ray tasks.

An executor takes the jobs and yields each one's `Outcome` as it finishes, in whatever order
they finish. The Ray executor uses Ray's public API only: each run is one `ray.remote` task that
asks for `cpus_per_run` CPUs (and `gpus_per_run` GPUs), and `ray.wait` hands back the tasks that
are done; Ray decides where and when each runs. Without `address` it starts a local Ray for the
sweep with `num_cpus` CPUs (default: this machine's) and stops it afterwards; with `address` it
joins an existing cluster (`ray start --head` on one machine, `ray start --address=...` on the
others). A Ray already started in this process (`ray.init` by the caller) is used as it is.
Ray is imported only here, and only when asked for, so that the package works without it.

The options are checked before anything starts, and a cluster's address is reached over TCP
first (`address`). Stopping: when the sweep is stopped (Ctrl-C, or SIGTERM, which Ray's own
handler would turn into a bare exit), the runs in flight are cancelled gently first (each gets a
KeyboardInterrupt, marks its run directory `interrupted` and releases it), those still running
after STOP_SECONDS are killed and their run directories marked `interrupted` from here, and a
local Ray the sweep started is shut down; killed outright, the sweep leaves that to `reaper`.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import signal
import sys
import threading
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from supermasks.errors import ConfigError
from supermasks.runner.signals import Terminated, signal_number
from supermasks.sweep.address import CONNECT_TIMEOUT_SECONDS, check_reachable, parse_address, resolve_auto
from supermasks.sweep.job import Job, Outcome, mark_interrupted, run_job
from supermasks.sweep.reaper import Reaper

log = logging.getLogger(__name__)

ExecutorName = Literal["auto", "local", "ray"]
RAY_MISSING = ("--executor ray needs Ray, which is not installed: pip install 'supermasks[ray]' "
               "(or run the sweep in this process with --executor local)")
# The outcomes are a few hundred bytes each: a small object store spares the machine's shared memory.
OBJECT_STORE_BYTES = 200 * 2**20
# How long a stopped sweep waits for its cancelled runs to save and mark themselves interrupted.
STOP_SECONDS = 20.0


class Executor(Protocol):
    """Runs jobs and yields each one's outcome as it finishes."""

    def __call__(self, jobs: Sequence[Job]) -> Generator[Outcome, None, None]: ...


def ray_installed() -> bool:
    return importlib.util.find_spec("ray") is not None


def local_executor(jobs: Sequence[Job]) -> Generator[Outcome, None, None]:
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
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS  # seconds to reach the cluster at `address`

    def check(self) -> str | None:
        """Check the options and reach the cluster at `address` (ConfigError, one line); the address to join."""
        check_resource_options(self.cpus_per_run, self.gpus_per_run, self.num_cpus, self.connect_timeout)
        if self.address is None:
            if self.num_cpus is not None and self.cpus_per_run > self.num_cpus:
                raise ConfigError(f"each run asks for {self.cpus_per_run:g} CPUs (--cpus-per-run) and the local Ray "
                                  f"has {self.num_cpus} (--num-cpus): lower --cpus-per-run or raise --num-cpus")
            return None
        if self.num_cpus is not None:
            raise ConfigError("--num-cpus sets the CPUs of the local Ray a sweep starts; a cluster at --address "
                              "keeps its own: drop one of them")
        parsed = parse_address(self.address)
        import_ray()  # before `auto` is resolved: that imports Ray
        address = parsed if parsed is not None else resolve_auto()
        check_reachable(address, self.connect_timeout)
        return address.text

    def __call__(self, jobs: Sequence[Job]) -> Generator[Outcome, None, None]:
        ray = import_ray()
        started = not ray.is_initialized()
        reaper = None
        pending: dict = {}
        sigterm = _Sigterm()
        try:
            if started:
                address = self.check()
                arguments = self.init_arguments(address)
                if address is not None:
                    log.info("joining the Ray cluster at %s", address)
                else:
                    log.info("starting a local Ray with %d CPUs", arguments["num_cpus"])
                    reaper = Reaper()
                _init(ray, arguments)
            sigterm.install()  # in place of Ray's, which exits at once
            if reaper is not None:
                reaper.watch()
            self._check_resources(ray.cluster_resources())
            task = ray.remote(run_job_on_worker).options(num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run,
                                                         max_retries=0)
            pending = {task.remote(job): job for job in jobs}
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=None if reaper is None else 2.0)
                if reaper is not None:
                    reaper.watch()  # the workers Ray has started since
                for ref in ready:
                    job = pending.pop(ref)
                    try:
                        yield ray.get(ref)
                    except ray.exceptions.RayError as error:  # the worker died (out of memory, killed, lost node)
                        yield Outcome.failed(job.key, error, str(error))
        except KeyboardInterrupt as error:
            if sigterm.seen and signal_number(error) != signal.SIGTERM:  # Ray's wait raised its own in place of ours
                raise Terminated("terminated (SIGTERM)") from None
            raise
        finally:
            try:
                if pending:  # stopped early (Ctrl-C, SIGTERM): the runs resume from their checkpoints next time
                    _stop(ray, pending)
            finally:
                if started:
                    ray.shutdown()
                if reaper is not None:
                    reaper.close()
                sigterm.restore()

    def init_arguments(self, address: str | None = None) -> dict:
        """What `ray.init` gets: the cluster's address, or the CPUs of a local Ray started for the sweep."""
        address = address if address is not None else self.address
        if address is not None:  # the cluster's own settings stand
            return {"address": address, "logging_level": logging.WARNING}
        return {"num_cpus": self.num_cpus if self.num_cpus is not None else _machine_cpus(),
                "object_store_memory": OBJECT_STORE_BYTES, "include_dashboard": False,
                "logging_level": logging.WARNING}

    def _check_resources(self, available: dict) -> None:
        """Refuse a run that asks for more CPUs or GPUs than the whole cluster has (Ray would wait forever)."""
        for name, wanted in (("CPU", self.cpus_per_run), ("GPU", self.gpus_per_run)):
            if wanted > available.get(name, 0):
                raise ConfigError(f"each run asks for {wanted:g} {name}(s), and the Ray cluster has "
                                  f"{available.get(name, 0):g} in all: lower --{name.lower()}s-per-run")


def run_job_on_worker(job: Job) -> Outcome:
    """`run_job` in a Ray worker. Ray's gentle cancel interrupts a task through SIGINT's handler, which a worker
    lacks where the process that started Ray ignored SIGINT (a background job does): it is Python's default here."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) in (
            signal.SIG_IGN, signal.SIG_DFL):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return run_job(job)


def import_ray():
    """The `ray` module, imported so that this process keeps its own SIGTERM handling: Ray's C++ core would
    print a crash report on SIGTERM and then abort (exit 134) instead of letting the sweep stop its runs. The
    setting is Ray's own, read once at its import; Ray's processes and workers, started later, keep theirs."""
    if "ray" in sys.modules:
        return sys.modules["ray"]
    before = os.environ.get(_NO_CRASH_HANDLER)
    os.environ[_NO_CRASH_HANDLER] = "1"
    try:
        import ray
        import ray._private.ray_constants  # noqa: F401 - where Ray reads the setting
    finally:
        if before is None:
            os.environ.pop(_NO_CRASH_HANDLER, None)
        else:
            os.environ[_NO_CRASH_HANDLER] = before
    return ray


_NO_CRASH_HANDLER = "RAY_DISABLE_FAILURE_SIGNAL_HANDLER"


class _Sigterm:
    """This process's SIGTERM handler, put back after `ray.init` (which replaces it with one that exits at once),
    noting that SIGTERM came: Ray's own blocking calls turn the handler's `Terminated` into a bare KeyboardInterrupt."""

    def __init__(self) -> None:
        self.seen = False
        main = threading.current_thread() is threading.main_thread()  # only it can set handlers
        self._previous = signal.getsignal(signal.SIGTERM) if main else None

    def install(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._handler if callable(self._previous) else self._previous)

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    def _handler(self, signum: int, frame: object) -> None:
        self.seen = True
        self._previous(signum, frame)  # type: ignore[operator]


def _init(ray, arguments: dict) -> None:
    """`ray.init`; a SIGTERM while Ray starts stops the sweep as a later one would, and a cluster that cannot be
    joined is one line."""
    try:
        ray.init(**arguments)
    except ConnectionError as error:
        raise ConfigError(f"cannot join the Ray cluster at {arguments.get('address')}: {error}") from None
    except SystemExit as exit_:  # Ray's handler: SIGTERM during the start
        if exit_.code != signal.SIGTERM:
            raise
        raise Terminated("terminated (SIGTERM)") from None
    except Exception as error:  # e.g. a local Ray whose node times out during start-up on a busy machine
        if arguments.get("address") is not None:
            raise
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ConfigError(f"Ray could not start a local cluster for the sweep ({type(error).__name__}: {first[:200]}); "
                          "run the same command again (finished runs are kept), or use --executor local") from None


def _stop(ray, pending: dict) -> None:
    """Cancel the runs in flight: gently (each saves and marks itself interrupted), then by force after
    STOP_SECONDS, marking the run directories of those killed `interrupted` here."""
    refs = list(pending)
    log.info("stopping: cancelling the %d unfinished runs (a running one gets up to %.0f s to save)", len(refs),
             STOP_SECONDS)
    for ref in refs:
        ray.cancel(ref)  # a running task gets a KeyboardInterrupt, a queued one never starts
    left = refs
    try:
        _, left = ray.wait(refs, num_returns=len(refs), timeout=STOP_SECONDS)
    except KeyboardInterrupt:  # a second Ctrl-C: no more waiting
        pass
    for ref in left:
        ray.cancel(ref, force=True)
    if left:
        ray.wait(left, num_returns=len(left), timeout=5.0)
        for ref in left:
            mark_interrupted(pending[ref])


def check_resource_options(cpus_per_run: float, gpus_per_run: float, num_cpus: int | None,
                           connect_timeout: float = CONNECT_TIMEOUT_SECONDS) -> None:
    """ConfigError (one line, naming the option) for a value no sweep can use."""
    if not (math.isfinite(cpus_per_run) and cpus_per_run > 0):
        raise ConfigError(f"--cpus-per-run must be a positive number of CPUs (fractions allowed), got {cpus_per_run:g}")
    if not (math.isfinite(gpus_per_run) and gpus_per_run >= 0):
        raise ConfigError(f"--gpus-per-run must be 0 or a positive number of GPUs, got {gpus_per_run:g}")
    if num_cpus is not None and (isinstance(num_cpus, bool) or not isinstance(num_cpus, int) or num_cpus < 1):
        raise ConfigError(f"--num-cpus must be a whole number of CPUs, 1 or more, got {num_cpus}")
    if not (math.isfinite(connect_timeout) and connect_timeout > 0):
        raise ConfigError(f"--connect-timeout must be a positive number of seconds, got {connect_timeout:g}")


def _machine_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def executor_for(name: ExecutorName, *, cpus_per_run: float = 1, gpus_per_run: float = 0, address: str | None = None,
                 num_cpus: int | None = None,
                 connect_timeout: float | None = None) -> tuple[str, Executor]:
    """(the executor's name, the executor): `auto` is Ray where it is installed, else this process.

    Every option is checked here, and the cluster at `address` reached (see `RayExecutor.check`), so
    that a mistake is one line before the sweep writes anything. `connect_timeout` None: CONNECT_TIMEOUT_SECONDS.
    """
    timeout_given = connect_timeout is not None
    connect_timeout = CONNECT_TIMEOUT_SECONDS if connect_timeout is None else connect_timeout
    check_resource_options(cpus_per_run, gpus_per_run, num_cpus, connect_timeout)
    if name == "auto":
        name = "ray" if ray_installed() else "local"
        if name == "local":
            log.info("Ray is not installed: running the sweep in this process, one run after another")
    if name == "local":
        if address is not None or num_cpus is not None or gpus_per_run or timeout_given:
            raise ConfigError("--address, --num-cpus, --gpus-per-run and --connect-timeout are Ray's; they do nothing "
                              "with --executor local (nor where Ray is not installed): drop them, or use --executor ray")
        return name, local_executor
    if not ray_installed():
        raise ConfigError(RAY_MISSING)
    executor = RayExecutor(cpus_per_run, gpus_per_run, address, num_cpus, connect_timeout)
    executor.check()
    return name, executor


__all__ = ["Executor", "ExecutorName", "RAY_MISSING", "RayExecutor", "STOP_SECONDS", "check_resource_options",
           "executor_for", "import_ray", "local_executor", "ray_installed"]
