"""The 2,500-task PermutedMNIST GNu study (Wortsman, Ramanujan et al., NeurIPS 2020, s = 500): it loads, and it runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from supermasks.config import load_config
from supermasks.runner import run, validate

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "permuted2500.yaml"


def test_permuted2500_config_validates() -> None:
    config = load_config(CONFIG)
    validate(config)
    assert config.data.num_tasks == 2500 and config.data.source == "mnist-5k"
    assert config.model.arch == "lenet-300-100" and config.model.output_size == 500
    assert config.scenario.name == "gnu" and config.scenario.inference_batch_size == 1
    supsup = config.settings("supsup")
    assert supsup.task_inference == "oneshot" and supsup.inference_objective == "G"
    assert config.run.evaluate == "last" and config.run.eval_sample is not None and config.run.eval_sample <= 1000
    assert not config.run.overlap and not config.run.figures


@pytest.mark.slow
def test_permuted2500_scaled_down_runs_end_to_end(tmp_path: Path) -> None:
    # The shipped settings with 20 tasks (the full run takes hours: benchmarks/long_runs.py).
    config = load_config(CONFIG, [f"run.out_dir={tmp_path}", "data.num_tasks=20"])
    result = run(config, force=True, progress=False)
    (only,) = result.results
    assert only.accuracy.shape == (20, 20)
    metrics = json.loads((only.directory / "metrics.json").read_text())
    assert metrics["eval_sample"] == config.run.eval_sample and metrics["ACC"] > 0.5
    confusion = (only.directory / "task_confusion.csv").read_text().splitlines()[1:]
    assert [sum(map(int, line.split(",")[1:])) for line in confusion] == [config.run.eval_sample] * 20
