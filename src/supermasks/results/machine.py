"""The machine a measurement ran on: CPU, cores, memory, OS, Python and library versions, thread variables, load."""

from __future__ import annotations

import datetime
import os
import platform
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

# The environment variables that decide how many threads torch and OpenMP use.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS", "SUPERMASKS_THREADS")


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what `platform` says, else "unknown"."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float | None:
    """The machine's memory in GiB (MemTotal of /proc/meminfo); None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def package_version(package: str) -> str:
    """An installed package's version, read without importing it (torch stays unloaded)."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def bfloat16_flags() -> list[str]:
    """The CPU flags of native bfloat16 matrix products it lists (amx_bf16, avx512_bf16): what
    `training.precision=bfloat16` runs fast on; empty where it lists none or they cannot be read."""
    from supermasks.compute.devices import BF16_CPU_FLAGS, cpu_flags  # torch loads with devices: only when asked

    flags = cpu_flags()
    return [flag for flag in BF16_CPU_FLAGS if flag in flags]


def describe_machine(environ: Mapping[str, str]) -> dict:
    """What a benchmark's figures depend on besides the code: the hardware, the software, the thread variables it
    inherits from `environ`, and the load average when it started (the machine may be shared)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    return {
        "date": f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        "cpu": cpu_model(),
        "bfloat16_flags": bfloat16_flags(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": memory_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": package_version("torch"),
        "numpy": package_version("numpy"),
        "thread_variables": {k: environ[k] for k in THREAD_VARIABLES if k in environ},
        "load_average": load,
    }


def thread_settings(machine: Mapping) -> str:
    """The thread variables of a machine description as `K=V, ...`, or "none set"."""
    return ", ".join(f"{k}={v}" for k, v in machine.get("thread_variables", {}).items()) or "none set"


__all__ = ["THREAD_VARIABLES", "bfloat16_flags", "cpu_model", "describe_machine", "memory_gib", "package_version", "thread_settings"]
