"""Experiment 3's, the forgetting study's and the replay study's pages open with their question, an answer whose
words follow the numbers, and one figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from supermasks.report import build_report, render
from supermasks.report.baseline_studies import (FORGETTING_QUESTION, REPLAY_QUESTION, forgetting_answer,
                                                forgetting_rows, replay_answer)
from supermasks.report.inference_study import QUESTION, inference_answer
from supermasks.report.model import Report
from supermasks.report.study_answer import study_answer

from .pageparse import parse


def _inference() -> pd.DataFrame:
    rows = []
    for benchmark, given, shares in (("permuted", 0.93, (1.0, 1.0, 1.0)), ("rotated", 0.92, (0.31, 0.74, 1.0)),
                                     ("split", 0.99, (0.20, 0.45, 1.0))):
        rows.append({"part": "given", "benchmark": benchmark, "method": "supsup", "ACC": given,
                     "task_inference_accuracy": np.nan, "inference_ms": np.nan})
        for part, share in zip(("oneshot_H", "binary_H", "signature"), shares):
            rows.append({"part": part, "benchmark": benchmark, "method": "supsup",
                         "ACC": given + 0.01 if part == "signature" else given * share,
                         "task_inference_accuracy": share, "inference_ms": 1.0})
    return pd.DataFrame(rows)


def test_the_experiment3_answer_names_the_best_and_worst_part_and_the_hardest_benchmark():
    assert inference_answer(_inference()) == [
        "Without the task id, signature found the task of the most test batches: 100.0% on every benchmark, its "
        "ACC +1.0 points from that with the task id given.",
        "oneshot_H found the fewest: 20.0% on split (ACC 19.8% against 99.0% with the task id given).",
        "The hardest benchmark is split, where the parts found 20.0% to 100.0% of the tasks; on permuted every part "
        "found every task."]
    # one benchmark, no part given the task id: no comparison, no hardest benchmark
    alone = _inference()
    alone = alone[(alone["benchmark"] == "rotated") & (alone["part"] != "given")]
    assert inference_answer(alone) == [
        "Without the task id, signature found the task of the most test batches: 100.0% on rotated, ACC 93.0%.",
        "oneshot_H found the fewest: 31.0% on rotated (ACC 28.5%)."]


def _forgetting(tmp_path: Path) -> Path:
    """A study directory of two hand-written 2-task runs (naive and supsup, two seeds of naive)."""
    study = tmp_path / "forgetting-0000"
    study.mkdir()
    rows = []
    for part, method, seed, r in (("shared_head", "naive", 0, [[0.97, np.nan], [0.40, 0.80]]),
                                  ("shared_head", "naive", 1, [[0.95, np.nan], [0.50, 0.82]]),
                                  ("supsup", "supsup", 0, [[0.95, np.nan], [0.94, 0.85]])):
        run = tmp_path / f"forgetting-{part}-{seed}"
        (run / "pair" / method).mkdir(parents=True)
        pd.DataFrame(r, columns=["task_0", "task_1"]).assign(after=["task_0", "task_1"])[
            ["after", "task_0", "task_1"]].to_csv(run / "pair" / method / "accuracy.csv", index=False)
        rows.append({"part": part, "seed": seed, "benchmark": "pair", "method": method, "ACC": np.mean(r[1]),
                     "first_task_accuracy": r[1][0], "run_directory": str(run)})
    pd.DataFrame(rows).to_csv(study / "study.csv", index=False)
    return study


def test_the_forgetting_answer_follows_the_runs_accuracy_matrices(tmp_path):
    study = _forgetting(tmp_path)
    rows = forgetting_rows(study, pd.read_csv(study / "study.csv"))
    assert rows["label"].tolist() == ["naive", "supsup"] and rows["seeds"].tolist() == [2, 1]
    np.testing.assert_allclose(rows["before"], [0.96, 0.95])
    np.testing.assert_allclose(rows["after"], [0.45, 0.94])
    assert forgetting_answer(rows) == [
        "After the last task, naive lost most of the first task: from 96.0% right after learning it to 45.0% "
        "(-51.0 points); supsup lost least: 95.0% to 94.0% (-1.0 points)."]
    # a method that ends above where it began (a short run, replay's samples) gained, and is not said to have lost
    gained = rows.assign(after=[0.40, 0.98])
    assert forgetting_answer(gained) == [
        "After the last task, naive lost most of the first task: from 96.0% right after learning it to 40.0% "
        "(-56.0 points); supsup gained most: 95.0% to 98.0% (+3.0 points)."]
    assert forgetting_answer(rows.assign(after=[0.97, 0.98]))[0].startswith(
        "After the last task, no method lost accuracy on the first task; supsup gained most")
    three = pd.concat([rows, rows.iloc[:1].assign(label="ewc", before=0.97, after=0.71, last=0.70)])
    assert forgetting_answer(three)[1] == ("What they kept of the first task, most first: supsup 94.0%, ewc 71.0%, "
                                           "naive 45.0%; the last task reached 70.0% (ewc) to 85.0% (supsup).")
    question, answer, figure = study_answer(study)
    assert question == FORGETTING_QUESTION and answer == forgetting_answer(rows)
    assert figure.title == "The first task: right after learning it, and after the last task"


def _replay() -> pd.DataFrame:
    rows = [{"part": "baseline", "grid.training.optimizer": optimizer, "benchmark": "split", "method": method,
             "ACC": 0.8, "first_task_accuracy": kept} for optimizer, method, kept in
            (("sgd", "naive", 1.0), ("sgd", "replay", 1.0), ("adam", "naive", 0.65), ("adam", "replay", 1.0))]
    rows += [{"part": "fraction", "grid.replay.fraction": fraction, "benchmark": "split", "method": "replay",
              "ACC": 0.9, "first_task_accuracy": kept}
             for fraction, kept in ((0.0, 0.65), (0.01, 0.83), (0.02, 0.992), (0.5, 1.0))]
    rows += [{"part": "selection", "grid.replay.selection": selection, "benchmark": "split", "method": "replay",
              "ACC": acc, "first_task_accuracy": 0.7} for selection, acc in (("random", 0.772), ("uncertain", 0.668))]
    return pd.DataFrame(rows)


def test_the_replay_answer_compares_with_and_without_the_fraction_and_the_selection(tmp_path):
    assert replay_answer(_replay()) == [
        "With replay the first task ends at 100.0% against 100.0% without it (baseline, optimizer=sgd); 100.0% "
        "against 65.0% without it (baseline, optimizer=adam).",
        "Storing 2% of a task keeps the first at 99.2%, within a point of the best (100.0%); storing nothing keeps "
        "65.0% (part fraction).",
        "By selection, ACC ranges from 66.8% (uncertain) to 77.2% (random)."]
    (tmp_path / "study.csv").write_text(_replay().to_csv(index=False))
    question, answer, figure = study_answer(tmp_path)
    assert question == REPLAY_QUESTION and len(answer) == 3
    assert figure.title == "The first task against the stored fraction"
    only_baseline = _replay()[lambda t: t["part"] == "baseline"].dropna(axis=1, how="all")
    only_baseline.to_csv(tmp_path / "study.csv", index=False)
    assert study_answer(tmp_path)[2].title == "The first task without and with replay"


def test_an_inference_study_opens_with_its_question_answer_and_one_figure(inference_study):
    directory, _ = inference_study
    report = build_report([directory], figures=False)
    assert report.question == QUESTION
    assert report.answer == inference_answer(pd.read_csv(directory / "study.csv")) and 2 <= len(report.answer) <= 3
    html = render(report)
    page = parse(html)
    assert page.images[0] == report.figure.uri and page.images.count(report.figure.uri) == 1  # first, once
    assert html.index(report.answer[0]) < html.index(report.figure.uri)
    assert parse(render(Report("t", [], []))).images == []


def test_the_terminal_prints_the_inference_studys_question_and_short_answer(inference_study):
    directory, out = inference_study
    answer = inference_answer(pd.read_csv(directory / "study.csv"))
    lines = out.splitlines()
    assert QUESTION in lines
    start = lines.index(QUESTION)
    printed = " ".join(lines[start + 1:start + 1 + 2 * len(answer) + 4])
    assert answer[0].split()[:6] == printed.split()[:6]  # the first sentence follows the question
    assert max(len(line) for line in lines) <= 200, [line for line in lines if len(line) > 200]
