"""How many CPU threads torch uses in a `supermasks` process, decided before torch loads.

OpenMP reads `OMP_NUM_THREADS` and `OMP_WAIT_POLICY` once, when torch is imported, so the command
line sets them first. The default is one thread and the passive wait policy: the networks here are
small (FC 784-300-300-10 at batch 128), so a second thread gains little, while OpenMP's default
active waiting spins idle threads and, when another process wants the same cores, makes each step
much slower (benchmarks/threads.py measures it). Runs of several seeds scale better as
several one-thread processes.

Precedence: `--threads N`, then `SUPERMASKS_THREADS`, then an `OMP_NUM_THREADS` the user set
(left as it is), then 1. N = 0 means torch's own default (one thread per core). A user's
`OMP_WAIT_POLICY` is left as it is.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass

DEFAULT_THREADS = 1
ENV_THREADS = "SUPERMASKS_THREADS"


@dataclass(frozen=True)
class ThreadPlan:
    """`threads`: the count to use (None: leave torch's own choice); `environment`: variables to set."""

    threads: int | None
    environment: dict[str, str]


def plan_threads(requested: int | None, environ: Mapping[str, str]) -> ThreadPlan:
    """The thread count and OpenMP variables for a process, from `--threads` (`requested`) and the environment."""
    env: dict[str, str] = {}
    if "OMP_WAIT_POLICY" not in environ:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    if requested is None and environ.get(ENV_THREADS, "").strip():
        text = environ[ENV_THREADS].strip()
        try:
            requested = int(text)
        except ValueError:
            raise ValueError(f"{ENV_THREADS} must be a whole number of threads (0: torch's default), got {text!r}") from None
    if requested is not None and requested < 0:
        raise ValueError(f"the number of threads must be 0 (torch's default) or more, got {requested}")
    if requested is None:
        if "OMP_NUM_THREADS" in environ:  # the user's own choice: torch reads it
            return ThreadPlan(None, env)
        requested = DEFAULT_THREADS
    if requested == 0:
        return ThreadPlan(None, env)
    return ThreadPlan(requested, env | {"OMP_NUM_THREADS": str(requested)})


def apply_threads(plan: ThreadPlan, environ: MutableMapping[str, str] = os.environ) -> None:
    """Set the plan's variables; if torch is already loaded (the library used in-process), set its count directly."""
    environ.update(plan.environment)
    torch = sys.modules.get("torch")
    if torch is not None and plan.threads is not None:
        torch.set_num_threads(plan.threads)
