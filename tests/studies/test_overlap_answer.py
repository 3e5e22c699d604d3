"""Experiment 1's answer in words and its compact table, computed from a hand-made overlap_study.csv."""

import numpy as np
import pandas as pd

from supermasks.studies.overlap_answer import (ANSWER_COLUMNS, QUESTION, answer_sentences, answer_table,
                                               compact_table, study_answer, terminal_answer, variant_labels)

LAYERS = ("fc1", "fc2")


def _row(part: str, benchmark: str, layer: str, r: float, holm: float, most: float, least: float) -> dict:
    name, when = {"rotated": ("angle difference (degrees)", "lower"),
                  "split": ("shared classes", "higher")}[benchmark]
    return {"part": part, "benchmark": benchmark, "method": "supsup", "layer": layer, "measure": "overlap",
            "relatedness": name, "related_when": when, "seeds": 3, "num_tasks": 6, "mantel_r": r,
            "mantel_r_low": r - 0.1, "mantel_r_high": r + 0.1, "mantel_p": holm / 8, "mantel_p_at_floor": False,
            "mantel_p_holm": holm, "mantel_p_holm_at_floor": False, "holm_family": 8, "holm_family_tested": 8,
            "mean_ratio": (most + least) / 2, "ratio_most_related": most, "ratio_least_related": least,
            "ratio_difference": most - least, "ratio_difference_low": most - least - 0.01,
            "ratio_difference_high": most - least + 0.01, "slope": -0.1, "slope_unit": "10 degrees"}


def _table() -> pd.DataFrame:
    """rotated: a trend under shared init in both layers (r < 0 with an angle: related tasks share more), and
    in fc1 under independent init; split: no test below 0.05 under either."""
    rows = [_row("shared", "rotated", "fc1", -0.9, 0.001, 2.2, 2.0), _row("shared", "rotated", "fc2", -0.8, 0.004, 2.1, 2.0),
            _row("independent", "rotated", "fc1", -0.5, 0.03, 1.02, 1.0),
            _row("independent", "rotated", "fc2", -0.1, 0.6, 1.0, 1.0)]
    rows += [_row(part, "split", layer, 0.1, 0.7, 2.0, 2.0) for part in ("shared", "independent") for layer in LAYERS]
    return pd.DataFrame(rows)


def test_the_answer_names_the_benchmark_with_a_trend_and_the_one_without():
    verdict, by_variant, size = answer_sentences(_table())
    assert verdict == ("Yes on rotated, no on split: mask overlap follows task relatedness (Mantel test, "
                       "Holm-adjusted p < 0.05) in 3 of the 8 tests of variant, benchmark and layer; in each, related "
                       "tasks' masks overlap more.")
    # Per variant, in the study's order: its tests with a trend, where, and its mean ratio to chance.
    assert by_variant == ("By variant: shared 2 of 4 (rotated; 2.04x chance on average); independent 1 of 4 "
                          "(rotated; 1.50x chance on average).")
    # How much: the median of 100 (most / least - 1) over each variant's trends: +10% and +5% -> +7.5%; +2%.
    assert size == ("How much: where there is a trend, the most related pairs' overlap is, by median, +7.5% under "
                    "shared (|r| 0.85) and +2.0% under independent (|r| 0.50) above the least related pairs'.")


def test_no_trend_anywhere_says_no_and_a_constant_relatedness_says_untested():
    table = _table().assign(mantel_p_holm=0.5)
    (sentence,) = answer_sentences(table)
    assert sentence.startswith("No: on rotated and split, mask overlap does not follow task relatedness: none of "
                               "the 8 tests")
    flat = table.assign(mantel_r=np.where(table["benchmark"] == "split", np.nan, table["mantel_r"]))
    (sentence,) = answer_sentences(flat)
    assert sentence.startswith("No: on rotated (untested on split), ") and "none of the 4 tests" in sentence
    assert "(4 more untested: their relatedness is the same for every pair)" in sentence
    # A trend where related tasks share less (r > 0 with an angle) is called so.
    less = _table().assign(mantel_r=lambda t: t["mantel_r"].abs())
    assert "in each, related tasks' masks overlap less" in answer_sentences(less)[0]


def test_variants_are_named_by_part_and_grid_values():
    table = pd.DataFrame({"part": ["fraction", "fraction", "plain"], "grid.data.permute_fraction": [0.25, 1.0, np.nan]})
    assert list(variant_labels(table)) == ["fraction, permute_fraction=0.25", "fraction, permute_fraction=1", "plain"]


def test_the_answer_table_has_one_row_per_test_and_the_numbers_to_sort_by():
    table = answer_table(_table())
    assert list(table.columns[:len(ANSWER_COLUMNS)]) == list(ANSWER_COLUMNS) and len(table) == 8
    assert list(table["trend"]) == [True, True, True, False, False, False, False, False]
    np.testing.assert_allclose(table["relative_percent"], 100 * (_table()["ratio_most_related"]
                                                               / _table()["ratio_least_related"] - 1))


def test_the_terminal_prints_the_question_the_answer_and_r_per_layer_in_short_lines(tmp_path):
    text = terminal_answer(_table())
    lines = text.splitlines()
    assert lines[0] == QUESTION and max(map(len, lines)) <= 100
    header = next(i for i, line in enumerate(lines) if line.startswith("variant"))
    assert lines[header].split() == ["variant", "benchmark", "measure", *LAYERS]
    assert lines[header + 1].split() == ["shared", "rotated", "overlap", "-0.90*", "-0.80*"]
    # Rows in the order the table first holds them (a study writes part by part).
    assert lines[header + 2].split() == ["independent", "rotated", "overlap", "-0.50*", "-0.10"]
    assert lines[header + 3].split() == ["shared", "split", "overlap", "+0.10", "+0.10"]
    assert compact_table(_table()) == lines[header:header + 5]
    assert "Holm family: 8 tests" in text and "Mantel r = " not in text  # no per-test sentence
    _table().to_csv(tmp_path / "overlap_study.csv", index=False)
    assert study_answer(tmp_path) == text and study_answer(tmp_path / "none") is None
