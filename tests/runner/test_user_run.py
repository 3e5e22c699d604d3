"""A user's own network and tasks through `runner.run`, the CLI, a sweep and a study: named by import path or given."""

import json
import textwrap

import pandas as pd
import pytest
import torch

from supermasks import masked, tasks_from
from supermasks.cli import main
from supermasks.config import ConfigError, from_dict
from supermasks.config.records import run_directory
from supermasks.runner import run
from supermasks.studies.grid import load_study, run_study
from supermasks.sweep import load_sweep, local_executor, run_sweep
from tests.own_network import column_tasks as tasks, small_net as net

FAST = {"training": {"steps_per_task": 15, "batch_size": 16, "lr": 0.01},
        "run": {"figures": False, "report": False, "overlap": False, "checkpoint_state": False}}

# The user's package: a conv + BN + linear network and three tasks of 1x6x6 inputs, each its own rule.
PACKAGE = '''
import torch
from torch import nn
import supermasks


class Net(nn.Module):
    def __init__(self, out):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 6 * 6, out, bias=False)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


def network(output_size):
    return Net(output_size)


def kept_network():
    torch.manual_seed(7)
    return supermasks.masked(Net(3), init="keep")


def data():
    g = torch.Generator().manual_seed(0)
    sets = []
    for t in range(3):
        x = torch.randn(80, 1, 6, 6, generator=g)
        sets.append((x, (x[:, 0, t, :].sum(1) > 0).long()))
    return [s for s in sets], [(x[:20], y[:20]) for x, y in sets]


def not_a_function_either():
    return 42
'''


@pytest.fixture
def package(tmp_path, monkeypatch):
    """`userpkg` importable from tmp_path, as a user's code on PYTHONPATH is."""
    name = f"userpkg_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(PACKAGE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return name


def config(tmp_path, **extra):
    return from_dict({**FAST, "run": {**FAST["run"], "out_dir": str(tmp_path / "runs")}, **extra})


def test_given_network_and_tasks_run_and_earlier_tasks_keep_their_accuracy(tmp_path):
    result = run(config(tmp_path), model=masked(net(), seed=2), tasks=tasks(), progress=False)
    assert result.directory.parent == tmp_path / "runs" and result.directory.name.startswith("experiment-")
    r = pd.read_csv(result.directory / "own" / "supsup" / "accuracy.csv").drop(columns="after").to_numpy()
    assert r.shape == (3, 3)
    # Each task's own mask and BN statistics are fixed once learned: later tasks change nothing of them.
    assert r[0, 0] == r[1, 0] == r[2, 0] and r[1, 1] == r[2, 1]
    assert r[2, 2] > 0.6  # it learned something (chance is 0.5)
    meta = json.loads((result.directory / "meta.json").read_text())
    assert meta["status"] == "finished" and meta["source"].startswith("<given tasks ")
    again = run(config(tmp_path), model=masked(net(), seed=2), tasks=tasks(), progress=False)
    assert again.skipped and again.directory == result.directory


def test_different_networks_and_data_never_share_a_directory(tmp_path):
    base = config(tmp_path)
    one = run(base, model=masked(net(), seed=0), tasks=tasks(2), progress=False).directory
    other_weights = run(base, model=masked(net(), seed=1), tasks=tasks(2), progress=False).directory
    other_data = run(base, model=masked(net(), seed=0), tasks=tasks(3), progress=False).directory
    assert len({one, other_weights, other_data}) == 3
    assert run_directory(base) not in {one, other_weights, other_data}  # the config alone is another run


def test_a_registered_network_on_given_tasks_and_a_plain_module(tmp_path):
    flat = tasks_from([(torch.randn(40, 784), torch.randint(0, 4, (40,)))], [(torch.randn(10, 784), torch.arange(10) % 4)])
    result = run(config(tmp_path, model={"arch": "fc-300-300"}), tasks=flat, progress=False)
    assert (result.directory / "own" / "supsup" / "accuracy.csv").is_file()
    plain = run(config(tmp_path), model=net(), tasks=tasks(1), progress=False)  # masked here, with the run's seed
    assert (plain.directory / "own" / "supsup" / "accuracy.csv").is_file()


def test_refusals(tmp_path):
    with pytest.raises(ConfigError, match=r"method separate_heads cannot train it \(it freezes a trunk under "
                                          r"per-task heads.*\)\. Use method=supsup, naive, joint, ewc, replay, upper_bound"):
        run(config(tmp_path, method=["supsup", "separate_heads"]), model=masked(net()), tasks=tasks(1), progress=False)
    wide = tasks_from([(torch.randn(8, 1, 6, 6), torch.arange(8) % 3)], [(torch.randn(4, 1, 6, 6), torch.arange(4))])
    with pytest.raises(Exception, match=r"gives 2 logits, fewer than the tasks' 4 classes: widen its output layer"):
        run(config(tmp_path), model=masked(net()), tasks=wide, progress=False)
    odd = tasks_from([(torch.randn(8, 1, 5, 5), torch.arange(8) % 2)], [(torch.randn(4, 1, 5, 5), torch.arange(4) % 2)])
    with pytest.raises(Exception, match=r"cannot take the tasks' inputs of shape \(1, 5, 5\)"):
        run(config(tmp_path), model=masked(net()), tasks=odd, progress=False)
    with pytest.raises(ConfigError, match="is a network given to runner.run"):
        run(config(tmp_path, model={"arch": "<given network 0123456789abcdef>"}), tasks=tasks(1), progress=False)
    with pytest.raises(ConfigError, match=r"source .* gives its own tasks: set data.benchmark=\[own\]"):
        from_dict({"data": {"source": "userpkg:data"}})


def own_yaml(package: str, name: str, rest: str = "") -> str:
    """A config naming the test package's network and data by import path, five steps a task, then `rest`."""
    return textwrap.dedent(f"""
        name: {name}
        model: {{arch: "{package}:network", output_size: 2}}
        data: {{source: "{package}:data", benchmark: [own], num_tasks: 2}}
        training: {{steps_per_task: 5, batch_size: 16}}
    """) + textwrap.dedent(rest)


def test_import_paths_from_a_config_the_cli_and_errors(tmp_path, package, capsys):
    values = {**FAST, "run": {**FAST["run"], "out_dir": str(tmp_path / "runs")},
              "model": {"arch": f"{package}:network", "output_size": 2},
              "data": {"source": f"{package}:data", "benchmark": ["own"], "num_tasks": 2}}
    first = run(from_dict(values), progress=False)
    r = pd.read_csv(first.directory / "own" / "supsup" / "accuracy.csv").drop(columns="after").to_numpy()
    assert r.shape == (2, 2) and r[0, 0] == r[1, 0]
    # Another seed draws other fixed weights: another network, another directory.
    assert run_directory(from_dict({**values, "seed": 1})) != first.directory
    kept = run(from_dict({**values, "model": {"arch": f"{package}:kept_network"}}), progress=False)
    assert kept.directory != first.directory
    path = tmp_path / "own.yaml"
    path.write_text(own_yaml(package, "own", f"""
        run: {{figures: false, report: false, overlap: false, out_dir: "{tmp_path / 'cli'}"}}
    """))
    assert main(["run", str(path), "--no-progress"]) == 0
    assert list((tmp_path / "cli").glob("own-*/own/supsup/accuracy.csv"))
    capsys.readouterr()
    for arch, message in [(f"{package}_missing:network", f"model.arch: cannot import {package}_missing"),
                          (f"{package}:nothing", f"model.arch: module {package} has no attribute 'nothing'"),
                          (f"{package}:not_a_function_either", "what it returned) must be a torch.nn.Module, got int")]:
        assert main(["run", str(path), f"model.arch={arch}", "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("supermasks: error: ") and message in err and len(err.splitlines()) == 1, err
    with pytest.raises(ConfigError, match="data.num_tasks=5, but data.source .* gives 3 tasks: set data.num_tasks=3"):
        run(from_dict({**values, "data": {**values["data"], "num_tasks": 5}}), progress=False)


def test_a_sweep_and_a_study_of_import_paths(tmp_path, package):
    path = tmp_path / "sweep.yaml"
    path.write_text(own_yaml(package, "ownsweep", """
        run: {figures: false, report: false, overlap: false}
    """))
    sweep = load_sweep(path, [f"run.out_dir={tmp_path / 'sweep'}", "training.lr=0.001,0.01"], seeds=1)
    record = run_sweep(sweep, local_executor, progress=False)
    assert record.summary() == {"done": 2, "skipped": 0, "failed": 0, "pending": 0}
    assert len({r.directory for r in sweep.runs}) == 2
    study = tmp_path / "study.yaml"
    study.write_text(own_yaml(package, "ownstudy", """
        run: {figures: false, report: false, overlap: false}
        parts:
          masks:
            method: [supsup]
            grid:
              model.mask_rule: [threshold]
    """))
    frame = run_study(load_study(study, [f"run.out_dir={tmp_path / 'study'}"]), progress=False)
    assert len(frame) == 1 and frame["ACC"].notna().all()


def test_the_example_script_runs(tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "own_network.py"
    spec = importlib.util.spec_from_file_location("own_network_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--steps", "20", "--out", str(tmp_path)])
    r = result.results[0].accuracy
    assert r.shape == (3, 3) and r[0, 0] == r[2, 0]
    out = capsys.readouterr().out
    assert out.startswith("accuracy (row: after task, column: task):") and f"run directory: {result.directory}" in out
