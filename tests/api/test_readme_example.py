"""README's Python example runs from an installed wheel, in a folder outside the repository."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.wheels import build_wheel

ROOT = Path(__file__).resolve().parents[2]
# Shortened so that the suite stays quick: the synthetic source, a few steps, no figures; the code is the README's.
SHORTER = '["data.num_tasks=3", "data.source=synthetic", "training.steps_per_task=5", "run.figures=false", ' \
          '"run.out_dir=runs"]'


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"From Python, the same.*?```python\n(.*?)```", text, flags=re.S)
    assert block, "README has no Python example after 'From Python, the same'"
    return block.group(1)


def test_the_readme_python_example_runs_from_an_installed_wheel(tmp_path):
    pytest.importorskip("setuptools", minversion="77")
    example = _readme_example()
    assert '["data.num_tasks=3"]' in example
    wheel = build_wheel(tmp_path)
    installed = tmp_path / "installed"
    zipfile.ZipFile(wheel).extractall(installed)  # what pip puts into site-packages
    work = tmp_path / "elsewhere"
    work.mkdir()
    script = example.replace('["data.num_tasks=3"]', SHORTER) + (
        "\nimport supermasks as s, pathlib\nassert pathlib.Path(s.__file__).is_relative_to(pathlib.Path("
        f"{str(installed)!r})), s.__file__\nprint('model', model.name, model.tasks_learned)\n")
    env = {**os.environ, "PYTHONPATH": str(installed), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=work, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ACC" in proc.stdout and "model supsup 3" in proc.stdout
    (run_dir,) = (work / "runs").iterdir()
    assert (run_dir / "report.html").is_file()
