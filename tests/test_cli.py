"""End-to-end tests of the `supermasks` command, in-process and as a real subprocess."""

import logging
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


# -q and -v set the console's level; they may come before the subcommand or anywhere after it.
@pytest.mark.parametrize("argv, level", [
    (["list"], logging.INFO),
    (["-q", "list"], logging.WARNING),
    (["list", "-q"], logging.WARNING),
    (["list", "--quiet"], logging.WARNING),
    (["-v", "list"], logging.DEBUG),
    (["list", "-v"], logging.DEBUG),
    (["data", "status", "-q"], logging.WARNING),
    (["data", "-q", "status"], logging.WARNING),
    (["results", "list", "-q"], logging.WARNING),
])
def test_console_flags_are_accepted_before_and_after_the_subcommand(argv, level, capsys):
    assert main(argv) == 0
    assert capsys.readouterr().out  # the command ran
    assert logging.getLogger("supermasks").level == level


def test_quiet_after_the_subcommand_keeps_progress_off_the_console(tmp_path, capsys):
    config, *overrides = [str(ROOT / "configs" / "supsup.yaml"), "data.source=synthetic", "data.num_tasks=2",
                          "data.benchmark=[permuted]", "training.steps_per_task=5", "training.batch_size=16",
                          "run.figures=false", "run.report=false", f"run.out_dir={tmp_path}", "--no-progress"]
    assert main(["run", config, *overrides, "-q"]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == "" and "permuted/supsup: ACC" in quiet.out
    assert main(["run", config, *overrides]) == 0  # finished: skipped, and the console says so
    assert "has already finished" in capsys.readouterr().err
    assert main(["run", config, "--quiet", *overrides]) == 0  # between the config and its overrides
    quiet = capsys.readouterr()
    assert quiet.err == "" and "permuted/supsup: ACC" in quiet.out
