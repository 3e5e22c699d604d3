"""A study's page opens with its answer: Experiment 1's small multiples, its sortable table, Experiment 2's and
several methods' one figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from supermasks.analysis.overlap_panels import fit_band, overlap_panels
from supermasks.report import build_report, render
from supermasks.report.answer import ANSWER_HEADER, answer_table
from supermasks.report.model import Figure, Report

from .pageparse import parse

VARIANTS = ["independent", "shared"]
LAYERS = ["fc1", "fc2", "fc3"]
NAMES = {"rotated": "angle difference (degrees)", "split": "shared classes"}


def _points() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for variant, level in zip(VARIANTS, (1.0, 2.5)):
        for benchmark, x in (("rotated", [15.0, 30.0, 45.0, 60.0]), ("split", [0.0, 1.0])):
            for layer in LAYERS:
                for seed in (0, 1):
                    for value in x:
                        rows.append({"variant": variant, "benchmark": benchmark, "layer": layer, "seed": seed,
                                     "relatedness": value, "relative_to_chance": level + rng.normal(0, 0.05)})
    return pd.DataFrame(rows)


def test_the_small_multiples_share_one_y_axis_with_a_line_per_variant_and_chance():
    fig = overlap_panels(_points(), NAMES, "title")
    axes = fig.axes
    assert len(axes) == 2 * 3  # rows = benchmarks, columns = layers
    assert len({ax.get_ylim() for ax in axes}) == 1  # one y axis
    for ax in axes:
        assert [line.get_label() for line in ax.get_lines()] == [*VARIANTS, "chance"]
        chance = ax.get_lines()[-1]
        assert list(chance.get_ydata()) == [1.0, 1.0] and chance.get_linestyle() == "--"
        assert len(ax.collections) == 2 * 2  # each variant: its points and its band
    assert [ax.get_title() for ax in axes[:3]] == LAYERS
    assert axes[0].get_xlabel() == NAMES["rotated"] and axes[3].get_xlabel() == NAMES["split"]
    assert axes[0].get_ylabel().startswith("rotated") and axes[3].get_ylabel().startswith("split")
    assert list(axes[3].get_xticks()) == [0.0, 1.0]  # a count of shared classes: no tick at 0.2 of a class
    assert not any(ax.texts for ax in axes)
    alike = overlap_panels(_points().assign(relatedness=lambda t: np.where(t["benchmark"] == "split", 0.0,
                                                                           t["relatedness"])), NAMES, "title")
    assert [[t.get_text() for t in ax.texts] for ax in alike.axes] == \
        [[]] * 3 + [["untested: every pair\nequally related"]] * 3  # split: every pair shares 0 classes
    colours = [tuple(line.get_color() for line in ax.get_lines()[:2]) for ax in axes]
    assert len(set(colours)) == 1 and len(set(colours[0])) == 2  # a variant keeps its colour in every panel
    assert axes[0].get_yscale() == "linear"
    far = _points().assign(relative_to_chance=lambda t: np.where(t["variant"] == "shared", 12.0, 1.0))
    assert {ax.get_yscale() for ax in overlap_panels(far, NAMES, "title").axes} == {"log"}  # 1x and 12x both read


def test_the_band_is_the_least_squares_lines_t_interval():
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    y = np.array([1.0, 1.4, 2.1, 2.4, 3.2])
    fit = stats.linregress(x, y)
    line, low, high = fit_band(x, y, np.array([x.mean(), 4.0]))
    np.testing.assert_allclose(line, fit.intercept + fit.slope * np.array([2.0, 4.0]))
    s = np.sqrt(((y - fit.intercept - fit.slope * x) ** 2).sum() / 3)
    half = stats.t.ppf(0.975, 3) * s * np.sqrt([1 / 5, 1 / 5 + 4 / 10])  # at the mean of x, and at x = 4
    np.testing.assert_allclose(high - line, half) and np.testing.assert_allclose(line - low, half)
    assert fit_band(np.ones(4), y[:4], np.array([1.0])) is None  # one x: no line


def test_the_answer_table_sorts_by_its_numbers():
    from tests.studies.test_overlap_answer import _table

    table = answer_table(_table())
    assert table.header == ANSWER_HEADER and len(table.rows) == 8
    first = dict(zip(ANSWER_HEADER, table.rows[0]))
    assert first["Mantel r"].text == "-0.90 [-1.00, -0.80]" and first["Mantel r"].sort_key == repr(-0.9)
    assert first["most vs least related"].text == "+10.0%" and float(first["most vs least related"].sort_key) == \
        pytest.approx(10.0)
    assert first["Holm p"].sort_key == repr(0.001) and first["trend"].text == "yes" and first["trend"].sort_key == "1.0"
    page = parse(render(Report("t", [], [_section(table)])))
    (rendered,) = page.tables["experiment1"]
    assert rendered["header"] == ANSWER_HEADER and len(rendered["rows"]) == 8
    assert 'class="sortable"' in render(Report("t", [], [_section(table)]))


def _section(table):
    from supermasks.report.model import Section

    return Section("experiment1", "Every test", [table])


def test_a_page_without_a_question_shows_its_figure_after_the_summary():
    html = render(Report("t", ["one sentence"], [], figure=Figure("ACC over seeds", "caption", "data:image/png;base64,")))
    assert "<h2>Summary</h2>" in html and 'class="answer"' in html
    assert html.index("one sentence") < html.index('<figure class="answer">')
    assert '<p class="answer">' not in html


def test_the_transfer_report_answers_with_one_figure_of_every_benchmark(transfer_study):
    from supermasks.report.transfer import QUESTION, early_sentences, end_sentences

    directory, _ = transfer_study
    report = build_report([directory])
    summary, final = pd.read_csv(directory / "summary.csv"), pd.read_csv(directory / "final.csv")
    assert report.question == QUESTION
    assert report.answer == [*early_sentences(summary), *end_sentences(final)] and 2 <= len(report.answer) <= 3
    assert report.figure.title == "Accuracy against training budget"
    titles = [b.title for s in report.sections for b in s.blocks if b.kind == "figure"]
    assert not [t for t in titles if "accuracy against budget" in t]  # not drawn a second time
    guided = final[(final["transfer"] != "random")]
    low, high = guided["mean_difference"].min(), guided["mean_difference"].max()
    assert end_sentences(final) == [f"On rotated_small after 3 steps, the guided modes end {100 * low:+.1f} to "
                                    f"{100 * high:+.1f} points from random ({int((guided['p_holm'] < 0.05).sum())} "
                                    f"of 3 at Holm p < 0.05)."]


def test_several_methods_open_with_their_acc(tiny_runs):
    run = build_report([tiny_runs["runs"][0]])  # one run of naive and supsup
    assert run.figure.title == "ACC per method" and run.question == ""
    assert build_report([tiny_runs["runs"][0]], figures=False).figure is None  # run.figures=false: tables only
    seeds = build_report(tiny_runs["runs"], figures=False)
    assert seeds.figure.title == "ACC over seeds"
    seeds_section = next(s for s in seeds.sections if s.id == "seeds")
    assert "ACC over seeds" not in [b.title for b in seeds_section.blocks if b.kind == "figure"]  # once, on top
