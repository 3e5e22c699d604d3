"""The tensorboard logger: its event files hold the run's losses, accuracy.csv and metrics.json, as float32."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from .helpers import LABEL, accuracy_cells, final_metrics, installed, read_tfevents, tiny_run

pytestmark = pytest.mark.skipif(not installed("tensorboard", "tensorboardX"),
                                reason="needs tensorboardX or tensorboard: pip install 'supermasks[tensorboard]'")


@pytest.mark.parametrize("writer", ["tensorboard", "tensorboardX"])
def test_the_event_files_hold_every_step_every_row_and_the_final_metrics(writer, tmp_path, monkeypatch):
    if not installed(writer):
        pytest.skip(f"{writer} is not installed")
    if writer == "tensorboardX":  # as if tensorboard were not installed: the logger falls back on tensorboardX
        monkeypatch.setitem(sys.modules, "tensorboard", None)
    run_dir, losses = tiny_run(tmp_path / "runs", ["tensorboard"], monkeypatch)
    scalars, texts = read_tfevents(run_dir / "tensorboard")
    assert len(losses) == 10  # two tasks of five steps
    # TensorBoard stores scalars as float32: every step, in order, counted over both tasks.
    assert scalars[f"{LABEL}/loss"] == [(step, float(np.float32(v))) for step, v in enumerate(losses)]
    accuracy = {tag: points for tag, points in scalars.items() if "/accuracy/" in tag}
    expected = accuracy_cells(run_dir)
    assert {(tag, step): value for tag, points in accuracy.items() for step, value in points} == {
        key: float(np.float32(value)) for key, value in expected.items()}
    metrics = {tag: points for tag, points in scalars.items() if "/metrics/" in tag}
    assert metrics == {tag: [(0, float(np.float32(value)))] for tag, value in final_metrics(run_dir).items()}
    assert set(scalars) == {f"{LABEL}/loss"} | set(accuracy) | set(metrics)
    settings = json.loads(texts["settings/text_summary"].strip("`\n"))
    assert settings["run"]["loggers"] == ["tensorboard"] and settings["data"]["num_tasks"] == 2


def test_logging_changes_no_number_and_a_run_without_loggers_writes_no_events(tmp_path, monkeypatch):
    logged, logged_losses = tiny_run(tmp_path / "a", ["tensorboard"], monkeypatch)
    plain, plain_losses = tiny_run(tmp_path / "b", [], monkeypatch)
    assert logged.name == plain.name  # the same hash: the same run directory
    assert logged_losses == plain_losses
    for name in ("accuracy.csv", "metrics.json"):
        if name == "metrics.json":  # times differ from run to run; every other number is the same
            drop = {"seconds_per_task", "samples_per_second", "train_seconds_per_task"}
            read = [{k: v for k, v in json.loads((d / LABEL / name).read_text()).items() if k not in drop}
                    for d in (logged, plain)]
            assert read[0] == read[1]
        else:
            assert (logged / LABEL / name).read_bytes() == (plain / LABEL / name).read_bytes()
    assert not (plain / "tensorboard").exists() and not (plain / "mlruns").exists() and not (plain / "wandb").exists()
