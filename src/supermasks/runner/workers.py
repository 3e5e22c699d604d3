"""Worker processes of one torch thread each, on this machine, that run jobs handed to them and send back the results.

`run.parallel_tasks` trains SupSup's independent tasks in them (`runner.parallel`). The processes
start on first use and serve every job of the run; they come from a fork server (`_context`), a
process that imported torch once and never ran an OpenMP region, so a worker starts in milliseconds
rather than the second or two of a fresh interpreter's imports, and inherits no OpenMP state. Each worker holds up to
`DEPTH` jobs (one running, the next waiting in its pipe), so it goes on while the run's process is
busy evaluating. The run talks to each worker through its own pipe and knows which jobs each holds:
a worker that dies (killed, out of memory) is reported with the job it was running.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import traceback
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from supermasks.errors import WorkerError

DEPTH = 2  # jobs a worker holds at once: the one it runs and the one it starts next
STOP_SECONDS = 5.0  # how long `close` waits for a worker to leave before terminating it


@dataclass
class _Worker:
    process: Any  # multiprocessing's Process of the spawn context
    conn: Connection
    held: deque[Hashable] = field(default_factory=deque)  # keys of the jobs given and not answered, oldest first


@dataclass
class _Job:
    key: Hashable
    label: str  # names the job in an error: "task 3 (permuted-3) of permuted"
    payload: bytes  # pickled (function, args)


class Workers:
    """Up to `count` worker processes; `submit` jobs (a module-level function and its arguments), read `result`s by key.

    A job's exception is raised again by `result` (its type kept, the worker's traceback as a note);
    a worker that dies raises WorkerError naming the job it ran. `close` stops the processes.
    """

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError(f"workers need a count of at least 1, got {count}")
        self.count = count
        self._workers: list[_Worker] = []
        self._waiting: deque[_Job] = deque()  # submitted, not yet handed to a worker
        self._labels: dict[Hashable, str] = {}
        self._results: dict[Hashable, tuple[bool, Any]] = {}
        self._forgotten: set[Hashable] = set()
        self._lost = 0  # workers that died: not replaced, so a run whose workers die stops rather than going on

    @property
    def started(self) -> int:
        """How many worker processes have been started."""
        return len(self._workers)

    def submit(self, key: Hashable, label: str, function: Callable[..., Any], *args: Any) -> None:
        """Queue `function(*args)` under `key`; it goes to a worker as soon as one has room."""
        self._labels[key] = label
        self._waiting.append(_Job(key, label, pickle.dumps((function, args), protocol=pickle.HIGHEST_PROTOCOL)))
        self._hand_out()

    def result(self, key: Hashable) -> Any:
        """The value of the job `key`, waiting for it; its exception raised again if it failed."""
        if key not in self._labels:
            raise KeyError(f"no job {key!r} was submitted")
        while key not in self._results:
            self._hand_out()
            if not any(w.held for w in self._workers):
                raise WorkerError(f"no worker process is left to run {self._labels[key]}: {self._lost} died")
            self._receive()
        ok, value = self._results.pop(key)
        del self._labels[key]
        if not ok:
            raise value
        return value

    def forget(self) -> None:
        """Drop the jobs not yet handed out; results of those running are thrown away when they come."""
        self._waiting.clear()
        self._forgotten.update(key for w in self._workers for key in w.held)
        self._results.clear()
        self._labels.clear()

    def close(self) -> None:
        """Stop every worker: ask them to leave, then terminate those that do not within `STOP_SECONDS`."""
        for worker in self._workers:
            try:
                worker.conn.send_bytes(b"")  # an empty message: leave
            except OSError:  # already gone
                pass
        for worker in self._workers:
            worker.process.join(STOP_SECONDS if not worker.held else 0.1)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(STOP_SECONDS)
            worker.conn.close()
        self._workers.clear()
        self._waiting.clear()

    def _hand_out(self) -> None:
        while self._waiting:
            worker = self._room()
            if worker is None:
                return
            job = self._waiting.popleft()
            worker.conn.send_bytes(job.payload)
            worker.held.append(job.key)

    def _room(self) -> _Worker | None:
        """The worker to give the next job: an idle one, else a new one (up to `count`), else the least busy one
        with room for another job."""
        idle = [w for w in self._workers if not w.held]
        if idle:
            return idle[0]
        if len(self._workers) + self._lost < self.count:
            return self._start()
        free = [w for w in self._workers if len(w.held) < DEPTH]
        return min(free, key=lambda w: len(w.held)) if free else None

    def _start(self) -> _Worker:
        context = _context()
        ours, theirs = context.Pipe()
        process = context.Process(target=serve, args=(theirs,), name=f"supermasks-worker-{len(self._workers)}",
                                  daemon=True)
        process.start()
        theirs.close()
        worker = _Worker(process, ours)
        self._workers.append(worker)
        return worker

    def _receive(self) -> None:
        """Wait for one worker to answer or die; record its answer, or its death as the error of the jobs it held."""
        busy = [w for w in self._workers if w.held]
        ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
        for worker in busy:
            if worker.conn in ready:
                try:
                    message = worker.conn.recv_bytes()
                except (EOFError, OSError):
                    self._died(worker)
                else:
                    self._answer(worker, message)
                return
        for worker in busy:
            if worker.process.sentinel in ready:
                self._died(worker)
                return

    def _answer(self, worker: _Worker, message: bytes) -> None:
        key = worker.held.popleft()
        ok, value = pickle.loads(message)
        if key in self._forgotten:
            self._forgotten.discard(key)
            return
        if not ok:
            error, text = value
            error.add_note(f"in the worker process that ran {self._labels.get(key, key)}:\n{text}")
            value = error
        self._results[key] = (ok, value)

    def _died(self, worker: _Worker) -> None:
        """A worker is gone: the job it ran, and those waiting behind it, fail with a WorkerError when asked for
        (jobs before them still complete, so a run keeps every task it can); no job goes to it again."""
        worker.process.join(1.0)
        code = worker.process.exitcode
        how = f"was killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exited ({code})"
        label = self._labels.get(worker.held[0], worker.held[0])
        error = (f"the worker process (pid {worker.process.pid}) running {label} {how}"
                 f"{'; out of memory?' if code == -signal.SIGKILL else ''}")
        for key in worker.held:
            if key in self._forgotten:
                self._forgotten.discard(key)
            else:
                self._results[key] = (False, WorkerError(error))
        worker.held.clear()
        worker.conn.close()
        self._workers.remove(worker)
        self._lost += 1


# What the fork server imports once, so that each worker forked from it starts without importing torch again.
PRELOAD = ["supermasks.runner.parallel"]


def _context() -> multiprocessing.context.BaseContext:
    """The 'forkserver' start method where there is one (Linux, macOS): a server process, started once per process
    of the run and free of OpenMP threads, imports `PRELOAD` and forks each worker from itself; else 'spawn'."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)  # read when the server starts; a server already running keeps its own
    return context


def start_server() -> None:
    """Start the fork server now, if there is one: it imports `PRELOAD` in the background while the run loads its
    data, so that the first worker need not wait for it."""
    if _context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def serve(conn: Connection) -> None:
    """A worker's life: one torch thread; run each job received, send back (True, value) or (False, (error, text));
    leave on an empty message or when the run's process has gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the run stops us
    os.environ["OMP_NUM_THREADS"] = "1"  # before torch loads: OpenMP reads it once
    import torch

    torch.set_num_threads(1)
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if not message:
            return
        try:
            function, args = pickle.loads(message)
            answer = (True, function(*args))
        except Exception as exc:  # sent back to be raised in the run's process
            answer = (False, (_picklable(exc), traceback.format_exc()))
        try:
            conn.send_bytes(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
        except (BrokenPipeError, OSError):
            return


def _picklable(error: Exception) -> Exception:
    """`error` if it survives pickling, else a RuntimeError with its type and message."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")


__all__ = ["DEPTH", "PRELOAD", "Workers", "serve", "start_server"]
