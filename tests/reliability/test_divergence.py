"""A non-finite loss stops the run with the task and step named, keeping what earlier tasks finished."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

import supermasks.runner.experiment as experiment
from supermasks.cli import main
from supermasks.config import load_config, parse_overrides
from supermasks.runner import TrainingDiverged, run

SETTINGS = ["data.source=synthetic", "data.benchmark=permuted", "data.num_tasks=3", "training.steps_per_task=10",
            "training.batch_size=32", "training.optimizer=adam", "training.lr=1e-3", "run.overlap=false",
            "run.figures=false"]


@pytest.fixture
def poisoned_second_task(monkeypatch):
    """Task 1's training images are NaN, so its first loss is NaN."""
    real = experiment.build_tasks

    def build(config, benchmark, dataset):
        tasks = real(config, benchmark, dataset)
        tasks[1] = dataclasses.replace(tasks[1], x_train=torch.full(tasks[1].x_train.shape, float("nan")))
        return tasks

    monkeypatch.setattr(experiment, "build_tasks", build)


@pytest.mark.parametrize("method", ["supsup", "naive"])
def test_nan_loss_names_task_and_step_and_keeps_the_first_task(tmp_path, poisoned_second_task, method):
    extra = [] if method == "supsup" else ["scenario.name=domain"]
    config = load_config(None, [*SETTINGS, f"method={method}", *extra, f"run.out_dir={tmp_path}"])
    with pytest.raises(TrainingDiverged, match=r"task 1 \(permuted-1\).*loss became nan at step 0"):
        run(config, progress=False)
    (directory,) = tmp_path.iterdir()
    assert json.loads((directory / "meta.json").read_text())["status"] == "diverged"
    d = directory / "permuted" / method
    assert pd.read_csv(d / "tasks.csv")["task"].tolist() == [0]
    r = pd.read_csv(d / "accuracy.csv").iloc[:, 1:].to_numpy()
    assert np.isfinite(r[0, 0]) and np.isnan(r[1:]).all()
    assert json.loads((d / "state" / "manifest.json").read_text())["checkpoints"][-1]["task_id"] == 0


def test_the_cli_reports_divergence_in_one_line_with_exit_code_1(tmp_path, poisoned_second_task, capsys):
    code = main(["run", str(write_config(tmp_path)), f"run.out_dir={tmp_path}", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert "training diverged" in err and "task 1" in err and "Traceback" not in err


def write_config(tmp_path):
    path = tmp_path / "diverge.yaml"
    path.write_text(yaml.safe_dump({**parse_overrides(SETTINGS), "method": ["supsup"]}))  # nested sections
    return path
