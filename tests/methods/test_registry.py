"""Every registered method, in every scenario it supports, on tiny synthetic tasks."""

import numpy as np
import pytest

from supermasks.config import load_config
from supermasks.runner import validate
from supermasks.runner.loop import run_method
from supermasks.methods import list_methods, method_spec
from supermasks.scenarios import SCENARIOS
from tests.conftest import make_tasks

CASES = [(name, scenario) for name in list_methods() for scenario in sorted(method_spec(name).scenarios)]


def config_for(scenario, tmp_path, *extra):
    return load_config(None, ["data.source=synthetic", "data.num_tasks=2", "training.steps_per_task=30", "training.batch_size=32",
                              "training.optimizer=adam", "training.lr=1e-3", "model.output_size=4", "run.overlap=false",
                              f"scenario.name={scenario}", f"run.out_dir={tmp_path}", *extra])


@pytest.mark.parametrize("name, scenario", CASES)
def test_every_method_learns_and_reports(name, scenario, tmp_path):
    config = config_for(scenario, tmp_path, f"method={name}", *(["ewc.samples=32"] if name == "ewc" else []))
    tasks = make_tasks(num_tasks=2, n_train=128, n_test=64)
    result = run_method(config, "synthetic", name, tasks, tmp_path / name, progress=False)
    r = result.accuracy
    assert np.isfinite(np.diag(r)).all() and np.isfinite(r[-1]).all()
    assert r[0, 0] > 0.6  # four well-separated classes: far above chance (0.25) after 30 steps
    assert result.metrics["memory_total_bytes"] > 0
    assert result.metrics["seconds_per_task"] > 0
    assert (tmp_path / name / "accuracy.csv").is_file()


@pytest.mark.parametrize("name", list_methods())
def test_unsupported_scenarios_are_refused_before_training(name, tmp_path):
    supported = method_spec(name).scenarios
    for scenario in set(SCENARIOS) - supported:
        extra = ["data.benchmark=split", "data.label_mode=keep"] if scenario == "class" else []
        config = load_config(None, [f"method={name}", f"scenario.name={scenario}", *extra, f"run.out_dir={tmp_path}"])
        with pytest.raises(Exception, match=f"method '{name}' cannot run in the '{scenario}' scenario"):
            validate(config)


def test_every_method_is_listed_with_a_description():
    for name, description in list_methods().items():
        assert description and method_spec(name).scenarios <= set(SCENARIOS)
