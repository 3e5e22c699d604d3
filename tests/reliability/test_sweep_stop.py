"""A Ray sweep stopped by SIGTERM stops cleanly (exit 143, its runs in flight marked `interrupted`, the Ray it started
shut down), and one killed outright leaves no Ray process behind for long: its reaper ends them.

The reaper's tests are fast (a stand-in for Ray: `sleep` processes). The sweeps that start their own Ray are
`slow` (Ray takes seconds to start); tests/sweep/test_ray.py stops a sweep that joined a running Ray.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.sweep.common import write_config

ROOT = Path(__file__).resolve().parents[2]
REAPER_FILE = ROOT / "src" / "supermasks" / "sweep" / "reaper.py"

# A driver that starts the reaper between two `sleep` processes, tells it about its children and prints their ids;
# with `close` it then ends the reaper as a sweep that finished does. It loads reaper.py alone (no torch: fast).
DRIVER = textwrap.dedent(f"""
    import importlib.util, subprocess, sys, time
    spec = importlib.util.spec_from_file_location("reaper", {str(REAPER_FILE)!r})
    reaper_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reaper_module)
    before = subprocess.Popen(["sleep", "600"])
    reaper = reaper_module.Reaper()
    after = subprocess.Popen(["sleep", "600"])
    reaper.watch()
    if sys.argv[1] == "close":
        reaper.close()
    print(before.pid, after.pid, flush=True)
    time.sleep(600)
""")


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its new parent to reap it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pids, seconds: float) -> list[int]:
    """The pids still alive after waiting up to `seconds` for them to go."""
    deadline = time.monotonic() + seconds
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def _driver(mode: str) -> tuple[subprocess.Popen, int, int]:
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, mode], stdout=subprocess.PIPE, text=True)
    before, after = map(int, proc.stdout.readline().split())
    return proc, before, after


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="the reaper reads /proc")
def test_the_reaper_kills_what_started_after_it_when_its_sweep_is_killed_and_nothing_else():
    proc, before, after = _driver("watch")
    try:
        proc.kill()
        proc.wait()
        assert _wait_gone([after], 30) == []  # without the reaper it would sleep on for 10 minutes
        assert _alive(before)  # there before the reaper: never named, never killed
    finally:
        for pid in (before, after):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="the reaper reads /proc")
def test_a_reaper_closed_by_a_sweep_that_ended_kills_nothing():
    proc, before, after = _driver("close")
    try:
        proc.kill()
        proc.wait()
        assert _alive(after) and _alive(before)
    finally:
        for pid in (before, after):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_ray_worker_is_interruptible_even_where_sigint_was_ignored(tmp_path):
    """Ray's gentle cancel raises KeyboardInterrupt through SIGINT's handler: a worker started from a background job
    (SIGINT ignored) gets Python's default one for the run."""
    from supermasks.sweep import Job
    from supermasks.sweep.executors import run_job_on_worker

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        outcome = run_job_on_worker(Job("00000000", {"method": ["no-such-method"]}, 1))
        assert outcome.status == "failed"
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


# --- whole sweeps on a Ray they start (slow) ---------------------------------------------------------------------

LONG = """
name: long
data: {source: synthetic, num_tasks: 2}
training: {steps_per_task: 100000, batch_size: 32, lr: 0.01}
run: {figures: false, overlap: false, report: false}
"""


def start_long_sweep(tmp_path: Path, *argv: str) -> tuple[subprocess.Popen, Path]:
    """A sweep of 3 runs too long to finish, started in a subprocess; returns once 2 of them are training."""
    out = tmp_path / "runs"
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "supermasks.cli", "sweep", str(write_config(tmp_path, LONG)),
                             "--seeds", "3", f"run.out_dir={out}", "--no-progress", *argv],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while len(running(out)) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()
    assert len(running(out)) == 2, "the runs did not start"
    return proc, out


def running(out: Path) -> list[Path]:
    return [p.parent for p in out.glob("long-*/meta.json") if _status(p.parent) == "running"]


def _status(directory: Path) -> str | None:
    try:
        return json.loads((directory / "meta.json").read_text()).get("status")
    except (OSError, ValueError):
        return None


@pytest.mark.slow
def test_sigterm_stops_a_ray_sweep_cleanly_and_shuts_its_ray_down(tmp_path):
    pytest.importorskip("ray")
    from supermasks.sweep.reaper import descendants

    proc, out = start_long_sweep(tmp_path, "--num-cpus", "2")
    in_flight = running(out)
    ray_processes = list(descendants(proc.pid))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    lines = [line for line in err.splitlines() if line.startswith("supermasks:")]
    assert lines == ["supermasks: terminated (SIGTERM)"], err
    assert "Traceback" not in err and "SIGTERM received" not in err  # no crash report from Ray's core
    assert [_status(d) for d in in_flight] == ["interrupted", "interrupted"]
    assert _wait_gone(ray_processes, 30) == []


@pytest.mark.slow
def test_sigkill_of_a_ray_sweep_leaves_no_ray_process_for_long(tmp_path):
    pytest.importorskip("ray")
    from supermasks.sweep.reaper import descendants

    proc, out = start_long_sweep(tmp_path, "--num-cpus", "2")
    ray_processes = list(descendants(proc.pid))
    assert ray_processes
    proc.kill()
    proc.communicate()
    # Ray's agents alone would wait a minute or more on the dead head before they exit.
    assert _wait_gone(ray_processes, 20) == []
