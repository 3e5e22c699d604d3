"""The 250-task PermutedMNIST GNu study (Wortsman, Ramanujan et al., NeurIPS 2020): it loads, and it runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from supermasks.config import load_config
from supermasks.runner import run, validate

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "permuted250.yaml"


def test_permuted250_config_validates() -> None:
    config = load_config(CONFIG)
    validate(config)
    assert config.data.num_tasks == 250 and config.model.arch == "lenet-300-100" and config.model.output_size == 100
    assert config.scenario.name == "gnu" and config.settings("supsup").task_inference == "oneshot"
    assert not config.run.overlap and not config.run.figures


@pytest.mark.slow
def test_permuted250_runs_end_to_end(tmp_path: Path) -> None:
    # Hours on 2 CPU cores (estimate in the config); excluded from the default suite.
    config = load_config(CONFIG, [f"run.out_dir={tmp_path}"])
    result = run(config, force=True, progress=False)
    assert not result.skipped and len(result.results) == 1
    (only,) = result.results
    assert only.accuracy.shape == (250, 250)
    assert (result.directory / "comparison.csv").is_file()
    assert (only.directory / "task_inference.csv").is_file()
