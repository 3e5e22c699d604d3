"""The NNs scenario in the runner: one unsegmented stream, tasks detected by the learner, reports saved."""

import json

import numpy as np
import pytest
import torch

from supermasks.config import ConfigError, load_config
from supermasks.runner import run, validate
from supermasks.runner.stream import mask_owners, task_stream
from tests.conftest import make_tasks


def test_stream_is_each_task_in_order_with_true_boundaries():
    tasks = make_tasks(num_tasks=3, n_train=64)
    parts, boundaries = task_stream(tasks, batch_size=16, steps_per_task=5, generator=torch.Generator().manual_seed(0))
    assert boundaries == [0, 5, 10]
    assert [len(p) for p in parts] == [5, 5, 5]
    for task, part in zip(tasks, parts):
        rows = {tuple(r.tolist()) for r in task.x_train.flatten(1)}
        assert all(tuple(r.tolist()) in rows for xb, _ in part for r in xb.flatten(1))


def test_mask_owner_is_the_true_task_that_trained_it_most():
    # Stream of 9 batches, true tasks start at 0, 3, 6. Mask 0 trains 0-3 (three of task 0, one of
    # task 1), mask 1 trains 4-5 and 6 (two of task 1, one of task 2), mask 2 trains 7-8, mask 3 never.
    trained = [0, 0, 0, 0, 1, 1, 1, 2, 2]
    assert mask_owners(trained, [0, 3, 6], num_masks=4) == [0, 1, 2, -1]
    # A tie goes to the earlier task.
    assert mask_owners([0, 0, 0, 0], [0, 2], num_masks=1) == [0]


def nns_config(tmp_path, *extra):
    return load_config(None, ["data.source=synthetic", "data.benchmark=permuted", "data.num_tasks=3", "training.steps_per_task=60",
                              "training.batch_size=32", "training.optimizer=adam", "training.lr=1e-3", "scenario.name=nns", "scenario.nns.check_every=20",
                              "scenario.nns.warmup=40", "scenario.inference_batch_size=50", "run.figures=false", f"run.out_dir={tmp_path}",
                              *extra])


def test_nns_run_finds_each_true_task_once_and_reports_boundaries(tmp_path):
    result = run(nns_config(tmp_path), progress=False).results[0]
    d = result.directory
    report = json.loads((d / "boundaries.json").read_text())
    assert report["true"] == [0, 60, 120]
    assert report["detected"] == [0, 60, 120]
    assert report["missed"] == [] and report["false_alarms"] == []
    assert result.metrics["num_tasks_found"] == 3
    assert result.metrics["task_inference_accuracy"] == 1.0
    masks = np.genfromtxt(d / "masks.csv", delimiter=",", names=True)
    assert masks["owner_task"].tolist() == [0, 1, 2]
    assert masks["batches_trained"].tolist() == [60, 60, 60]
    # R is lower-triangular: a task is evaluated once its part of the stream has been seen.
    assert np.isnan(result.accuracy[0, 1]) and np.all(np.isfinite(np.tril(result.accuracy)))
    assert result.metrics["ACC"] > 0.8
    confusion = np.loadtxt(d / "task_confusion.csv", delimiter=",", skiprows=1)[:, 1:]
    assert np.array_equal(confusion, np.diag([4, 4, 4]))
    checks = np.genfromtxt(d / "checks.csv", delimiter=",", names=True, dtype=None, encoding=None)
    # Tests run every 20 batches except within the 40-batch warm-up after each new mask.
    assert checks["batch"].tolist() == [0, 40, 60, 100, 120, 160]
    assert sorted((d / "checkpoints").iterdir())[-1].name == "mask_002.safetensors"


def test_a_margin_no_mask_can_clear_allocates_at_every_test_and_counts_false_alarms(tmp_path):
    # max v <= 1 < (1 + 10) / n for n <= 11 candidates: every test finds the data new.
    result = run(nns_config(tmp_path, "scenario.nns.warmup=0", "scenario.nns.margin=10"), progress=False).results[0]
    report = json.loads((result.directory / "boundaries.json").read_text())
    assert report["detected"] == list(range(0, 180, 20))
    assert report["false_alarms"] == [20, 40, 80, 100, 140, 160]
    assert report["delays"] == [0, 0, 0]
    assert result.metrics["num_tasks_found"] == 9 and result.metrics["false_alarms"] == 6


@pytest.mark.parametrize("overrides, message", [
    (["model.batch_norm=true"], "model.batch_norm=false"),
    (["method=naive"], "cannot run in the 'nns' scenario"),
    (["scenario.nns.check_every=0"], "scenario.nns.check_every"),
    (["scenario.nns.warmup=-1"], "scenario.nns.warmup"),
])
def test_nns_refuses_settings_that_cannot_work(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        validate(nns_config(tmp_path, *overrides))
