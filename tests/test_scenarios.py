import pytest

from supermasks.config import ConfigError, load_config
from supermasks.runner import validate
from supermasks.scenarios import scenario_problem, task_id_at_test


def test_scenario_rules():
    assert scenario_problem("task", "permuted", "remap") is None
    assert "split benchmark" in scenario_problem("class", "rotated", "keep")
    assert "data.label_mode=keep" in scenario_problem("class", "split", "remap")
    assert "data.label_mode=remap" in scenario_problem("domain", "split", "keep")
    assert "unknown scenario" in scenario_problem("online", "split", "keep")
    assert task_id_at_test("task") and not task_id_at_test("domain") and not task_id_at_test("class")


@pytest.mark.parametrize("overrides, message", [
    (["scenario.name=class", "data.benchmark=permuted", "method=naive"], "class-incremental learning needs a split"),
    (["scenario.name=domain", "method=supsup"], "method 'supsup' cannot run in the 'domain' scenario"),
    (["data.benchmark=pair", "data.num_tasks=5"], "exactly 2 tasks"),
    (["run.eval_every=-1"], "eval_every"),
    (["method=[naive,naive]"], "names one twice"),
])
def test_invalid_combinations_fail_in_validation(overrides, message):
    with pytest.raises(ConfigError, match=message):
        validate(load_config(None, overrides))
