"""The example scripts under examples/ run as a user would run them, each in a folder of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_python_api_example_runs(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "python_api.py"), str(tmp_path / "runs")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert "after task 2" in proc.stdout and "'ACC'" in proc.stdout
    for task in range(3):
        assert any(line.startswith(f"task {task}: accuracy") and line.endswith(f"inferred task {task}")
                   for line in lines), proc.stdout


def test_the_import_path_example_runs_and_earlier_tasks_keep_their_accuracy(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "from_config.py"), str(tmp_path / "runs")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    import pandas as pd

    r = pd.read_csv(run_dir / "own" / "supsup" / "accuracy.csv").drop(columns="after").to_numpy()
    for task in range(3):  # a task's own mask: its accuracy does not move while later tasks train
        assert (r[task:, task] == r[task, task]).all()
    assert f"run directory: {run_dir}" in proc.stdout
