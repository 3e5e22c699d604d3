"""The wandb logger against a stand-in `wandb` module that records every call (and, where wandb is installed, offline)."""

from __future__ import annotations

import importlib.machinery
import sys
import types

import pytest
import yaml

from .helpers import LABEL, accuracy_cells, final_metrics, installed, plain, tiny_run


class _Run:
    def __init__(self, **kwargs) -> None:
        self.init = kwargs
        self.config: dict = {}
        self.summary: dict = {}
        self.logged: list[dict] = []
        self.axes: dict[str, str] = {}
        self.finished = False

    def define_metric(self, name: str, step_metric: str) -> None:
        self.axes[name] = step_metric

    def log(self, values: dict) -> None:
        self.logged.append(dict(values))

    def finish(self) -> None:
        self.finished = True


def _fake_wandb(monkeypatch) -> list[_Run]:
    runs: list[_Run] = []
    module = types.ModuleType("wandb")
    module.__spec__ = importlib.machinery.ModuleSpec("wandb", None)
    module.init = lambda **kwargs: runs.append(_Run(**kwargs)) or runs[-1]
    monkeypatch.setitem(sys.modules, "wandb", module)
    return runs


def test_every_step_every_row_and_the_final_metrics_reach_wandb_offline_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    runs = _fake_wandb(monkeypatch)
    run_dir, losses = tiny_run(tmp_path / "runs", ["wandb"], monkeypatch)
    (run,) = runs
    assert run.init == {"project": "experiment", "name": run_dir.name, "dir": str(run_dir), "mode": "offline"}
    assert run.finished
    assert run.config == plain(yaml.safe_load((run_dir / "config.yaml").read_text()))
    assert run.axes == {f"{LABEL}/loss": f"{LABEL}/step", f"{LABEL}/accuracy/*": f"{LABEL}/task"}
    steps = [entry for entry in run.logged if f"{LABEL}/step" in entry]
    assert steps == [{f"{LABEL}/loss": v, f"{LABEL}/step": i} for i, v in enumerate(losses)]
    rows = [entry for entry in run.logged if f"{LABEL}/task" in entry]
    assert {(k, row[f"{LABEL}/task"]): v for row in rows for k, v in row.items() if k != f"{LABEL}/task"} == \
        accuracy_cells(run_dir)
    assert run.summary == final_metrics(run_dir)


def test_wandb_mode_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    runs = _fake_wandb(monkeypatch)
    tiny_run(tmp_path / "runs", ["wandb"], monkeypatch)
    assert runs[0].init["mode"] == "disabled"


@pytest.mark.skipif(not installed("wandb"), reason="wandb is not installed: pip install 'supermasks[wandb]'")
def test_a_real_offline_run_writes_under_the_run_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run_dir, _ = tiny_run(tmp_path / "runs", ["wandb"], monkeypatch)
    assert list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
