"""run.loggers: its names checked at load, left out of the run's hash, a missing package refused before training."""

from __future__ import annotations

import sys

import pytest

from supermasks.config import load_config, to_dict
from supermasks.config.records import config_hash, stable_dict
from supermasks.errors import ConfigError
from supermasks.loggers import LOGGER_NAMES, Broadcast, check_loggers, flat_settings, numeric_metrics
from supermasks.loggers.registry import open_loggers
from supermasks.store.files import write_yaml

from .helpers import TINY


def test_no_loggers_by_default_and_several_at_once():
    assert load_config(None, []).run.loggers == []
    assert load_config(None, ["run.loggers=[tensorboard, mlflow, wandb]"]).run.loggers == list(LOGGER_NAMES)
    assert load_config(None, ["run.loggers=mlflow"]).run.loggers == ["mlflow"]
    assert load_config(None, ["run.loggers=[]"]).run.loggers == []


def test_an_unknown_logger_is_one_line_naming_the_choices():
    with pytest.raises(ConfigError) as caught:
        load_config(None, ["run.loggers=[tensorbord]"])
    assert str(caught.value) == "run.loggers: unknown logger 'tensorbord'; choose from tensorboard, mlflow, wandb"
    with pytest.raises(ConfigError, match="names one twice"):
        load_config(None, ["run.loggers=[mlflow, mlflow]"])


def test_loggers_are_not_part_of_the_run_hash_nor_of_a_study_name():
    plain = load_config(None, [])
    logged = load_config(None, ["run.loggers=[tensorboard, wandb]"])
    assert config_hash(logged) == config_hash(plain)
    assert stable_dict(logged) == stable_dict(plain)
    assert to_dict(logged)["run"]["loggers"] == ["tensorboard", "wandb"]  # config.yaml still says where output went


def test_config_yaml_with_or_without_loggers_reads_back(tmp_path):
    for loggers in ([], ["mlflow"]):
        config = load_config(None, [f"run.loggers=[{','.join(loggers)}]"])
        write_yaml(tmp_path / "config.yaml", to_dict(config))
        assert load_config(tmp_path / "config.yaml", []) == config


def test_other_lists_still_need_an_item():
    with pytest.raises(ConfigError, match="method: expected at least one str"):
        load_config(None, ["method=[]"])


@pytest.mark.parametrize("name, packages, extra", [("tensorboard", ("tensorboard", "tensorboardX"), "tensorboard"),
                                                   ("mlflow", ("mlflow",), "mlflow"), ("wandb", ("wandb",), "wandb")])
def test_a_missing_package_names_the_extra_before_any_directory_is_made(name, packages, extra, tmp_path, monkeypatch):
    for package in packages:  # None in sys.modules: not importable, and find_spec finds nothing
        monkeypatch.setitem(sys.modules, package, None)
    with pytest.raises(ConfigError) as caught:
        check_loggers([name])
    message = str(caught.value)
    assert "\n" not in message and f"pip install 'supermasks[{extra}]'" in message and message.startswith("run.loggers:")
    from supermasks.runner import run

    config = load_config(None, [*TINY, f"run.loggers=[{name}]", f"run.out_dir={tmp_path / 'runs'}"])
    with pytest.raises(ConfigError, match=extra):
        run(config, progress=False)
    assert not (tmp_path / "runs").exists()  # refused before the data was loaded or the run directory made


def test_no_loggers_open_nothing(tmp_path):
    with open_loggers([], tmp_path, name="x", settings={}) as loggers:
        assert loggers is None
    assert list(tmp_path.iterdir()) == []


class _Recorder:
    def __init__(self, calls: list, fail_close: bool = False) -> None:
        self.calls, self.fail_close = calls, fail_close

    def start(self, settings):
        self.calls.append(("start", dict(settings)))

    def log_losses(self, label, first_step, losses):
        self.calls.append(("losses", label, first_step, list(losses)))

    def log_accuracy(self, label, task_id, row):
        self.calls.append(("accuracy", label, task_id, list(row)))

    def log_metrics(self, label, metrics):
        self.calls.append(("metrics", label, dict(metrics)))

    def close(self):
        self.calls.append(("close",))
        if self.fail_close:
            raise OSError("disk full")


def test_broadcast_sends_every_call_to_each_and_closes_all_even_after_a_failure():
    first, second = [], []
    both = Broadcast([_Recorder(first, fail_close=True), _Recorder(second)])
    both.start({"seed": 0})
    both.log_losses("b/m", 5, [1.0, 0.5])
    both.log_accuracy("b/m", 1, [0.5, 0.75])
    both.log_metrics("b/m", {"ACC": 0.625})
    with pytest.raises(OSError, match="disk full"):
        both.close()
    expected = [("start", {"seed": 0}), ("losses", "b/m", 5, [1.0, 0.5]), ("accuracy", "b/m", 1, [0.5, 0.75]),
                ("metrics", "b/m", {"ACC": 0.625}), ("close",)]
    assert first == expected and second == expected


def test_flat_settings_and_numeric_metrics():
    assert flat_settings({"seed": 1, "training": {"lr": 0.1, "x": {"y": [1]}}}) == {
        "seed": 1, "training.lr": 0.1, "training.x.y": [1]}
    assert numeric_metrics({"ACC": 0.5, "n": 3, "scenario": "task", "ok": True, "FWT": float("nan"),
                            "list": [1]}) == {"ACC": 0.5, "n": 3.0}
