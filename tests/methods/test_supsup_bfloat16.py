"""SupSup with `training.precision=bfloat16` through the CLI: a run, its invariants, and what it refuses."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
from supermasks.cli import main
from supermasks.config import load_config
from supermasks.config.records import config_hash as run_hash
from supermasks.compute.devices import bfloat16_note
from tests.reliability.cli_helpers import TINY, one_line_error, tiny_config


def test_a_bfloat16_run_keeps_each_tasks_accuracy_and_records_its_precision(tmp_path: Path) -> None:
    config = tiny_config(tmp_path, "name: low\nmethod: supsup\n")
    assert main(["run", str(config), *TINY, "data.num_tasks=3", "training.steps_per_task=20",
                 "training.precision=bfloat16", f"run.out_dir={tmp_path}", "run.report=false"]) == 0
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    saved = (run / "config.yaml").read_text()
    assert "precision: bfloat16" in saved
    (acc,) = run.rglob("supsup/accuracy.csv")
    r = pd.read_csv(acc, index_col=0).to_numpy()
    # Task given: a finished task's mask is final, so its accuracy is the same after every later task.
    for j in range(3):
        assert len(set(r[j:, j].tolist())) == 1, r
    assert json.loads((run / "meta.json").read_text())["status"] == "finished"


def test_precision_is_part_of_the_run_identity_only_when_it_is_not_the_default(tmp_path: Path) -> None:
    config = tiny_config(tmp_path, "name: low\nmethod: supsup\n")
    default = load_config(config)
    explicit = load_config(config, ["training.precision=float32"])
    low = load_config(config, ["training.precision=bfloat16"])
    assert run_hash(default) == run_hash(explicit) != run_hash(low)


def test_dense_methods_refuse_bfloat16(tmp_path: Path, capsys) -> None:
    config = tiny_config(tmp_path, "name: dense\nmethod: naive\n")
    line = one_line_error(capsys, "run", config, *TINY, "training.precision=bfloat16", f"run.out_dir={tmp_path}")
    assert "training.precision=bfloat16" in line and "naive" in line and "training.precision=float32" in line


def test_an_unknown_precision_names_the_choices(tmp_path: Path, capsys) -> None:
    config = tiny_config(tmp_path)
    line = one_line_error(capsys, "run", config, *TINY, "training.precision=half", f"run.out_dir={tmp_path}")
    assert "training.precision" in line and "float32" in line and "bfloat16" in line


def test_a_cpu_without_bfloat16_units_is_named_in_the_log(tmp_path: Path, monkeypatch, caplog) -> None:
    import supermasks.runner.experiment as experiment

    monkeypatch.setattr(experiment, "bfloat16_note",
                        lambda device: bfloat16_note(device, frozenset({"avx2", "fma"})))
    config = tiny_config(tmp_path, "name: low\nmethod: supsup\n")
    with caplog.at_level(logging.WARNING):
        assert main(["run", str(config), *TINY, "training.precision=bfloat16", f"run.out_dir={tmp_path}",
                     "run.report=false"]) == 0
    assert "neither amx_bf16 nor avx512_bf16" in caplog.text


def test_task_inference_runs_in_the_models_precision(tmp_path: Path, monkeypatch) -> None:
    import supermasks.methods.supsup as supsup

    seen = []
    real = supsup.infer_task

    def spy(*args, precision: str = "float32", **kwargs):
        seen.append(precision)
        return real(*args, precision=precision, **kwargs)

    monkeypatch.setattr(supsup, "infer_task", spy)
    config = tiny_config(tmp_path, "name: low\nmethod: supsup\n")
    assert main(["run", str(config), *TINY, "scenario.name=gnu", "training.precision=bfloat16",
                 f"run.out_dir={tmp_path}", "run.report=false"]) == 0
    assert seen and set(seen) == {"bfloat16"}
    (metrics,) = tmp_path.rglob("supsup/metrics.json")
    assert 0.0 <= json.loads(metrics.read_text())["task_inference_accuracy"] <= 1.0


def test_bfloat16_products_and_autocast_are_not_combined(tmp_path: Path, capsys) -> None:
    config = tiny_config(tmp_path, "name: low\nmethod: supsup\n")
    line = one_line_error(capsys, "run", config, *TINY, "training.precision=bfloat16", "training.amp=true",
                          f"run.out_dir={tmp_path}")
    assert "choose one" in line and "training.amp=false" in line
