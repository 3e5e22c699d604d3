"""Run locks: the kernel's flock on run.lock; whatever a lock file says, only a live holder refuses a run."""

import errno
import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from supermasks.config import load_config
from supermasks.runner import run
from supermasks.store import lock as locks
from supermasks.store.lock import RunLockedError, run_lock
from supermasks.config.records import run_directory
from tests.reliability.test_resume_runs import BASE

NAIVE = [*BASE, "method=naive", "scenario.name=domain"]

# A second process that takes the lock, says so, and holds it until it is killed or `hold` seconds pass.
HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from supermasks.store.lock import run_lock
    with run_lock(Path(sys.argv[1])):
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def finished_run(tmp_path):
    """A finished tiny run and its config: the results that a later lock test must not lose."""
    config = load_config(None, [*NAIVE, f"run.out_dir={tmp_path}"])
    result = run(config, progress=False)
    return config, result.directory, (result.directory / "permuted" / "naive" / "accuracy.csv").read_text()


def start_holder(directory, hold=60.0):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory), str(hold)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    line = proc.stdout.readline()  # blocks until the lock is held (or the child failed)
    assert line.strip() == "locked", proc.stderr.read()
    return proc


@pytest.mark.parametrize("content", [
    json.dumps({"pid": os.getppid(), "host": socket.gethostname(), "started": "earlier"}),  # live, unrelated: PID reuse
    json.dumps({"pid": 1, "host": socket.gethostname(), "started": "earlier"}),  # init: alive on every machine
    json.dumps({"pid": 4242, "host": "another-host.example", "started": "earlier"}),  # another host or container
    "", "\x00\xffnot json{", "[1, 2]"])
def test_a_left_over_lock_file_is_locked_again_whatever_it_says(tmp_path, content):
    config, directory, accuracy = finished_run(tmp_path)
    (directory / "run.lock").write_text(content, errors="surrogateescape")
    result = run(config, force=True, progress=False)  # not refused
    assert json.loads((directory / "meta.json").read_text())["status"] == "finished"
    assert (result.directory / "permuted" / "naive" / "accuracy.csv").read_text() == accuracy
    assert (directory / "run.lock").read_text() == ""  # released: nobody named


def test_the_holder_writes_its_host_pid_and_start_into_the_file(tmp_path):
    with run_lock(tmp_path) as path:
        holder = json.loads(path.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname() and holder["started"]
    assert path.exists() and path.read_text() == ""  # never deleted: a deleted flock'd file races


def test_a_second_process_is_refused_with_the_holder_named_while_the_first_runs(tmp_path):
    config, directory, accuracy = finished_run(tmp_path)
    holder = start_holder(directory)
    try:
        with pytest.raises(RunLockedError) as refused:
            run(config, force=True, progress=False)
        message = str(refused.value)
        assert f"process {holder.pid} on {socket.gethostname()}" in message
        assert "released as soon as it ends" in message and "\n" not in message
        assert json.loads((directory / "meta.json").read_text())["status"] == "finished"  # untouched
        assert (directory / "permuted" / "naive" / "accuracy.csv").read_text() == accuracy
    finally:
        holder.kill()
        holder.wait(timeout=30)
    run(config, force=True, progress=False)  # the kernel released the killed holder's lock
    assert json.loads((directory / "meta.json").read_text())["status"] == "finished"


def test_the_cli_refuses_a_held_run_with_one_line_and_exit_code_2(tmp_path, capsys):
    from supermasks.cli import main

    config, directory, _ = finished_run(tmp_path)
    holder = start_holder(directory)
    capsys.readouterr()  # only what main prints (an earlier main's console handler may write here before it)
    try:
        code = main(["run", "--force", "--no-progress", str(_write_config(tmp_path, config))])
    finally:
        holder.kill()
        holder.wait(timeout=30)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"process {holder.pid}" in err[0], err


def _write_config(tmp_path, config):
    from supermasks.config import to_dict
    from supermasks.store.files import write_yaml

    path = tmp_path / "cfg.yaml"
    write_yaml(path, to_dict(config))
    return path


def test_the_same_process_cannot_take_its_own_lock_twice(tmp_path):
    """flock belongs to the open file, not the process: a nested run in one process is refused too."""
    with run_lock(tmp_path):
        with pytest.raises(RunLockedError, match=f"process {os.getpid()}"):
            with run_lock(tmp_path):
                pass
    with run_lock(tmp_path):
        pass


def test_without_flock_an_exclusive_lock_file_stands_in_with_a_warning(tmp_path, monkeypatch, log_lines):
    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(locks.fcntl, "flock", no_flock)
    config, directory, accuracy = finished_run(tmp_path)
    assert any("does not support flock" in line and "run.lock.excl" in line for line in log_lines)
    assert not (directory / locks.FALLBACK).exists()  # released
    with run_lock(directory):
        assert json.loads((directory / locks.FALLBACK).read_text())["pid"] == os.getpid()
        with pytest.raises(RunLockedError, match=f"process {os.getpid()} .*delete .*run.lock.excl"):
            run(config, force=True, progress=False)
    assert (directory / "permuted" / "naive" / "accuracy.csv").read_text() == accuracy


def test_a_held_lock_is_seen_within_a_bounded_wait(tmp_path):
    """The holder subprocess holds for a short time only; once it exits the lock is free without any clean-up."""
    holder = start_holder(tmp_path, hold=1.0)
    with pytest.raises(RunLockedError):
        with run_lock(tmp_path):
            pass
    holder.wait(timeout=30)
    deadline = time.monotonic() + 10
    with run_lock(tmp_path):
        assert time.monotonic() < deadline
