"""Tiny finished runs for the report's tests: naive and SupSup on three rotated synthetic tasks, two seeds.

Seed 0 is run through the CLI with the report on (the run writes report.html), seed 1 with it off.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from supermasks.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = ["method=[naive,supsup]", "data.benchmark=rotated", "data.source=synthetic", "data.num_tasks=3", "data.rotation_step=15",
        "training.steps_per_task=10", "run.eval_every=5", "scenario.name=task", "run.overlap=true",
        "run.figures=false", "--no-progress"]


def run_cli(out_dir: Path, *extra: str) -> tuple[Path, str]:
    """Run the tiny config through the CLI; (its run directory, what it printed)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["run", str(ROOT / "configs" / "compare.yaml"), *TINY, f"run.out_dir={out_dir}", *extra])
    out = buffer.getvalue()
    assert code == 0, out
    return Path(out.strip().splitlines()[-1].removeprefix("run directory: ")), out


@pytest.fixture(scope="package")
def tiny_runs(tmp_path_factory) -> dict:
    """{"runs": [seed 0's directory, seed 1's], "out": [what each run printed]}."""
    out_dir = tmp_path_factory.mktemp("report-runs")
    first = run_cli(out_dir, "seed=0")
    second = run_cli(out_dir, "seed=1", "run.report=false")
    return {"runs": [first[0], second[0]], "out": [first[1], second[1]]}


@pytest.fixture(scope="package")
def run_page(tiny_runs, tmp_path_factory) -> Path:
    """The full report (figures drawn) of seed 0's run, written by `supermasks report`."""
    out = tmp_path_factory.mktemp("report-page") / "report.html"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["report", str(tiny_runs["runs"][0]), "-o", str(out)]) == 0
    assert buffer.getvalue().strip() == f"report: {out}"
    return out


TRANSFER_STUDY = """
name: tiny-transfer
method: [supsup]
data: {source: synthetic, num_tasks: 3}
model: {arch: fc-300-300, batch_norm: true}
training: {optimizer: adam, lr: 0.01, batch_size: 32}
scenario: {inference_batch_size: 50}
run: {overlap: false, out_dir: OUT}
transfer_study:
  transfers: [random, mean, similar, soft]
  budgets: [1, 3]
  seeds: [0, 1]
  benchmarks:
    rotated_small: {data: {benchmark: [rotated], rotation_step: 10}}
"""

INFERENCE_STUDY = """
name: tiny-inference
method: [supsup]
data: {benchmark: [permuted], source: synthetic, num_tasks: 3}
training: {steps_per_task: 10, batch_size: 32}
scenario: {inference_batch_size: 50}
run: {overlap: false, figures: false, out_dir: OUT}
parts:
  given: {scenario.name: task}
  oneshot_H:
    scenario.name: gnu
    supsup: {task_inference: oneshot, inference_objective: H}
  signature:
    scenario.name: gnu
    supsup.task_inference: signature
    model.batch_norm: true
"""


def run_study_cli(tmp: Path, text: str) -> tuple[Path, str]:
    """Run a study file through the CLI; (its study directory, what it printed)."""
    path = tmp / "study.yaml"
    path.write_text(text.replace("OUT", str(tmp / "runs")))
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["run", str(path), "--no-progress"]) == 0
    out = buffer.getvalue()
    return Path(out.strip().splitlines()[-1].removeprefix("study directory: ")), out


@pytest.fixture(scope="package")
def transfer_study(tmp_path_factory) -> tuple[Path, str]:
    """A tiny Experiment 2 (one benchmark, two seeds, four modes, budgets 1 and 3 steps) run from the CLI."""
    return run_study_cli(tmp_path_factory.mktemp("transfer-study"), TRANSFER_STUDY)


@pytest.fixture(scope="package")
def inference_study(tmp_path_factory) -> tuple[Path, str]:
    """A tiny Experiment 3 (the task id given, one-shot H and signature inference on three tasks) from the CLI."""
    return run_study_cli(tmp_path_factory.mktemp("inference-study"), INFERENCE_STUDY)
