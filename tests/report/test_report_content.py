"""The report's content: its numbers are the run's files, its sentences follow them, nothing is fetched."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from html import escape

import numpy as np
import pandas as pd
import pytest

from supermasks.errors import ConfigError
from supermasks.report import build_report, render
from supermasks.report.summary import kept_share, largest_loss

from .pageparse import column, parse

RUN_SECTIONS = ["summary", "metrics", "accuracy", "curves", "cost", "storage", "overlap", "provenance"]


def _metrics(run_dir, method):
    return json.loads((run_dir / "rotated" / method / "metrics.json").read_text())


def test_run_writes_its_report_unless_turned_off(tiny_runs):
    first, second = tiny_runs["runs"]
    assert f"report: {first / 'report.html'}\n" in tiny_runs["out"][0]
    assert (first / "report.html").is_file()
    assert "report:" not in tiny_runs["out"][1] and not (second / "report.html").exists()
    page = parse((first / "report.html").read_text(encoding="utf-8"))
    assert page.images == []  # run.figures=false: the tables, not the figures
    assert "overlap" in page.sections and "accuracy" not in page.sections


def test_every_section_has_its_anchor_and_contents_entry(run_page):
    page = parse(run_page.read_text(encoding="utf-8"))
    assert page.sections == RUN_SECTIONS  # no task inference, no seeds: sections a run lacks are left out
    assert page.toc == RUN_SECTIONS
    # the two methods' ACC first, 2 accuracy matrices, 1 curves figure, ACC against stored bytes of the two methods,
    # and folded: per supsup layer (3) a heat map and overlap vs relatedness (the masks only with --full)
    assert len(page.images) == 1 + 2 + 1 + 1 + 3 * 2
    assert len(page.folded) == 3 * 2 and len(page.images) - len(page.folded) == 5
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert len(page.captions) == len(page.images) and all(len(c) > 60 for c in page.captions)


def test_the_numbers_are_those_of_the_metrics_files(tiny_runs, run_page):
    run_dir = tiny_runs["runs"][0]
    page = parse(run_page.read_text(encoding="utf-8"))
    (metrics_table,) = page.tables["metrics"]
    methods = [text for _, text in column(metrics_table, "method")]
    assert methods == ["naive", "supsup"]
    for header, key in (("ACC %", "ACC"), ("BWT", "BWT"), ("forgetting", "forgetting"), ("FWT", "FWT")):
        for (value, text), method in zip(column(metrics_table, header), methods):
            stored = _metrics(run_dir, method)[key]
            if stored is None:  # FWT with a head per task
                assert (value, text) == ("", "n/a")
            else:
                assert float(value) == stored
    (cost_table,) = page.tables["cost"]
    for (value, _), method in zip(column(cost_table, "memory total"), methods):
        assert float(value) == _metrics(run_dir, method)["memory_total_bytes"]
    (mantel_table,) = page.tables["overlap"]
    summary = pd.read_csv(run_dir / "rotated" / "supsup" / "overlap_summary.csv")
    assert [t for _, t in column(mantel_table, "layer")] == summary["layer"].tolist()
    for header, key in (("Mantel r", "mantel_r"), ("Mantel p", "mantel_p"), ("overlap / chance", "mean_relative_to_chance")):
        shown = [float(v) if v else np.nan for v, _ in column(mantel_table, header)]
        np.testing.assert_array_equal(shown, summary[key].to_numpy())
    assert summary["mantel_r"].notna().all()  # rotations 15 degrees apart: relatedness varies, r is defined
    assert any(s.startswith("rotated/supsup fc1: masks overlap") and "Mantel r =" in s for s in page.summary)
    for row in summary.to_dict("records"):  # a p at the permutation floor is written as the bound it is
        sentence = next(s for s in page.summary if s.startswith(f"rotated/supsup {row['layer']}: masks overlap"))
        assert f"{'p <=' if row['mantel_p_at_floor'] else 'p ='} {row['mantel_p']:.3g} (" in sentence


def test_the_page_fetches_nothing(run_page):
    html = run_page.read_text(encoding="utf-8")
    page = parse(html)
    assert page.urls and all(u.startswith(("#", "data:")) for u in page.urls)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html)
    assert "<link" not in html and not re.search(r"<script[^>]*src", html)


def _copy(run_dir, tmp_path):
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("state", "checkpoints", "report.html"))
    return copy


def _rehash(copy, relative):
    """Record the checksum of the changed result file `relative`, as if the run had written it."""
    meta = json.loads((copy / "meta.json").read_text())
    meta["results_sha256"][relative] = hashlib.sha256((copy / relative).read_bytes()).hexdigest()
    (copy / "meta.json").write_text(json.dumps(meta))


def _with_accuracy(run_dir, tmp_path, method, row, task, value):
    """A copy of the run with R[row, task] of `method` set to `value`, its checksum recorded anew."""
    copy = _copy(run_dir, tmp_path)
    path = copy / "rotated" / method / "accuracy.csv"
    frame = pd.read_csv(path)
    frame.loc[row, f"task_{task}"] = value
    frame.to_csv(path, index=False)
    _rehash(copy, f"rotated/{method}/accuracy.csv")
    return copy


def test_the_summary_follows_metrics_json(tiny_runs, tmp_path):
    copy = _copy(tiny_runs["runs"][0], tmp_path)
    path = copy / "rotated" / "supsup" / "metrics.json"
    stored = json.loads(path.read_text())
    stored["ACC"] = 0.4321
    path.write_text(json.dumps(stored))
    _rehash(copy, "rotated/supsup/metrics.json")
    report = build_report([copy], figures=False)
    assert any(s.startswith("supsup kept") and "(ACC 43.2% over all 3 tasks)" in s for s in report.summary)
    (table,) = parse(render(report)).tables["metrics"]
    assert column(table, "ACC %")[1] == ("0.4321", "43.21")


def test_the_summary_follows_the_accuracy_matrix(tiny_runs, tmp_path):
    run_dir = tiny_runs["runs"][0]
    r = pd.read_csv(run_dir / "rotated" / "naive" / "accuracy.csv").drop(columns="after").to_numpy()
    before = build_report([run_dir], figures=False).summary
    lowered = r[0, 0] - 0.48
    changed = build_report([_with_accuracy(run_dir, tmp_path, "naive", 2, 0, lowered)], figures=False).summary
    kept = (lowered + r[2, 1]) / (r[0, 0] + r[1, 1])
    sentence = next(s for s in changed if s.startswith("naive kept"))
    assert sentence.startswith(f"naive kept {100 * kept:.0f}% of earlier tasks' accuracy; it lost 48 points on task 0")
    assert sentence != next(s for s in before if s.startswith("naive kept"))


def test_a_result_file_changed_after_the_run_is_refused(tiny_runs, tmp_path):
    copy = _with_accuracy(tiny_runs["runs"][0], tmp_path, "naive", 2, 0, 0.5)
    meta = json.loads((copy / "meta.json").read_text())
    meta["results_sha256"]["rotated/naive/accuracy.csv"] = "0" * 64
    (copy / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="accuracy.csv"):
        build_report([copy], figures=False)


def test_kept_share_and_largest_loss_by_hand():
    r = np.array([[0.9, np.nan, np.nan], [0.6, 0.8, np.nan], [0.3, 0.7, 0.95]])
    assert kept_share(r) == pytest.approx((0.3 + 0.7) / (0.9 + 0.8))
    assert largest_loss(r) == (0, pytest.approx(0.6))
    assert np.isnan(kept_share(np.array([[0.5]]))) and largest_loss(np.array([[0.5]])) is None


def test_several_runs_show_the_aggregate_over_seeds(tiny_runs):
    from supermasks.aggregate import aggregate_runs
    from supermasks.report.summary import comparison_sentences

    runs = tiny_runs["runs"]
    report = build_report(runs, figures=False)
    page = parse(render(report))
    assert page.sections[:3] == ["summary", "seeds", "comparisons"]
    assert page.toc == page.sections
    result = aggregate_runs(runs)
    acc = result.summary[(result.summary["metric"] == "ACC") & result.summary["task"].isna()]
    table = page.tables["seeds"][0]
    assert [float(v) for v, _ in column(table, "ACC %")] == acc["mean"].tolist()
    assert [int(v.split(".")[0]) for v, _ in column(table, "seeds")] == [2, 2]
    sentences = comparison_sentences(result.comparisons)
    assert len(sentences) == 1 and sentences[0].startswith("rotated: ACC of naive minus supsup is ")
    low, high = acc["mean"].min(), acc["mean"].max()
    if low == high:
        assert report.summary[0].startswith(f"On rotated, all 2 reached a mean ACC of {100 * low:.1f}% over 2 seeds")
    else:
        assert report.summary[0].startswith(f"On rotated, mean ACC over 2 seeds ranges from {100 * low:.1f}% (")
        assert f"to {100 * high:.1f}% (" in report.summary[0]
    assert report.summary[1:] == sentences


def test_a_study_report_opens_with_experiment1s_question_answer_and_figure(tiny_runs, tmp_path):
    from supermasks.report.answer import ANSWER_HEADER, OVERLAP_FIGURE_TITLE
    from supermasks.studies.overlap import overlap_study
    from supermasks.studies.overlap_answer import QUESTION, answer_sentences

    study = tmp_path / "study-0000"
    study.mkdir()
    frame = pd.DataFrame({"part": "tiny", "seed": [0, 1], "benchmark": "rotated", "method": "supsup",
                          "run_directory": [str(d) for d in tiny_runs["runs"]]})
    frame.to_csv(study / "study.csv", index=False)
    table = overlap_study(frame, study, permutations=99)
    report = build_report([study], figures=False)
    assert report.title == "Study study-0000"
    assert report.question == QUESTION and report.answer == answer_sentences(table) and report.answer
    assert report.figure.title == OVERLAP_FIGURE_TITLE  # drawn without the runs' figures: it is the answer
    html = render(report)
    answer = html.index('<p class="answer">')
    assert html.index(f"<h2>{escape(QUESTION)}</h2>") < answer < html.index('<figure class="answer">') < html.index(
        '<ul class="sentences">')
    page = parse(html)
    assert "experiment1" in page.sections and "experiment1" in page.toc
    (tests,) = page.tables["experiment1"]  # every test one sortable row, no sentence per test
    assert tests["header"] == ANSWER_HEADER and len(tests["rows"]) == len(table)
    assert "Mantel r = " not in html and not [c for c in page.captions if "figure saved by the study" in c]


def test_report_of_no_runs_is_a_one_line_error(tmp_path, capsys):
    from supermasks.cli import main

    assert main(["report", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("supermasks: error: ") and "nowhere is not a directory" in err and "Traceback" not in err


def test_provenance_is_what_meta_json_recorded(tiny_runs, run_page):
    from supermasks.report.sections import duration

    meta = json.loads((tiny_runs["runs"][0] / "meta.json").read_text())
    (table,) = parse(run_page.read_text(encoding="utf-8")).tables["provenance"]  # one run: one two-column table
    assert table["header"] == ["recorded", "value"]
    row = {name: text for (_, name), (_, text) in table["rows"]}
    assert row["git commit"] == (meta["git_sha"] or "") and row["torch"] == meta["torch_version"]
    assert row["seed"] == "0" and row["machine"] == meta["platform"] and row["duration"] == duration(meta)
    assert duration({"started": "2026-01-01T10:00:00+00:00", "finished": "2026-01-01T11:02:03+00:00"}) == \
        "1 h 02 min 03 s"
    assert duration({"started": "2026-01-01T10:00:00+00:00"}) == ""


def test_run_report_names_no_directory(tmp_path):
    from supermasks.config import load_config
    from supermasks.config.records import run_directory
    from supermasks.studies.grid import load_study

    assert run_directory(load_config(None, [])) == run_directory(load_config(None, ["run.report=false"]))
    study = tmp_path / "s.yaml"
    study.write_text("name: s\nmethod: naive\nparts:\n  a: {}\n")
    assert load_study(study).directory() == load_study(study, ["run.report=false"]).directory()


def test_a_report_that_fails_leaves_the_run_a_success(tiny_runs, monkeypatch, caplog):
    import supermasks.report.html

    from .conftest import run_cli

    def broken(paths, out, *, figures=True):
        raise ValueError("no room for pictures")

    monkeypatch.setattr(supermasks.report.html, "write_report", broken)
    directory, out = run_cli(tiny_runs["runs"][0].parent, "seed=0")  # finished: read back, report tried again
    assert directory == tiny_runs["runs"][0] and "report:" not in out
    assert "no report written (ValueError: no room for pictures)" in caplog.text


def _comparisons(n: int, seeds: int, differences: list[float], p_holm: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"benchmark": "split", "metric": "ACC", "a": [f"m{i}" for i in range(n)], "b": "naive",
                         "n_pairs": seeds, "mean_difference": differences, "diff_ci_low": np.nan,
                         "diff_ci_high": np.nan, "p_value": p_holm, "p_holm": p_holm})


def test_many_comparisons_are_counted_in_one_sentence_and_only_the_largest_found_named():
    from supermasks.report.summary import comparison_sentences

    one_seed = comparison_sentences(_comparisons(5, 1, [0.1, 0.2, 0.3, 0.4, 0.5], [np.nan] * 5))
    assert one_seed == ["5 paired comparisons of ACC, none with the two seeds or more that a paired test needs: "
                        "their differences are in the Paired comparisons table."]
    sentences = comparison_sentences(_comparisons(6, 3, [0.01, -0.30, 0.20, 0.05, -0.10, 0.40],
                                                  [0.5, 0.01, 0.02, 0.9, 0.04, 0.2]))
    assert sentences[0] == ("Of 6 paired comparisons of ACC, 3 of the 6 tested show a difference (Holm p < 0.05); "
                            "all are in the Paired comparisons table; the largest 3 follow.")
    assert [s.split(" minus ")[0] for s in sentences[1:]] == ["split: ACC of m1", "split: ACC of m2",
                                                               "split: ACC of m4"]  # by |a - b|, found only
    none = comparison_sentences(_comparisons(4, 3, [0.1] * 4, [0.5] * 4))
    assert none == ["Of 4 paired comparisons of ACC, 0 of the 4 tested show a difference (Holm p < 0.05); all are "
                    "in the Paired comparisons table."]
    # a few are each said in full
    assert len(comparison_sentences(_comparisons(3, 1, [0.1, 0.2, 0.3], [np.nan] * 3))) == 3


def test_a_long_table_of_comparisons_is_folded_and_parts_are_named_readably():
    from types import SimpleNamespace

    from supermasks.report.model import Details, Table
    from supermasks.report.multi import OPEN_ROWS, comparisons_section

    def section(n: int):
        table = _comparisons(n, 2, [0.1] * n, [0.5] * n).assign(
            name=[f"replay-{'fraction' if i % 2 else 'baseline'}" for i in range(n)],
            **{"training.optimizer": ["adam" if i % 2 else "sgd" for i in range(n)]})
        table = table[["name", "training.optimizer", *table.columns[:-2]]]  # the settings first, as aggregate writes
        return comparisons_section(SimpleNamespace(comparisons=table, settings=["name", "training.optimizer"]))

    few, many = section(OPEN_ROWS), section(OPEN_ROWS + 1)
    assert isinstance(few.blocks[0], Table) and isinstance(many.blocks[0], Details)
    assert many.blocks[0].summary == f"All {OPEN_ROWS + 1} paired comparisons (a sortable table)"
    table = few.blocks[0]
    # the optimizer follows the part, so the part stands for it; the study's name is left out of the part's
    assert table.header[:3] == ["part", "benchmark", "metric"]
    assert [row[0].text for row in table.rows[:2]] == ["baseline", "fraction"]
