"""End-to-end tests of the `supermasks` command, in-process and as a real subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from supermasks.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_run_end_to_end_on_synthetic_data(tmp_path, capsys):
    code = main(["run", str(ROOT / "configs" / "supsup.yaml"), "data.source=synthetic", "data.num_tasks=2",
                 "training.steps_per_task=10", "run.figures=false", f"run.out_dir={tmp_path}", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert "mean overlap fc1" in out
    run_dir = out.strip().splitlines()[-1].removeprefix("run directory: ")
    assert Path(run_dir).parent == tmp_path
    assert (Path(run_dir) / "rotated" / "supsup" / "accuracy.csv").is_file()


def test_unknown_key_is_a_clear_error_not_a_traceback(tmp_path, capsys):
    code = main(["run", str(ROOT / "configs" / "supsup.yaml"), "num_task=3"])
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown config key 'num_task'" in err and "Valid keys:" in err and "Traceback" not in err


def test_a_shipped_config_can_be_named_bare(capsys):
    code = main(["run", "supsup", "num_task=3"])  # resolved to configs/supsup.yaml, then loaded
    assert code == 2
    assert "unknown config key 'num_task'" in capsys.readouterr().err


def test_an_unknown_config_name_lists_the_shipped_ones(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["compare", "experiment9"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no config file 'experiment9'" in err and "experiment1" in err and "Traceback" not in err


def test_list_does_not_import_torch():
    probe = "import sys, supermasks.cli as c; c.main(['list']); assert 'torch' not in sys.modules, 'torch imported'"
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "methods:" in proc.stdout and "shipped configs:" in proc.stdout


def test_list_shows_every_family(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("benchmarks:", "permuted", "rotated", "split", "data sources:", "mnist-5k",
                 "models:", "fc-300-300", "lenet-300-100", "methods:", "supsup"):
        assert word in out
    permuted = next(line for line in out.splitlines() if line.strip().startswith("permuted"))
    assert "permute_fraction" in permuted  # the dial of how related permuted tasks are


def test_data_status_reports_the_embedded_subset(capsys):
    assert main(["data", "status"]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("mnist-5k"))
    assert "available" in line


def test_console_script_runs(tmp_path):
    exe = Path(sys.executable).parent / "supermasks"
    if not exe.exists():
        pytest.skip("the package is not installed as a console script in this environment")
    proc = subprocess.run([str(exe), "run", str(ROOT / "configs" / "supsup.yaml"), "training.lr=abc"],
                          capture_output=True, text=True, cwd=tmp_path, env=os.environ | {"PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 2
    assert "training.lr: expected float, got 'abc'" in proc.stderr


def test_data_list_is_status_and_names_cifar100(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("mnist-5k")
    line = next(l for l in out.splitlines() if l.startswith("cifar100"))
    assert "missing" in line or "available" in line
    assert "synthetic-cifar" in out
