"""Tests of the transfer experiment's tables (per-seed scores, intervals, paired tests) and figures."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats

from supermasks.analysis import save_figure
from supermasks.analysis.efficiency import (
    BUDGET_SUMMARY_COLUMNS,
    SEED_SCORE_COLUMNS,
    alphas_figure,
    budget_summary,
    efficiency_curves,
    final_summary,
    per_seed_scores,
    similarity_heatmaps,
)

T_975_2 = 4.302652729749462  # t_{0.975} with 2 degrees of freedom, from a table

# Accuracies of tasks 1 and 2 per (mode, budget) and seed 0, 1, 2; task 0 scores 0.9 everywhere.
# Budget 1000: per-seed means random (0.65, 0.60, 0.70), similar (0.75, 0.70, 0.85) and
# soft (0.70, 0.60, 0.80); differences from random: similar (0.10, 0.10, 0.15), t = 7 exactly,
# and soft (0.05, 0.00, 0.10), t = sqrt(3).
# Budget 100: similar is random + 0.1 on every seed and soft equals random: constant differences.
HAND = {
    ("random", 1000): [(0.60, 0.70), (0.50, 0.70), (0.70, 0.70)],
    ("similar", 1000): [(0.70, 0.80), (0.60, 0.80), (0.90, 0.80)],
    ("soft", 1000): [(0.70, 0.70), (0.50, 0.70), (0.90, 0.70)],
    ("random", 100): [(0.3, 0.3), (0.4, 0.4), (0.5, 0.5)],
    ("similar", 100): [(0.4, 0.4), (0.5, 0.5), (0.6, 0.6)],
    ("soft", 100): [(0.3, 0.3), (0.4, 0.4), (0.5, 0.5)],
}


def hand_evaluation(benchmark: str = "rotated") -> pd.DataFrame:
    rows = []
    for (mode, budget), per_seed in HAND.items():
        for seed, accuracies in enumerate(per_seed):
            for task, accuracy in enumerate((0.9, *accuracies)):
                rows.append({"benchmark": benchmark, "seed": seed, "transfer": mode, "task": task,
                             "budget": budget, "accuracy": accuracy})
    return pd.DataFrame(rows)


def row(summary: pd.DataFrame, mode: str, budget: int) -> pd.Series:
    match = summary[(summary["transfer"] == mode) & (summary["budget"] == budget)]
    assert len(match) == 1
    return match.iloc[0]


def test_per_seed_scores_average_the_tasks_after_the_first():
    scores = per_seed_scores(hand_evaluation())
    assert tuple(scores.columns) == SEED_SCORE_COLUMNS
    similar = scores[(scores["transfer"] == "similar") & (scores["budget"] == 1000)]
    assert list(similar["seed"]) == [0, 1, 2]
    assert list(similar["accuracy"]) == pytest.approx([0.75, 0.70, 0.85])
    assert set(scores["num_tasks"]) == {2}
    assert list(pd.unique(scores["transfer"])) == ["random", "similar", "soft"]  # the documented order

    with_first = per_seed_scores(hand_evaluation(), skip_first_task=False)
    similar = with_first[(with_first["transfer"] == "similar") & (with_first["budget"] == 1000)]
    expected = [(0.9 + 0.7 + 0.8) / 3, (0.9 + 0.6 + 0.8) / 3, (0.9 + 0.9 + 0.8) / 3]
    assert list(similar["accuracy"]) == pytest.approx(expected)
    assert set(with_first["num_tasks"]) == {3}


def test_per_seed_scores_reject_bad_tables():
    evaluation = hand_evaluation()
    with pytest.raises(ValueError, match="lacks the columns"):
        per_seed_scores(evaluation.drop(columns="budget"))
    with pytest.raises(ValueError, match="repeated"):
        per_seed_scores(pd.concat([evaluation, evaluation.iloc[:1]]))
    with pytest.raises(ValueError, match="task 0"):
        per_seed_scores(evaluation[evaluation["task"] == 0])


def test_interval_is_mean_plus_minus_t_times_standard_error():
    summary = budget_summary(hand_evaluation())
    assert tuple(summary.columns) == BUDGET_SUMMARY_COLUMNS
    random = row(summary, "random", 1000)
    # Seeds 0.65, 0.60, 0.70: mean 0.65, sample sd 0.05.
    half = T_975_2 * 0.05 / math.sqrt(3)
    assert random["n_seeds"] == 3
    assert random["mean"] == pytest.approx(0.65)
    assert random["std"] == pytest.approx(0.05)
    assert (random["ci_low"], random["ci_high"]) == pytest.approx((0.65 - half, 0.65 + half))
    # The baseline is not compared with itself.
    assert random["n_pairs"] == 0
    assert math.isnan(random["mean_difference"]) and math.isnan(random["p_value"]) and math.isnan(random["p_holm"])

    wider = row(budget_summary(hand_evaluation(), confidence=0.99), "random", 1000)
    assert wider["ci_high"] - wider["ci_low"] > 2 * half


def test_paired_p_values_and_holm_over_the_modes_of_one_budget():
    summary = budget_summary(hand_evaluation())
    similar, soft = row(summary, "similar", 1000), row(summary, "soft", 1000)
    assert similar["mean_difference"] == pytest.approx(0.35 / 3)
    assert soft["mean_difference"] == pytest.approx(0.05)
    assert similar["n_pairs"] == soft["n_pairs"] == 3
    p_similar = stats.ttest_rel([0.75, 0.70, 0.85], [0.65, 0.60, 0.70]).pvalue
    assert similar["p_value"] == pytest.approx(p_similar)
    assert similar["p_value"] == pytest.approx(2 * stats.t.sf(7.0, 2))  # t = 0.35/3 / (sd / sqrt 3) = 7
    p_soft = 2 * stats.t.sf(math.sqrt(3.0), 2)
    assert soft["p_value"] == pytest.approx(p_soft)
    # Holm with m = 2: the smaller p doubles (0.0396), the larger keeps max(0.0396, 0.2254).
    assert similar["p_holm"] == pytest.approx(2 * p_similar)
    assert soft["p_holm"] == pytest.approx(p_soft)


def test_constant_differences_give_no_p_value():
    summary = budget_summary(hand_evaluation())
    similar, soft = row(summary, "similar", 100), row(summary, "soft", 100)
    assert similar["mean_difference"] == pytest.approx(0.1)  # every seed gains 0.1 (up to rounding)
    assert soft["mean_difference"] == pytest.approx(0.0)  # identical to the baseline
    for mode_row in (similar, soft):
        # scipy.stats.ttest_rel would report p ~ 1e-32 for the rounding noise of the first.
        assert math.isnan(mode_row["p_value"]) and math.isnan(mode_row["p_holm"])


def test_a_single_seed_gives_nan_intervals_and_p_values_without_warnings():
    evaluation = hand_evaluation()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = budget_summary(evaluation[evaluation["seed"] == 1])
    assert set(summary["n_seeds"]) == {1}
    for column in ("std", "ci_low", "ci_high", "p_value", "p_holm"):
        assert summary[column].isna().all(), column
    assert row(summary, "similar", 1000)["mean_difference"] == pytest.approx(0.1)
    assert row(summary, "similar", 1000)["n_pairs"] == 1


def test_pairs_use_only_the_seeds_both_modes_have():
    evaluation = hand_evaluation()
    dropped = evaluation[~((evaluation["transfer"] == "random") & (evaluation["seed"] == 2))]
    similar = row(budget_summary(dropped), "similar", 1000)
    assert similar["n_seeds"] == 3 and similar["n_pairs"] == 2
    assert similar["mean_difference"] == pytest.approx(0.1)
    assert math.isnan(similar["p_value"])  # the two remaining differences are both 0.1


def test_budget_summary_rejects_an_unknown_baseline_and_confidence():
    with pytest.raises(ValueError, match="baseline 'mean'"):
        budget_summary(hand_evaluation(), baseline="mean")
    with pytest.raises(ValueError, match="confidence"):
        budget_summary(hand_evaluation(), confidence=95)


def test_final_summary_takes_each_benchmarks_largest_budget():
    other = hand_evaluation("permuted")
    other = other[other["budget"] == 100]  # this benchmark only reached budget 100
    evaluation = pd.concat([hand_evaluation(), other], ignore_index=True)
    final = final_summary(evaluation)
    assert list(zip(final["benchmark"], final["budget"])) == [("rotated", 1000)] * 3 + [("permuted", 100)] * 3
    full = budget_summary(evaluation)
    expected = full[full["budget"] == full["benchmark"].map({"rotated": 1000, "permuted": 100})]
    pd.testing.assert_frame_equal(final, expected.reset_index(drop=True))


def test_efficiency_curves_draw_one_line_and_band_per_mode(tmp_path):
    summary = budget_summary(hand_evaluation())
    fig = efficiency_curves(summary, "rotated")
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["random", "similar", "soft"]
    assert list(lines[0].get_xdata()) == [100, 1000]
    assert list(lines[1].get_ydata()) == pytest.approx([50.0, 100 * 2.3 / 3])
    assert len(ax.collections) == 3  # the shaded intervals
    assert ax.get_xscale() == "log"
    assert sorted(p.name for p in save_figure(fig, tmp_path, "efficiency")) == ["efficiency.png", "efficiency.svg"]
    with pytest.raises(ValueError, match="no rows"):
        efficiency_curves(summary, "split")


def test_similarity_heatmaps_scale_each_panel_on_distinct_tasks(tmp_path):
    rng = np.random.default_rng(0)
    matrices = {}
    for layer in ("bn1", "bn2"):
        sym = rng.uniform(0.2, 0.6, size=(4, 4))
        sym = (sym + sym.T) / 2
        np.fill_diagonal(sym, 1.0)
        matrices[layer] = sym
    fig = similarity_heatmaps(matrices, "E2")
    assert len(fig.axes) == 4  # two heat maps, two colour bars
    first = fig.axes[0]
    assert first.get_title() == "bn1 (E1)"
    _, high = first.images[0].get_clim()
    assert high == pytest.approx(matrices["bn1"][~np.eye(4, dtype=bool)].max()) and high < 1.0
    assert len(first.texts) == 16
    paths = save_figure(fig, tmp_path, "similarity")
    assert all(p.stat().st_size > 0 for p in paths)
    with pytest.raises(ValueError, match="expected"):
        similarity_heatmaps({"bn1": np.ones((2, 3))}, "bad")


def test_alphas_figure_places_weights_at_task_and_source(tmp_path):
    rows = []
    for layer in ("bn1", "bn2", "bn3"):
        rows += [{"layer": layer, "task": 1, "source_task": 0, "alpha": 1.0},
                 {"layer": layer, "task": 2, "source_task": 0, "alpha": 0.25},
                 {"layer": layer, "task": 2, "source_task": 1, "alpha": 0.75}]
    alphas = pd.DataFrame(rows).assign(benchmark="rotated", seed=0, transfer="soft")
    fig = alphas_figure(alphas, "rotated", "soft", 0)
    assert len(fig.axes) == 4  # one panel per layer and a shared colour bar
    grid = fig.axes[0].images[0].get_array()
    assert grid.shape == (3, 3)
    assert grid[2, 1] == pytest.approx(0.75) and grid[1, 0] == pytest.approx(1.0)
    assert np.ma.getmaskarray(grid)[0].all()  # task 0 transfers nothing: blank row
    save_figure(fig, tmp_path, "alphas")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alphas.png", "alphas.svg"]
    with pytest.raises(ValueError, match="no alphas"):
        alphas_figure(alphas, "rotated", "similar", 0)
