"""A disk that fills up mid-run: the run stops with an error, keeps its finished tasks and resumes later."""

import errno
import json

import pandas as pd
import pytest

from supermasks.config import load_config
from supermasks.runner import run
from supermasks.store.lock import run_lock
from tests.reliability.test_resume_runs import BASE, results


def test_no_space_left_mid_run_keeps_finished_tasks_and_the_rerun_resumes_to_the_same_result(
        tmp_path, monkeypatch, log_lines):
    import supermasks.runner.loop as loop

    original, calls = loop.save_state_checkpoint, {"n": 0}

    def full_at_the_second_task(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(*args, **kwargs)

    monkeypatch.setattr(loop, "save_state_checkpoint", full_at_the_second_task)
    overrides = [*BASE, "method=supsup"]
    config = load_config(None, [*overrides, f"run.out_dir={tmp_path / 'full'}"])
    with pytest.raises(OSError) as stopped:
        run(config, progress=False)
    assert stopped.value.errno == errno.ENOSPC
    (directory,) = (tmp_path / "full").iterdir()
    assert json.loads((directory / "meta.json").read_text())["status"] != "finished"
    assert pd.read_csv(directory / "permuted" / "supsup" / "tasks.csv")["task"].tolist()[0] == 0  # task 0 kept
    with run_lock(directory):  # released
        pass
    monkeypatch.setattr(loop, "save_state_checkpoint", original)  # space freed
    resumed = run(config, progress=False)
    assert any("resuming after task 0" in line for line in log_lines)
    straight = run(load_config(None, [*overrides, f"run.out_dir={tmp_path / 'straight'}"]), progress=False)
    got, want = results(resumed.directory, "supsup"), results(straight.directory, "supsup")
    pd.testing.assert_frame_equal(got[0], want[0])
    pd.testing.assert_frame_equal(got[1], want[1])
    assert got[2] == want[2]
