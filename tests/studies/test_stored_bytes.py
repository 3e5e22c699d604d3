"""Accuracy against total stored bytes in a study directory and a compare run: the numbers are the runs' own."""

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from supermasks.cli import main
from supermasks.studies.grid import load_study, run_study

STUDY = """
name: bytes
seeds: [0, 1]
data: {benchmark: [permuted], source: synthetic, num_tasks: 2}
scenario: {name: task}
training: {steps_per_task: 3, batch_size: 16}
run: {overlap: false, figures: false, report: false}
parts:
  masks:
    method: [supsup]
    grid:
      training.lr: [0.001, 0.01]
  dense:
    method: [naive, upper_bound]
"""
TINY = ["data.source=synthetic", "data.num_tasks=2", "training.steps_per_task=3", "training.batch_size=16",
        "run.overlap=false", "run.report=false", "--no-progress"]
COMPARE = Path(__file__).resolve().parents[2] / "configs" / "compare.yaml"


def own_numbers(run: Path, benchmark: str, method: str) -> tuple[float, float]:
    """(ACC as mean_j R[T-1, j] of accuracy.csv, memory_total_bytes of metrics.json) of one run's method."""
    where = run / benchmark / method
    r = pd.read_csv(where / "accuracy.csv", index_col=0).to_numpy()
    return float(np.mean(r[-1])), float(json.loads((where / "metrics.json").read_text())["memory_total_bytes"])


def test_a_study_with_seeds_sets_the_mean_over_seeds_of_each_run_against_its_bytes(tmp_path):
    path = tmp_path / "bytes.yaml"
    path.write_text(STUDY)
    study = load_study(path, [f"run.out_dir={tmp_path}"])
    run_study(study, progress=False)
    points = pd.read_csv(study.directory() / "accuracy_vs_bytes.csv")
    # A point per part, grid point and method; a part of two methods is a series per method
    assert [(p, m) for p, m in zip(points["part"], points["method"])] == [
        ("masks", "supsup"), ("masks", "supsup"), ("dense", "naive"), ("dense", "upper_bound")]
    assert points["label"].tolist() == ["masks: training.lr=0.001", "masks: training.lr=0.01", "dense / naive",
                                        "dense / upper_bound"]
    assert (points["n_runs"] == 2).all()
    table = pd.read_csv(study.directory() / "study.csv")
    lr = table["grid.training.lr"].fillna(-1.0)
    for point in points.to_dict("records"):
        chosen = table[(table["part"] == point["part"]) & (table["method"] == point["method"])
                       & (lr == (-1.0 if pd.isna(point["grid.training.lr"]) else point["grid.training.lr"]))]
        assert sorted(chosen["seed"]) == [0, 1]
        own = [own_numbers(Path(run), "permuted", point["method"]) for run in chosen["run_directory"]]
        assert point["ACC"] == pytest.approx(np.mean([a for a, _ in own]), abs=1e-12)
        assert point["memory_total_bytes"] == pytest.approx(np.mean([b for _, b in own]), rel=1e-12)
    # upper_bound keeps a whole network per task, naive one trunk and two heads
    bytes_of = dict(zip(points["method"], points["memory_total_bytes"]))
    assert bytes_of["upper_bound"] > 1.9 * bytes_of["naive"]
    assert (study.directory() / "figures" / "accuracy_vs_bytes.png").stat().st_size > 0


def test_a_study_of_a_single_run_writes_its_point_and_says_why_there_is_no_figure(tmp_path, caplog):
    path = tmp_path / "one.yaml"
    path.write_text(STUDY.replace("seeds: [0, 1]\n", "").split("parts:")[0] + "parts:\n  only: {method: [naive]}\n")
    study = load_study(path, [f"run.out_dir={tmp_path}"])
    with caplog.at_level(logging.INFO, logger="supermasks"):
        run_study(study, progress=False)
    assert len(pd.read_csv(study.directory() / "accuracy_vs_bytes.csv")) == 1
    assert not (study.directory() / "figures" / "accuracy_vs_bytes.png").exists()
    assert "1 point(s) of accuracy against stored bytes, so no accuracy_vs_bytes figure" in caplog.text


def run_directory(output: str) -> Path:
    return Path(output.strip().splitlines()[-1].removeprefix("run directory: "))


def test_compare_writes_each_methods_accuracy_against_its_bytes(tmp_path, capsys):
    code = main(["compare", str(COMPARE), "method=[naive,upper_bound,supsup]", "scenario.name=task",
                 f"run.out_dir={tmp_path}", *TINY, "run.figures=true"])
    assert code == 0
    run = run_directory(capsys.readouterr().out)
    points = pd.read_csv(run / "accuracy_vs_bytes.csv")
    assert points["method"].tolist() == ["naive", "upper_bound", "supsup"]
    for point in points.to_dict("records"):
        acc, stored = own_numbers(run, "permuted", point["method"])
        assert point["ACC"] == pytest.approx(acc, abs=1e-12) and point["memory_total_bytes"] == stored
    assert (run / "figures" / "accuracy_vs_bytes.png").stat().st_size > 0


def test_compare_without_figures_keeps_the_table_and_a_single_method_writes_neither(tmp_path, capsys):
    assert main(["compare", str(COMPARE), "method=[naive,upper_bound]", "scenario.name=task",
                 f"run.out_dir={tmp_path}", *TINY, "run.figures=false"]) == 0
    run = run_directory(capsys.readouterr().out)
    assert len(pd.read_csv(run / "accuracy_vs_bytes.csv")) == 2
    assert not (run / "figures").exists()
    assert main(["run", str(COMPARE), "method=[naive]", "scenario.name=task", f"run.out_dir={tmp_path}", *TINY,
                 "run.figures=true"]) == 0
    single = run_directory(capsys.readouterr().out)
    assert not (single / "accuracy_vs_bytes.csv").exists() and not (single / "figures").exists()


def test_the_reports_of_a_study_and_a_compare_run_show_the_saved_table_and_figure(tmp_path, capsys):
    from supermasks.report.html import build_report

    path = tmp_path / "bytes.yaml"
    path.write_text(STUDY.replace("seeds: [0, 1]\n", ""))
    study = load_study(path, [f"run.out_dir={tmp_path}"])
    run_study(study, progress=False)
    assert main(["compare", str(COMPARE), "method=[naive,upper_bound]", "scenario.name=task",
                 f"run.out_dir={tmp_path}", *TINY, "run.figures=true"]) == 0
    compared = run_directory(capsys.readouterr().out)
    for directory in (study.directory(), compared):
        (section,) = [s for s in build_report([directory], figures=False).sections if s.id == "storage"]
        figure, table = section.blocks
        assert figure.kind == "figure" and figure.uri.startswith("data:image/png;base64,")
        saved = pd.read_csv(directory / "accuracy_vs_bytes.csv")
        assert [row[0].text for row in table.rows] == saved["label"].tolist()
        assert [row[4].value for row in table.rows] == saved["memory_total_bytes"].tolist()
