"""Reports of Experiment 2 (transfer) and Experiment 3 (task inference): numbers from the files, sentences that
follow them."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd

from supermasks.report import build_report, render
from supermasks.report.inference_study import inference_study_sentences
from supermasks.report.transfer import final_sentences

from .pageparse import column, parse

TRANSFER_SECTIONS = ["summary", "transfer", "similarity", "signature-inference", "provenance"]


def _floats(table: dict, header: str) -> list[float]:
    return [float(v) if v else np.nan for v, _ in column(table, header)]


def test_the_transfer_study_writes_its_report_and_prints_its_path(transfer_study):
    directory, out = transfer_study
    lines = out.strip().splitlines()
    assert lines[-2] == f"report: {directory / 'report.html'}"
    page = parse((directory / "report.html").read_text(encoding="utf-8"))
    assert page.sections == page.toc == TRANSFER_SECTIONS
    # accuracy against budget, the similarity heat maps, similarity against relatedness per BN layer (2), the
    # alphas of similar and soft
    assert len(page.images) == 1 + 1 + 2 + 2 and len(page.captions) == 6 and all(len(c) > 80 for c in page.captions)
    assert sum("signature similarity against relatedness" in c for c in page.captions) == 2
    assert all(src.startswith("data:image/png;base64,") for src in page.images)


def test_the_transfer_tables_are_the_study_files(transfer_study):
    directory, _ = transfer_study
    page = parse((directory / "report.html").read_text(encoding="utf-8"))
    final_table, budget_table = page.tables["transfer"]
    for table, name in ((final_table, "final.csv"), (budget_table, "summary.csv")):
        stored = pd.read_csv(directory / name)
        assert [t for _, t in column(table, "transfer")] == stored["transfer"].tolist()
        assert _floats(table, "budget") == stored["budget"].tolist()
        np.testing.assert_array_equal(_floats(table, "accuracy %"), stored["mean"].to_numpy())
        np.testing.assert_array_equal(_floats(table, "vs random"), stored["mean_difference"].to_numpy())
        np.testing.assert_array_equal(_floats(table, "Holm p"), stored["p_holm"].to_numpy())
    assert len(budget_table["rows"]) == 4 * 2 and len(final_table["rows"]) == 4
    (inference,) = page.tables["signature-inference"]
    prediction = pd.read_csv(directory / "prediction.csv")
    means = prediction.groupby("transfer", sort=False)["task_inference_accuracy"].mean()
    assert [t for _, t in column(inference, "transfer")] == means.index.tolist()
    np.testing.assert_array_equal(_floats(inference, "task inference %"), means.to_numpy())
    (similarity,) = page.tables["similarity"]
    for layer, value in zip((t for _, t in column(similarity, "layer")), _floats(similarity, "mean |cos|")):
        matrix = pd.read_csv(directory / "similarity" / f"rotated_small-seed0-{layer}.csv").set_index("task").to_numpy()
        assert value == matrix[np.triu_indices(3, k=1)].mean()
    meta = json.loads((directory / "meta.json").read_text())
    assert meta["seeds"] == [0, 1] and "finished" in meta
    assert (meta["git_sha"] or "") in render(build_report([directory], figures=False))


def test_the_transfer_sentences_follow_final_csv(transfer_study, tmp_path):
    directory, _ = transfer_study
    copy = tmp_path / directory.name
    shutil.copytree(directory, copy, ignore=shutil.ignore_patterns("units", "report.html"))
    final = pd.read_csv(copy / "final.csv")
    similar = final.index[final["transfer"] == "similar"][0]
    final.loc[similar, ["mean", "mean_difference", "p_holm"]] = [0.4321, 0.1234, 0.0123]
    final.to_csv(copy / "final.csv", index=False)
    report = build_report([copy], figures=False)
    assert report.title == "Study tiny-transfer"  # named by its config, not its hash
    sentence = next(s for s in report.summary if " similar transfer " in s)
    assert sentence == ("On rotated_small after 3 steps per task, similar transfer reached 43.2% (mean accuracy of "
                        "tasks 1.. over 2 seeds), +12.3 points against random; Holm p = 0.0123, a difference.")
    assert report.summary[:3] == final_sentences(final)
    (table, _) = parse(render(report)).tables["transfer"]
    assert column(table, "accuracy %")[similar][0] == "0.4321"
    untested = final.loc[final["transfer"] == "mean"].iloc[0]
    if np.isnan(untested["p_holm"]):
        assert "untested: fewer than two seeds, or no spread over seeds" in report.summary[0]


def test_an_inference_study_shows_experiment3(inference_study):
    directory, out = inference_study
    assert out.strip().splitlines()[-2] == f"report: {directory / 'report.html'}"
    frame = pd.read_csv(directory / "study.csv")
    report = build_report([directory])  # with figures: the confusion matrices of the two inferring runs
    page = parse(render(report))
    assert "experiment3" in page.sections and "experiment3" in page.toc
    (table,) = page.tables["experiment3"]
    assert [t for _, t in column(table, "part")] == ["given", "oneshot_H", "signature"]
    np.testing.assert_array_equal(_floats(table, "task inference %"), frame["task_inference_accuracy"].to_numpy())
    np.testing.assert_array_equal(_floats(table, "ACC %"), frame["ACC"].to_numpy())
    np.testing.assert_array_equal(_floats(table, "ms / batch"), frame["inference_ms"].to_numpy())
    confusions = [c for c in page.captions if "task inference after the last task" in c]
    assert len(confusions) == 2 and {c.split(",")[0] for c in confusions} == {"oneshot_H", "signature"}
    assert all(s in report.summary for s in inference_study_sentences(frame))


def test_the_experiment3_sentence_follows_study_csv(inference_study, tmp_path):
    directory, _ = inference_study
    copy = tmp_path / directory.name
    copy.mkdir()
    frame = pd.read_csv(directory / "study.csv")
    frame.loc[frame["part"] == "oneshot_H", ["task_inference_accuracy", "ACC"]] = [0.987, 0.876]
    frame.loc[frame["part"] == "signature", ["task_inference_accuracy", "ACC", "inference_ms"]] = [0.5, 0.45, 3.21]
    frame.to_csv(copy / "study.csv", index=False)
    given = 100 * frame.loc[frame["part"] == "given", "ACC"].iloc[0]
    report = build_report([copy], figures=False)
    ms = frame.loc[frame["part"] == "oneshot_H", "inference_ms"].iloc[0]
    assert (f"On permuted, with the task id given (part given) ACC is {given:.1f}%; without it, oneshot_H inferred "
            f"the task of 98.7% of test batches (ACC 87.6%; {ms:.1f} ms per batch), signature the fewest: 50.0% "
            "(ACC 45.0%).") == report.summary[0]  # the study's question first


def test_similarity_against_relatedness_reads_the_study_files(transfer_study):
    from supermasks.studies.transfer_results import similarity_points

    directory, _ = transfer_study
    points, name = similarity_points(directory, "rotated_small", [0, 1])
    assert name == "angle difference (degrees)" and sorted(points) == ["bn1", "bn2"]
    for layer, frame in points.items():
        assert frame["seed"].tolist() == [0, 0, 0, 1, 1, 1]  # 3 pairs of distinct tasks per seed
        for seed in (0, 1):
            matrix = pd.read_csv(directory / "similarity" / f"rotated_small-seed{seed}-{layer}.csv").set_index("task")
            np.testing.assert_array_equal(frame.loc[frame["seed"] == seed, "similarity"],
                                          matrix.to_numpy()[np.triu_indices(3, k=1)])
            # tasks 10 degrees apart: pairs (0, 1), (0, 2), (1, 2)
            assert frame.loc[frame["seed"] == seed, "relatedness"].tolist() == [10.0, 20.0, 10.0]
    assert {f"similarity_vs_relatedness_rotated_small_{layer}.png" for layer in points} <= {
        p.name for p in (directory / "figures").iterdir()}
    assert similarity_points(directory, "permuted", [0]) is None  # no such benchmark here: nothing to draw


def test_the_experiment3_sentence_names_parts_that_infer_as_many():
    frame = pd.DataFrame({"part": ["given", "a", "b", "c"], "benchmark": "permuted", "method": "supsup",
                          "ACC": [0.95, 0.90, 0.93, 0.40], "task_inference_accuracy": [np.nan, 1.0, 1.0, 0.5],
                          "inference_ms": [np.nan, 2.0, 3.0, 1.0]})
    assert inference_study_sentences(frame) == [
        "On permuted, with the task id given (part given) ACC is 95.0%; without it, b inferred the task of 100.0% "
        "of test batches (ACC 93.0%; 3.0 ms per batch; a inferred as many), c the fewest: 50.0% (ACC 40.0%)."]
    assert inference_study_sentences(frame[frame["part"] != "c"])[0].endswith("a inferred as many).")
