"""Interrupted runs: killed with SIGKILL in the middle of a task, resumed, equal to an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from supermasks.config import load_config
from supermasks.runner import RunInterrupted, run

# Settings of a small run that trains in a second or two per method.
BASE = ["data.source=synthetic", "data.benchmark=permuted", "data.num_tasks=3", "training.steps_per_task=30", "training.batch_size=32",
        "training.optimizer=adam", "training.lr=1e-3", "run.overlap=false", "run.figures=false", "run.eval_batch_size=256"]

# A subprocess that counts optimiser steps across every optimiser and kills itself (SIGKILL: no
# cleanup, no atexit, no flushing) at step `kill_at`, i.e. in the middle of the second task.
# With a second argument "write", it dies instead just before its `kill_at`-th file rename: the
# temporary file is complete but not yet in place (the moment an atomic write protects).
KILLER = textwrap.dedent("""
    import os, signal, sys
    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook
    from supermasks.config import load_config
    from supermasks.runner import run

    torch.set_num_threads(1)
    kill_at, mode, count = int(sys.argv[1]), sys.argv[2], [0]

    def tick(*args, **kwargs):
        count[0] += 1
        if count[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    if mode == "step":
        register_optimizer_step_post_hook(tick)
    else:
        real_replace = os.replace
        def replace(*args, **kwargs):
            tick()
            return real_replace(*args, **kwargs)
        os.replace = replace
    run(load_config(None, sys.argv[3:]), progress=False)
""")


def kill_run(kill_at, mode, overrides):
    args = [sys.executable, "-c", KILLER, str(kill_at), mode, *overrides]
    return subprocess.run(args, capture_output=True, text=True, timeout=300)


def results(directory, method):
    d = directory / "permuted" / method
    tasks = pd.read_csv(d / "tasks.csv").drop(columns=["seconds", "train_seconds", "samples_per_second"])
    metrics = json.loads((d / "metrics.json").read_text())
    return pd.read_csv(d / "accuracy.csv"), tasks, {k: metrics[k] for k in ("ACC", "BWT", "FWT", "forgetting")}


@pytest.mark.parametrize("method, extra", [("supsup", []), ("ewc", ["scenario.name=domain"]),
                                           ("replay", ["scenario.name=domain", "replay.fraction=0.2"])])
def test_killed_mid_task_then_resumed_equals_uninterrupted(tmp_path, method, extra, log_lines):
    overrides = [*BASE, f"method={method}", *extra]
    killed = tmp_path / "killed"
    proc = kill_run(45, "step", [*overrides, f"run.out_dir={killed}"])
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    (run_dir,) = killed.iterdir()
    assert json.loads((run_dir / "meta.json").read_text())["status"] == "running"
    manifest = json.loads((run_dir / "permuted" / method / "state" / "manifest.json").read_text())
    assert [e["task_id"] for e in manifest["checkpoints"]] == [0]  # task 0 finished, task 1 was in progress

    resumed = run(load_config(None, [*overrides, f"run.out_dir={killed}"]), progress=False)
    assert any("resuming after task 0" in line for line in log_lines)
    reference = run(load_config(None, [*overrides, f"run.out_dir={tmp_path / 'straight'}"]), progress=False)
    got, want = results(resumed.directory, method), results(reference.directory, method)
    pd.testing.assert_frame_equal(got[0], want[0])
    pd.testing.assert_frame_equal(got[1], want[1])
    assert got[2] == want[2] or all(np.isnan(a) and np.isnan(b) or a == b for a, b in zip(got[2].values(), want[2].values()))
    assert json.loads((resumed.directory / "meta.json").read_text())["status"] == "finished"


def test_a_corrupt_latest_checkpoint_falls_back_to_the_previous_one_and_says_so(tmp_path, log_lines):
    overrides = [*BASE, "method=supsup", f"run.out_dir={tmp_path}"]
    finished = run(load_config(None, overrides), progress=False)
    state = finished.directory / "permuted" / "supsup" / "state"
    latest = state / "state_task_002.safetensors"
    data = bytearray(latest.read_bytes())
    data[-10] ^= 0xFF
    latest.write_bytes(bytes(data))
    meta = json.loads((finished.directory / "meta.json").read_text())
    (finished.directory / "meta.json").write_text(json.dumps(meta | {"status": "running"}))
    again = run(load_config(None, overrides), progress=False)
    assert any("state_task_002" in line and "warning" in line for line in log_lines)
    assert any("resuming after task 1" in line for line in log_lines)
    np.testing.assert_array_equal(again.results[0].accuracy, finished.results[0].accuracy)


def test_force_starts_afresh_instead_of_resuming(tmp_path, log_lines):
    overrides = [*BASE, "method=naive", "scenario.name=domain", f"run.out_dir={tmp_path}"]
    first = run(load_config(None, overrides), progress=False)
    run(load_config(None, overrides), force=True, progress=False)
    assert not any("resuming" in line for line in log_lines)
    manifest = json.loads((first.directory / "permuted" / "naive" / "state" / "manifest.json").read_text())
    assert [e["task_id"] for e in manifest["checkpoints"]] == [1, 2]  # the two newest are kept


def test_ctrl_c_marks_the_run_interrupted_and_says_how_to_resume(tmp_path, monkeypatch, log_lines):
    import supermasks.runner.loop as experiment

    calls = {"n": 0}
    original = experiment.save_task_checkpoint

    def interrupt_after_first_task(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(experiment, "save_task_checkpoint", interrupt_after_first_task)
    config = load_config(None, [*BASE, "method=supsup", f"run.out_dir={tmp_path}"])
    with pytest.raises(RunInterrupted, match="Run the same command again to resume"):
        run(config, progress=False)
    (directory,) = tmp_path.iterdir()
    assert json.loads((directory / "meta.json").read_text())["status"] == "interrupted"
    assert pd.read_csv(directory / "permuted" / "supsup" / "tasks.csv")["task"].tolist() == [0]
    monkeypatch.setattr(experiment, "save_task_checkpoint", original)
    run(config, progress=False)
    assert any("resuming after task 0" in line for line in log_lines)


def test_ten_kills_at_random_points_each_resume_to_the_uninterrupted_result(tmp_path):
    """Kills at random optimiser steps or just before random file renames; every resume ends equal."""
    import random

    overrides = [*BASE, "method=supsup"]
    reference = run(load_config(None, [*overrides, f"run.out_dir={tmp_path / 'straight'}"]), progress=False)
    want = results(reference.directory, "supsup")
    rng = random.Random(2026)
    for trial in range(10):
        mode = rng.choice(["step", "write"])
        kill_at = rng.randint(1, 89) if mode == "step" else rng.randint(1, 12)  # 90 steps; ~13 renames in all
        out = tmp_path / f"trial{trial}"
        proc = kill_run(kill_at, mode, [*overrides, f"run.out_dir={out}"])
        assert proc.returncode in (0, -signal.SIGKILL), proc.stderr
        resumed = run(load_config(None, [*overrides, f"run.out_dir={out}"]), progress=False)
        got = results(resumed.directory, "supsup")
        pd.testing.assert_frame_equal(got[0], want[0], obj=f"trial {trial} ({mode} {kill_at}) R")
        pd.testing.assert_frame_equal(got[1], want[1], obj=f"trial {trial} ({mode} {kill_at}) tasks")
        assert got[2]["ACC"] == want[2]["ACC"]
        assert (resumed.directory / "run.lock").read_text() == ""  # released: the file stays, naming nobody


def test_a_second_process_on_the_same_run_is_refused_while_the_first_holds_the_lock(tmp_path):
    from supermasks.store.lock import RunLockedError, run_lock
    from supermasks.config.records import run_directory

    config = load_config(None, [*BASE, "method=naive", "scenario.name=domain", f"run.out_dir={tmp_path}"])
    directory = run_directory(config)
    with run_lock(directory):
        with pytest.raises(RunLockedError, match=f"process {os.getpid()}"):
            run(config, progress=False)
    assert not (directory / "meta.json").exists()  # the refused run wrote nothing
    run(config, progress=False)  # released: runs
    assert json.loads((directory / "meta.json").read_text())["status"] == "finished"


def test_a_lock_file_left_by_a_dead_process_is_simply_locked_again(tmp_path):
    from supermasks.config.records import run_directory

    config = load_config(None, [*BASE, "method=naive", "scenario.name=domain", f"run.out_dir={tmp_path}"])
    directory = run_directory(config)
    directory.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket
    (directory / "run.lock").write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname(),
                                                    "started": "earlier"}))
    run(config, progress=False)
    assert json.loads((directory / "meta.json").read_text())["status"] == "finished"


def test_nns_stream_killed_mid_task_resumes_to_the_uninterrupted_result(tmp_path, log_lines):
    overrides = ["data.source=synthetic", "data.benchmark=permuted", "data.num_tasks=3", "training.steps_per_task=60", "training.batch_size=32",
                 "training.optimizer=adam", "training.lr=1e-3", "scenario.name=nns", "scenario.nns.check_every=20", "scenario.nns.warmup=40",
                 "scenario.inference_batch_size=50", "run.figures=false", "run.overlap=false"]
    killed = tmp_path / "killed"
    proc = kill_run(100, "step", [*overrides, f"run.out_dir={killed}"])  # in the second task's part of the stream
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    resumed = run(load_config(None, [*overrides, f"run.out_dir={killed}"]), progress=False)
    assert any("resuming the stream after task 0" in line for line in log_lines)
    straight = run(load_config(None, [*overrides, f"run.out_dir={tmp_path / 'straight'}"]), progress=False)
    for name in ("accuracy.csv", "checks.csv", "masks.csv", "task_confusion.csv", "boundaries.json"):
        got = (resumed.directory / "permuted" / "supsup" / name).read_text()
        assert got == (straight.directory / "permuted" / "supsup" / name).read_text(), name
