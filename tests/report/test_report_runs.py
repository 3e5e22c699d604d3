"""Reports of other kinds of runs: task inference (GNu) and a study run through the command line."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pandas as pd

from supermasks.cli import main
from supermasks.config import load_config
from supermasks.report import build_report, render
from supermasks.runner import run

from .pageparse import column, parse


def test_a_task_inference_run_shows_its_tables_and_confusion(tmp_path):
    config = load_config(None, ["data.source=synthetic", "data.benchmark=permuted", "data.num_tasks=2",
                                "training.steps_per_task=10", "training.batch_size=32", "scenario.name=gnu",
                                "run.overlap=false", "run.figures=false", "scenario.inference_batch_size=50",
                                f"run.out_dir={tmp_path}"])
    finished = run(config, progress=False)
    result = finished.results[0]
    page = parse(render(build_report([finished.directory])))
    assert "inference" in page.sections and "inference" in page.toc
    (table,) = page.tables["inference"]
    stored = pd.read_csv(result.directory / "task_inference.csv")
    for task in ("task_0", "task_1"):
        shown = [float(v) if v else float("nan") for v, _ in column(table, task)]
        pd.testing.assert_series_equal(pd.Series(shown), stored[task], check_names=False)
    assert any(c.startswith("permuted/supsup: task inference after the last task.") for c in page.captions)
    assert "task inference %" in page.tables["metrics"][0]["header"]


STUDY = """
name: tiny-study
method: supsup
seeds: [0, 1]
data: {benchmark: [rotated], source: synthetic, num_tasks: 3, rotation_step: 15}
training: {steps_per_task: 5, batch_size: 32}
run: {overlap: true, figures: false, out_dir: OUT}
parts:
  only: {}
"""


def test_a_study_writes_its_report_and_prints_its_path(tmp_path):
    study_file = tmp_path / "tiny-study.yaml"
    study_file.write_text(STUDY.replace("OUT", str(tmp_path / "runs")))
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["run", str(study_file), "--no-progress"]) == 0
    lines = buffer.getvalue().strip().splitlines()
    directory = Path(lines[-1].removeprefix("study directory: "))
    assert lines[-2] == f"report: {directory / 'report.html'}"
    page = parse((directory / "report.html").read_text(encoding="utf-8"))
    assert page.sections[:4] == ["summary", "seeds", "experiment1", "metrics"]
    html = (directory / "report.html").read_text(encoding="utf-8")
    # Experiment 1's question heads the page, its answer (3 layers, one measure spoken of) and figure follow
    assert "<h2>Does mask overlap follow task relatedness?</h2>" in html and '<figure class="answer">' in html
    assert re.search(r'<p class="answer">(Yes|No)\b[^<]* 3 tests of variant, benchmark and layer', html)
    assert not [s for s in page.summary if "Mantel" in s]  # no sentence per test: they are the table's rows


def _nns_config(tmp_path):
    """Three permuted synthetic tasks streamed to NNs, 20 steps each, a new-task check every 10 batches."""
    return load_config(None, ["data.source=synthetic", "data.benchmark=permuted", "data.num_tasks=3",
                              "training.steps_per_task=20", "training.batch_size=32", "scenario.name=nns",
                              "scenario.nns.check_every=10", "scenario.nns.warmup=10",
                              "scenario.inference_batch_size=50", "run.figures=false", f"run.out_dir={tmp_path}"])


def test_an_nns_run_shows_the_boundaries_it_found(tmp_path):
    import json

    config = _nns_config(tmp_path)
    finished = run(config, progress=False)
    found = json.loads((finished.results[0].directory / "boundaries.json").read_text())
    page = parse(render(build_report([finished.directory], figures=False)))
    table = next(t for t in page.tables["inference"] if t["header"] == ["boundaries", "batches"])
    shown = dict((row[0][1], row[1][1]) for row in table["rows"])
    assert shown["true task starts"] == ", ".join(map(str, found["true"])) == "0, 20, 40"
    assert shown["found"] == (", ".join(map(str, found["detected"])) or "none")


def test_an_nns_run_draws_the_masks_it_chose_whatever_their_number(tmp_path):
    # NNs may allocate fewer (or more) masks than there are tasks: the confusion is tasks x masks.
    config = _nns_config(tmp_path)
    finished = run(config, progress=False)
    confusion = pd.read_csv(finished.results[0].directory / "task_confusion.csv")
    # A stored table with fewer masks than tasks, as a short NNs run finds them (1 mask for 3 tasks).
    pd.DataFrame({"task": [0, 1, 2], "mask_0": confusion.drop(columns="task").sum(axis=1)}).to_csv(
        finished.results[0].directory / "task_confusion.csv", index=False)
    page = parse(render(build_report([finished.directory])))  # with figures: this drew a square matrix and failed
    (caption,) = [c for c in page.captions if "task inference after the last task" in c]
    assert "the mask NNs chose" in caption
