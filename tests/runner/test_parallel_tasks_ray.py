"""`run.parallel_tasks=true` on a local Ray of 2 CPUs: the run's files are those of sequential training, bit for bit.

Also inside a Ray task (a sweep's run), where the tasks train in sequence in that worker.
"""

import json

import numpy as np
import pandas as pd
import pytest

from supermasks.config import load_config
from supermasks.runner import run
from supermasks.config import to_dict
from supermasks.models.mask_files import load_task_masks
from supermasks.config.records import config_hash
from supermasks.sweep.job import Job, run_job

ray = pytest.importorskip("ray")

TINY = ["data.source=synthetic", "data.num_tasks=3", "training.steps_per_task=12", "training.batch_size=32",
        "training.lr=1e-2", "model.arch=lenet-300-100", "model.batch_norm=true", "run.figures=false",
        "data.benchmark=[permuted,split]"]
TIMES = {"seconds", "train_seconds", "samples_per_second", "seconds_per_task"}


@pytest.fixture(scope="module")
def ray_session():
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20, logging_level="warning")
    yield
    ray.shutdown()


def test_parallel_tasks_on_ray_equal_sequential_training(tmp_path, ray_session):
    in_sequence = run(load_config(None, [*TINY, f"run.out_dir={tmp_path / 'a'}"]), progress=False)
    apart = run(load_config(None, [*TINY, f"run.out_dir={tmp_path / 'b'}", "run.parallel_tasks=true"]),
                progress=False)
    assert apart.directory.name == in_sequence.directory.name  # the same run, scheduled otherwise
    assert "run.parallel_tasks: 3 task(s) as Ray tasks" in (apart.directory / "run.log").read_text()
    in_worker = load_config(None, [*TINY, f"run.out_dir={tmp_path / 'c'}", "run.parallel_tasks=true"])
    outcome = ray.get(ray.remote(run_job).remote(Job(config_hash(in_worker), to_dict(in_worker), 1)))
    assert outcome.status == "done", outcome.details
    log = (tmp_path / "c" / apart.directory.name / "run.log").read_text()
    assert "inside a Ray task, so the tasks train in sequence" in log
    for bench in ("permuted", "split"):
        a, b = in_sequence.directory / bench / "supsup", apart.directory / bench / "supsup"
        c = tmp_path / "c" / apart.directory.name / bench / "supsup"
        assert (a / "accuracy.csv").read_bytes() == (c / "accuracy.csv").read_bytes()
        assert (a / "accuracy.csv").read_bytes() == (b / "accuracy.csv").read_bytes()
        assert (a / "overlap.csv").read_bytes() == (b / "overlap.csv").read_bytes()
        for t in range(3):
            name = f"checkpoints/task_{t:03d}.safetensors"  # packed masks and BN statistics
            assert (a / name).read_bytes() == (b / name).read_bytes()
            masks_a, masks_b = load_task_masks(a / name), load_task_masks(b / name)
            assert all((masks_a[k] == masks_b[k]).all() for k in masks_a)
        tasks_a, tasks_b = (pd.read_csv(d / "tasks.csv").drop(columns=list(TIMES), errors="ignore") for d in (a, b))
        pd.testing.assert_frame_equal(tasks_a, tasks_b)
        metrics_a, metrics_b = ({k: v for k, v in json.loads((d / "metrics.json").read_text()).items()
                                 if k not in TIMES} for d in (a, b))
        assert metrics_a == metrics_b
    for ours, theirs in zip(apart.results, in_sequence.results):
        assert ours.metrics["ACC"] == theirs.metrics["ACC"] and (ours.accuracy == theirs.accuracy)[~np.isnan(ours.accuracy)].all()


def test_a_sequential_run_resumes_with_parallel_tasks_to_the_same_result(tmp_path, ray_session):
    config = load_config(None, [*TINY, "data.benchmark=permuted", f"run.out_dir={tmp_path}"])
    finished = run(config, progress=False)
    where = finished.directory / "permuted" / "supsup"
    accuracy, mask = (where / "accuracy.csv").read_bytes(), (where / "checkpoints/task_002.safetensors").read_bytes()
    latest = where / "state" / "state_task_002.safetensors"  # damaged: the run goes on after task 1
    latest.write_bytes(latest.read_bytes()[:-10] + bytes(10))
    meta = json.loads((finished.directory / "meta.json").read_text())
    (finished.directory / "meta.json").write_text(json.dumps(meta | {"status": "running"}))
    (where / "checkpoints/task_002.safetensors").unlink()
    run(load_config(None, [*TINY, "data.benchmark=permuted", f"run.out_dir={tmp_path}", "run.parallel_tasks=true"]),
        progress=False)
    log = (finished.directory / "run.log").read_text()
    assert "resuming after task 1" in log and "run.parallel_tasks: 1 task(s) as Ray tasks" in log
    assert (where / "accuracy.csv").read_bytes() == accuracy
    assert (where / "checkpoints/task_002.safetensors").read_bytes() == mask
