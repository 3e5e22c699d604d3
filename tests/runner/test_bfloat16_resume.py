"""A bfloat16 run (fused step, folded permutations), killed in the middle of a task, resumes to the uninterrupted result."""

import signal

import pandas as pd
from torch.optim.optimizer import register_optimizer_step_post_hook

from supermasks.config import load_config
from supermasks.runner import run
from tests.reliability.test_resume_runs import BASE, kill_run, results

LOW = [*BASE, "method=supsup", "training.optimizer=rmsprop", "training.precision=bfloat16"]


def test_the_fused_step_runs_the_global_step_hooks(tmp_path):
    seen = []
    handle = register_optimizer_step_post_hook(lambda optimizer, *_: seen.append(type(optimizer).__name__))
    try:
        run(load_config(None, [*LOW, "data.num_tasks=1", f"run.out_dir={tmp_path}"]), progress=False)
    finally:
        handle.remove()
    assert seen.count("FusedScoreRMSprop") == 30  # one per step of the task's 30


def test_killed_mid_task_in_bfloat16_then_resumed_equals_uninterrupted(tmp_path):
    killed = tmp_path / "killed"
    proc = kill_run(45, "step", [*LOW, f"run.out_dir={killed}"])  # 30 steps per task: inside task 1
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    resumed = run(load_config(None, [*LOW, f"run.out_dir={killed}"]), progress=False)
    straight = run(load_config(None, [*LOW, f"run.out_dir={tmp_path / 'straight'}"]), progress=False)
    got, want = results(resumed.directory, "supsup"), results(straight.directory, "supsup")
    pd.testing.assert_frame_equal(got[0], want[0])
    pd.testing.assert_frame_equal(got[1], want[1])
    assert got[2] == want[2]
