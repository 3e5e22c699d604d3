"""`run.parallel_tasks` in worker processes on this machine (no Ray): the run's files are those of sequential training,
bit for bit; the plan is logged; a worker that dies or fails is reported with its task.
"""

import json
import os
import signal

import pytest
import torch

from supermasks.cli import main
from supermasks.config import load_config
from supermasks.errors import WorkerError
from supermasks.runner import parallel, run
from supermasks.runner.workers import Workers
from supermasks.models.mask_files import load_task_masks

TINY = ["data.source=synthetic", "data.num_tasks=3", "training.steps_per_task=12", "training.batch_size=32",
        "training.lr=1e-2", "model.arch=lenet-300-100", "model.batch_norm=true", "run.figures=false",
        "run.report=false", "data.benchmark=[permuted,split]"]


@pytest.fixture(scope="module")
def in_sequence(tmp_path_factory):
    return run(load_config(None, [*TINY, f"run.out_dir={tmp_path_factory.mktemp('seq')}",
                                  "run.parallel_tasks=false"]), progress=False)


def same_files(a, b) -> None:
    for bench in ("permuted", "split"):
        x, y = a.directory / bench / "supsup", b.directory / bench / "supsup"
        for name in ("accuracy.csv", "overlap.csv", "metrics.json"):
            if name == "metrics.json":  # times apart
                times = {"seconds", "train_seconds", "samples_per_second", "seconds_per_task"}
                mx, my = ({k: v for k, v in json.loads((d / name).read_text()).items() if k not in times} for d in (x, y))
                assert mx == my
            else:
                assert (x / name).read_bytes() == (y / name).read_bytes()
        for t in range(3):
            name = f"checkpoints/task_{t:03d}.safetensors"  # packed masks and BN statistics
            assert (x / name).read_bytes() == (y / name).read_bytes()
            masks_x, masks_y = load_task_masks(x / name), load_task_masks(y / name)
            assert all((masks_x[k] == masks_y[k]).all() for k in masks_x)


def test_worker_processes_train_the_tasks_of_sequential_training(tmp_path, in_sequence):
    apart = run(load_config(None, [*TINY, f"run.out_dir={tmp_path}", "run.parallel_tasks=true"]), progress=False)
    assert apart.directory.name == in_sequence.directory.name  # the same run, scheduled otherwise
    log = (apart.directory / "run.log").read_text()
    assert "run.parallel_tasks=true: the tasks train in up to" in log
    assert log.count("run.parallel_tasks: 3 task(s) in worker processes") == 2  # both benchmarks, one pool
    same_files(in_sequence, apart)
    assert torch.get_num_threads() == 1  # the run's one-thread evaluation ends with the run


def test_auto_with_two_threads_trains_in_two_processes_and_gives_the_threads_back(tmp_path, in_sequence):
    torch.set_num_threads(2)
    try:
        apart = run(load_config(None, [*TINY, f"run.out_dir={tmp_path}"]), progress=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    log = (apart.directory / "run.log").read_text()
    assert "run.parallel_tasks=auto: the tasks train in up to 2 worker processes of one thread each (the run's 2 " \
           "threads)" in log
    same_files(in_sequence, apart)


def fail(message: str) -> None:
    raise FloatingPointError(message)


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_job_error_keeps_its_type_and_a_dead_worker_names_its_job():
    workers = Workers(2)
    try:
        workers.submit("a", "job a", fail, "loss is nan at step 3")
        workers.submit("b", "task 1 (perm-1) of permuted", die)
        with pytest.raises(FloatingPointError, match="loss is nan at step 3") as failed:
            workers.result("a")
        assert any("in the worker process that ran job a" in note for note in failed.value.__notes__)
        with pytest.raises(WorkerError, match=r"running task 1 \(perm-1\) of permuted was killed by SIGKILL"):
            workers.result("b")
    finally:
        workers.close()
    assert workers.started == 0


real_learn_apart = parallel.learn_apart


def learn_or_die(config, method_name, benchmark, task_id, name, start, threads):
    if task_id == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return real_learn_apart(config, method_name, benchmark, task_id, name, start, threads)


def test_a_worker_that_dies_fails_the_run_in_one_line_naming_its_task(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(parallel, "learn_apart", learn_or_die)  # the run sends this one to its workers
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI sets it; restored afterwards
    out = tmp_path / "runs"
    (tmp_path / "tiny.yaml").write_text("name: tiny\n")
    got = main(["-q", "run", str(tmp_path / "tiny.yaml"), *TINY, "data.benchmark=permuted", "run.parallel_tasks=true",
                f"run.out_dir={out}", "--no-progress"])
    err = capsys.readouterr().err
    assert got == 1 and "Traceback" not in err
    (line,) = err.strip().splitlines()
    (run_dir,) = out.iterdir()
    assert line.startswith("supermasks: error: the worker process (pid ")
    assert "running task 1 (" in line and "of permuted was killed by SIGKILL; out of memory?" in line
    assert line.endswith(f"Every finished task is saved in {run_dir}: after the fix, run the same command again to "
                         "resume")
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "failed" and meta["error"].startswith("WorkerError: the worker process")
    assert (run_dir / "permuted" / "supsup" / "checkpoints" / "task_000.safetensors").is_file()  # task 0 installed
