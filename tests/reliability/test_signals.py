"""SIGTERM (schedulers, `docker stop`) stops a run as Ctrl-C does: status `interrupted`, lock released, exit 143."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
import yaml

from supermasks.config import load_config
from supermasks.runner import RunInterrupted, run
from supermasks.runner.signals import Terminated, sigterm_as_interrupt
from supermasks.store.lock import run_lock
from tests.reliability.test_resume_runs import BASE, results

# `supermasks run` in a subprocess that, at optimiser step `wait_at` (in the second of 3 tasks of 30 steps),
# says so on stdout and sleeps, so the test's SIGTERM reaches a run that is truly in the middle of a task.
WAITER = textwrap.dedent("""
    import sys, time
    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook
    from supermasks.cli import main

    torch.set_num_threads(1)
    wait_at, count = int(sys.argv[1]), [0]

    def tick(*args, **kwargs):
        count[0] += 1
        if count[0] == wait_at:
            print("waiting", flush=True)
            time.sleep(120)

    register_optimizer_step_post_hook(tick)
    sys.exit(main(["run", "--no-progress", *sys.argv[2:]]))
""")


def run_until_sigterm(config_path, wait_at):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", WAITER, str(wait_at), str(config_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()  # blocks until the run is mid-task (or the child failed)
        assert line.strip() == "waiting", proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    return proc.returncode, err


def test_sigterm_mid_task_marks_interrupted_releases_the_lock_and_the_rerun_resumes_to_the_same_result(
        tmp_path, log_lines):
    from supermasks.config import to_dict
    from supermasks.store.files import write_yaml

    config_path = tmp_path / "sigterm.yaml"  # the CLI takes a file: BASE's settings written into one
    write_yaml(config_path, to_dict(load_config(None, [*BASE, "method=supsup", f"run.out_dir={tmp_path / 'runs'}"])))
    code, err = run_until_sigterm(config_path, 45)  # steps 31-60 are task 1
    assert code == 143, err  # 128 + SIGTERM; Ctrl-C gives 130
    lines = [line for line in err.splitlines() if line.startswith("supermasks:")]
    assert len(lines) == 1 and "terminated (SIGTERM)" in lines[0] and "Run the same command again" in lines[0], err
    assert "Traceback" not in err
    (directory,) = (tmp_path / "runs").iterdir()
    assert json.loads((directory / "meta.json").read_text())["status"] == "interrupted"
    assert pd.read_csv(directory / "permuted" / "supsup" / "tasks.csv")["task"].tolist() == [0]  # task 0 kept
    assert (directory / "run.lock").read_text() == ""  # released
    with run_lock(directory):  # free: a new run proceeds
        pass
    resumed = run(load_config(config_path), progress=False)
    assert resumed.directory == directory
    assert any("resuming after task 0" in line for line in log_lines)
    straight = run(load_config(config_path, [f"run.out_dir={tmp_path / 'straight'}"]), progress=False)
    got, want = results(resumed.directory, "supsup"), results(straight.directory, "supsup")
    pd.testing.assert_frame_equal(got[0], want[0])
    pd.testing.assert_frame_equal(got[1], want[1])
    assert got[2] == want[2]


def test_sigterm_in_process_stops_a_grid_study_keeping_its_finished_runs(tmp_path, monkeypatch):
    from supermasks.studies.grid import load_study, run_study
    import supermasks.runner.loop as loop

    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"name": "st", "method": ["naive"], "scenario": {"name": "domain"},
                                    "parts": {"first": {}, "second": {"training": {"lr": 0.01}}}}))
    study = load_study(path, [*BASE, f"run.out_dir={tmp_path}"])
    original, calls = loop.save_state_checkpoint, {"n": 0}

    def terminate_in_the_second_run(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # 3 tasks per run: the second task of the second part
            os.kill(os.getpid(), signal.SIGTERM)
        return original(*args, **kwargs)

    monkeypatch.setattr(loop, "save_state_checkpoint", terminate_in_the_second_run)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(RunInterrupted, match="terminated \\(SIGTERM\\)") as stopped:
        run_study(study, progress=False)
    assert stopped.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is only there during the study
    first, second = (r.config for r in study.runs)
    from supermasks.config.records import run_directory
    assert json.loads((run_directory(first) / "meta.json").read_text())["status"] == "finished"
    assert json.loads((run_directory(second) / "meta.json").read_text())["status"] == "interrupted"
    monkeypatch.setattr(loop, "save_state_checkpoint", original)
    frame = run_study(study, progress=False)
    assert list(frame["part"]) == ["first", "second"]
    assert json.loads((run_directory(second) / "meta.json").read_text())["status"] == "finished"


def test_sigterm_in_process_stops_a_transfer_study_keeping_its_finished_units(tmp_path, monkeypatch):
    from supermasks.studies import transfer
    from supermasks.studies.transfer_file import load_transfer_study
    from tests.studies.test_transfer import TINY, write

    spec = {**TINY, "data": {"source": "synthetic", "num_tasks": 2},
            "transfer_study": {**TINY["transfer_study"], "transfers": ["random", "mean"], "seeds": [0],
                               "benchmarks": {"permuted": {"data": {"benchmark": ["permuted"]}}}}}
    study = load_transfer_study(write(tmp_path, spec), [f"run.out_dir={tmp_path / 'runs'}"])
    original, calls = transfer.run_unit, {"n": 0}

    def terminate_in_the_second_unit(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(*args, **kwargs)

    monkeypatch.setattr(transfer, "run_unit", terminate_in_the_second_unit)
    with pytest.raises(RunInterrupted, match="terminated \\(SIGTERM\\).*Run the same command again") as stopped:
        transfer.run_transfer_study(study, progress=False)
    assert stopped.value.signum == signal.SIGTERM
    units = study.directory() / "units"
    assert sorted(p.name for p in units.iterdir()) == sorted(
        [f"permuted-seed0-random.{k}.csv" for k in ("alphas", "evaluation", "prediction")] + ["permuted-seed0-random.done.json"])
    with run_lock(study.directory()):  # released
        pass
    monkeypatch.setattr(transfer, "run_unit", original)
    tables = transfer.run_transfer_study(study, progress=False)
    assert set(tables["evaluation"]["transfer"]) == {"random", "mean"}


def test_the_handler_is_restored_and_left_alone_where_it_cannot_or_should_not_be_set():
    import threading

    before = signal.getsignal(signal.SIGTERM)
    with sigterm_as_interrupt():
        assert signal.getsignal(signal.SIGTERM) != before
        with pytest.raises(Terminated):
            os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) == before
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a caller that chose to ignore SIGTERM keeps that
    try:
        with sigterm_as_interrupt():
            assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)
    seen = []
    thread = threading.Thread(target=lambda: seen.append(sigterm_as_interrupt().__enter__() is None))
    thread.start()
    thread.join(timeout=30)
    assert seen == [True] and signal.getsignal(signal.SIGTERM) == before  # not the main thread: nothing set
