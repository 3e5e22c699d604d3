"""examples/loggers.py runs as a user runs it and leaves TensorBoard's event files in its run directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import installed, read_tfevents

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not installed("tensorboard", "tensorboardX"),
                    reason="needs tensorboardX or tensorboard: pip install 'supermasks[tensorboard]'")
def test_the_example_logs_to_tensorboard(tmp_path):
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
                        "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "loggers.py"), "tensorboard", "--out-dir",
                           str(tmp_path)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = tmp_path.iterdir()
    assert f"tensorboard --logdir {run_dir / 'tensorboard'}" in proc.stdout
    scalars, _ = read_tfevents(run_dir / "tensorboard")
    assert [step for step, _ in scalars["permuted/supsup/loss"]] == list(range(40))  # 2 tasks x 20 steps


def test_the_example_refuses_an_unknown_logger_in_one_line(tmp_path):
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "loggers.py"), "tensorbord", "--out-dir",
                           str(tmp_path)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode != 0
    assert "run.loggers: unknown logger 'tensorbord'; choose from tensorboard, mlflow, wandb" in proc.stderr
    assert not any(tmp_path.iterdir())
