"""A run with the cosine schedule and weight decay, killed in the middle of a task, resumes to the uninterrupted result."""

import json
import signal

import pandas as pd

from supermasks.config import load_config
from supermasks.runner import run
from tests.reliability.test_resume_runs import BASE, kill_run, results

COSINE = [*BASE, "method=supsup", "training.schedule=cosine", "training.weight_decay=1e-4"]


def test_killed_mid_task_with_cosine_then_resumed_equals_uninterrupted(tmp_path, log_lines):
    killed = tmp_path / "killed"
    proc = kill_run(45, "step", [*COSINE, f"run.out_dir={killed}"])  # 30 steps per task: inside task 1
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    (run_dir,) = killed.iterdir()
    manifest = json.loads((run_dir / "permuted" / "supsup" / "state" / "manifest.json").read_text())
    assert [e["task_id"] for e in manifest["checkpoints"]] == [0]
    resumed = run(load_config(None, [*COSINE, f"run.out_dir={killed}"]), progress=False)
    assert any("resuming after task 0" in line for line in log_lines)
    straight = run(load_config(None, [*COSINE, f"run.out_dir={tmp_path / 'straight'}"]), progress=False)
    constant = run(load_config(None, [*BASE, "method=supsup", f"run.out_dir={tmp_path / 'constant'}"]), progress=False)
    got, want = results(resumed.directory, "supsup"), results(straight.directory, "supsup")
    pd.testing.assert_frame_equal(got[0], want[0])
    pd.testing.assert_frame_equal(got[1], want[1])
    # and the schedule did something: the constant-rate run's losses differ
    assert not results(constant.directory, "supsup")[1]["final_loss"].equals(want[1]["final_loss"])
