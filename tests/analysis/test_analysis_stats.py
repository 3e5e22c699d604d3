"""Tests of the pairwise mask tests against scipy and statsmodels references."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from supermasks.analysis import (
    holm,
    mcnemar_from_counts,
    overlap_gt_chance_p,
    overlap_table,
    pair_statistics,
    rank_by_overlap,
    ttest_from_counts,
)


def random_masks(seed: int, densities: list[float], shape=(40, 50)) -> dict:
    rng = np.random.default_rng(seed)
    return {t: {"fc1": rng.random(shape) < d, "fc2": rng.random((4, 5)) < d} for t, d in enumerate(densities)}


def scipy_ttest(a: np.ndarray, b: np.ndarray):
    with warnings.catch_warnings():
        # scipy warns about constant inputs; the NaN it returns is what we compare with.
        warnings.simplefilter("ignore", RuntimeWarning)
        return stats.ttest_ind(a.ravel().astype(float), b.ravel().astype(float))


# --- t-test ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_ttest_equals_scipy_on_random_masks(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 5000))
    a = rng.random(n) < rng.random()
    b = rng.random(n) < rng.random()
    t, p = ttest_from_counts(n, np.array([a.sum()]), np.array([b.sum()]))
    ref = scipy_ttest(a, b)
    np.testing.assert_allclose(t[0], ref.statistic, rtol=1e-10)
    np.testing.assert_allclose(p[0], ref.pvalue, rtol=1e-10, atol=1e-300)


def test_ttest_in_table_equals_scipy():
    masks = random_masks(0, [0.3, 0.5, 0.52, 0.8])
    table = pair_statistics(masks)
    for row in table.itertuples():
        ref = scipy_ttest(masks[row.task_i][row.layer], masks[row.task_j][row.layer])
        np.testing.assert_allclose(row.equal_density_t, ref.statistic, rtol=1e-10)
        np.testing.assert_allclose(row.equal_density_p, ref.pvalue, rtol=1e-10, atol=1e-300)


def test_ttest_constant_masks_follow_scipy():
    ones, zeros = np.ones(10, bool), np.zeros(10, bool)
    t, p = ttest_from_counts(10, np.array([10, 10, 0]), np.array([10, 0, 0]))
    for k, (a, b) in enumerate([(ones, ones), (ones, zeros), (zeros, zeros)]):
        ref = scipy_ttest(a, b)
        np.testing.assert_equal(t[k], ref.statistic)
        np.testing.assert_equal(p[k], ref.pvalue)
    assert np.isnan(t[0]) and np.isnan(p[0]) and t[1] == np.inf and p[1] == 0.0


# --- McNemar -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "both, b, c, neither",
    [(5, 0, 0, 5), (10, 3, 5, 7), (1, 10, 14, 2), (4, 12, 13, 9), (30, 40, 10, 20), (0, 100, 100, 0), (2, 0, 60, 1)],
)
def test_mcnemar_equals_statsmodels(both, b, c, neither):
    stat, p, exact = mcnemar_from_counts(np.array([b]), np.array([c]))
    ref = mcnemar([[both, b], [c, neither]], exact=b + c < 25, correction=True)
    assert exact[0] == (b + c < 25)
    np.testing.assert_allclose(stat[0], ref.statistic, rtol=1e-12)
    np.testing.assert_allclose(p[0], ref.pvalue, rtol=1e-10)


def test_mcnemar_in_table_equals_statsmodels():
    masks = random_masks(1, [0.5, 0.55, 0.2])
    table = overlap_table(masks)
    assert table["equal_density_mcnemar_exact"].any() and not table["equal_density_mcnemar_exact"].all()
    for row in table.itertuples():
        a, b = masks[row.task_i][row.layer], masks[row.task_j][row.layer]
        agreement = [[(a & b).sum(), (a & ~b).sum()], [(~a & b).sum(), (~a & ~b).sum()]]
        ref = mcnemar(agreement, exact=row.equal_density_mcnemar_exact, correction=True)
        np.testing.assert_allclose(row.equal_density_mcnemar_stat, ref.statistic, rtol=1e-12)
        np.testing.assert_allclose(row.equal_density_mcnemar_p, ref.pvalue, rtol=1e-10)


# --- Holm --------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 2, 7, 50])
def test_holm_equals_statsmodels(size):
    rng = np.random.default_rng(size)
    p = rng.random(size) ** 3
    if size > 3:
        p[1] = p[2]  # ties must not change the result
        p[3] = 1.0
    expected = multipletests(p, method="holm")[1] if size else np.empty(0)
    np.testing.assert_allclose(holm(p), expected, rtol=1e-14)


def test_holm_matches_statsmodels_over_unordered_pairs():
    table = pair_statistics(random_masks(2, [0.4, 0.45, 0.5, 0.55, 0.6]))
    for column, raw in [
        ("equal_density_p_holm", "equal_density_p"),
        ("equal_density_mcnemar_p_holm", "equal_density_mcnemar_p"),
        ("p_overlap_gt_chance_holm", "p_overlap_gt_chance"),
    ]:
        assert (table[column] >= table[raw] - 1e-15).all()
        for _, layer in table.groupby("layer"):
            upper = layer[layer["task_i"] < layer["task_j"]]
            assert len(upper) == 10
            expected = multipletests(upper[raw].to_numpy(), method="holm")[1]
            np.testing.assert_allclose(upper[column].to_numpy(), expected)
            # Holm keeps the order of the raw p-values.
            order = np.argsort(upper[raw].to_numpy(), kind="stable")
            assert np.all(np.diff(upper[column].to_numpy()[order]) >= -1e-15)
            lower = layer[layer["task_i"] > layer["task_j"]].set_index(["task_j", "task_i"])[column]
            np.testing.assert_allclose(lower.loc[list(zip(upper["task_i"], upper["task_j"]))], upper[column])


def test_holm_leaves_nan_out_of_the_family():
    ones = np.ones((3, 3), bool)
    masks = {0: {"w": ones}, 1: {"w": ones}, 2: {"w": np.eye(3, dtype=bool)}}
    table = pair_statistics(masks)
    pair01 = table[(table["task_i"] == 0) & (table["task_j"] == 1)].iloc[0]
    assert np.isnan(pair01["equal_density_p"]) and np.isnan(pair01["equal_density_p_holm"])
    finite = table[table["equal_density_p"].notna() & (table["task_i"] < table["task_j"])]
    expected = multipletests(finite["equal_density_p"], method="holm")[1]
    np.testing.assert_allclose(finite["equal_density_p_holm"], expected)


@pytest.mark.parametrize(("given", "family"), [(1, 1), (3, 10), (7, 8), (5, 132), (0, 4)])
def test_holm_over_a_declared_family_equals_holm_with_the_missing_tests_at_one(given, family):
    rng = np.random.default_rng(given + family)
    p = rng.random(given) ** 4
    if given > 2:
        p[0], p[1] = p[1], 1.0  # ties and a p of exactly 1 among the given
    padded = np.concatenate([p, np.ones(family - given)])
    np.testing.assert_allclose(holm(p, family), holm(padded)[:given], rtol=1e-14)
    if given:
        np.testing.assert_allclose(holm(p, family), multipletests(padded, method="holm")[1][:given], rtol=1e-14)
    # The smallest p is multiplied by the family's size, not by the number of tests given.
    if given:
        assert holm(p, family).min() == pytest.approx(min(1.0, family * p.min()))


def test_holm_refuses_a_family_smaller_than_the_tests_given():
    with pytest.raises(ValueError, match="family_size 2 is smaller than the 3 p-values"):
        holm(np.array([0.1, 0.2, 0.3]), 2)


def test_holm_is_bound_marks_values_a_floored_p_sets():
    from supermasks.analysis.stats import holm_is_bound

    # 0.001 is a permutation floor (a bound); m = 3: adjusted 0.003, max(0.003, 2 x 0.003), max(.., 0.5).
    p, bound = np.array([0.001, 0.003, 0.5]), np.array([True, False, False])
    np.testing.assert_allclose(holm(p), [0.003, 0.006, 0.5])
    assert holm_is_bound(p, bound).tolist() == [True, False, False]
    # Two floored and a third just above: 3 x 0.001 = 0.003 is the maximum for all three, so all are bounds.
    p, bound = np.array([0.001, 0.001, 0.0011]), np.array([True, True, False])
    np.testing.assert_allclose(holm(p), [0.003, 0.003, 0.003])
    assert holm_is_bound(p, bound).tolist() == [True, True, True]
    # In a family of 4 with one missing (p = 1), the same: a bound stays a bound, 1 stays exact.
    assert holm_is_bound(np.array([0.001, 1.0]), np.array([True, False]), 4).tolist() == [True, False]
    with pytest.raises(ValueError, match="bound has shape"):
        holm_is_bound(np.array([0.1, 0.2]), np.array([True]))


# --- more overlap than chance ------------------------------------------------------------------


def test_overlap_p_is_tiny_for_overlapping_masks_and_one_for_disjoint():
    rng = np.random.default_rng(3)
    a = rng.random(5000) < 0.5
    b = a.copy()
    flip = rng.random(5000) < 0.1
    b[flip] = ~b[flip]
    masks = {0: {"w": a}, 1: {"w": b}, 2: {"w": ~a}}
    table = pair_statistics(masks).set_index(["task_i", "task_j"])
    assert table.loc[(0, 1), "p_overlap_gt_chance"] < 1e-100
    assert table.loc[(0, 2), "p_overlap_gt_chance"] == pytest.approx(1.0)


def test_overlap_p_is_not_small_for_independent_masks():
    table = overlap_table(random_masks(4, [0.5] * 10, shape=(100, 100)))
    upper = table[(table["task_i"] < table["task_j"]) & (table["layer"] == "fc1")]
    p = upper["p_overlap_gt_chance"].to_numpy()
    assert len(p) == 45
    assert p.min() > 1e-3
    assert 0.3 < p.mean() < 0.7
    assert stats.kstest(p, "uniform").pvalue > 0.01


def test_overlap_p_equals_one_sided_fisher():
    for both, b, c, neither in [(30, 10, 12, 48), (3, 20, 25, 52), (0, 5, 5, 0)]:
        n = both + b + c + neither
        p = overlap_gt_chance_p(n, np.array([both + b]), np.array([both + c]), np.array([both]))
        ref = stats.fisher_exact([[both, b], [c, neither]], alternative="greater").pvalue
        np.testing.assert_allclose(p[0], ref, rtol=1e-10)


# --- ranking -----------------------------------------------------------------------------------


def test_rank_by_overlap_orders_pairs_by_relative_overlap_within_layers():
    rng = np.random.default_rng(5)
    base = rng.random((30, 40)) < 0.5
    masks = {}
    for t, flip in enumerate([0.0, 0.05, 0.2, 0.5]):  # task 0 and 1 share most, task 3 is independent
        m = base.copy()
        swap = rng.random(base.shape) < flip
        m[swap] = rng.random(int(swap.sum())) < 0.5
        masks[t] = {"w": m, "v": rng.random((5, 6)) < 0.5}
    table = overlap_table(masks)
    ranked = rank_by_overlap(table)
    assert list(ranked.columns) == ["rank", *table.columns]
    assert list(ranked["layer"]) == ["w"] * 6 + ["v"] * 6  # layers in order of appearance, each pair once
    for _, layer in ranked.groupby("layer", sort=False):
        assert list(layer["rank"]) == [1, 2, 3, 4, 5, 6]
        assert (layer["task_i"] < layer["task_j"]).all()
        assert np.all(np.diff(layer["relative_to_chance"].to_numpy()) <= 0)
    top = ranked.iloc[0]
    assert (top.task_i, top.task_j) == (0, 1)
    # Hand check: the ratio is Jaccard over its chance level from the two densities.
    a, b = masks[0]["w"], masks[1]["w"]
    jac = (a & b).sum() / (a | b).sum()
    p, q = a.mean(), b.mean()
    assert top.relative_to_chance == pytest.approx(jac / (p * q / (p + q - p * q)))
    flat = rank_by_overlap(table, by_layer=False)
    assert list(flat["rank"]) == list(range(1, 13))
    assert np.all(np.diff(flat["relative_to_chance"].to_numpy()) <= 0)


def test_rank_by_overlap_puts_undefined_ratios_last():
    # Task 0's mask is empty: its chance level is 0 and its ratios are undefined (NaN).
    one, two = np.eye(6, dtype=bool)[0], np.eye(6, dtype=bool)[:2].any(0)
    masks = {0: {"w": np.zeros(6, bool)}, 1: {"w": one}, 2: {"w": two}}
    ranked = rank_by_overlap(overlap_table(masks))
    assert [(r.task_i, r.task_j) for r in ranked.itertuples()] == [(1, 2), (0, 1), (0, 2)]
    # Jaccard 1/2; chance pq / (p + q - pq) with p = 1/6, q = 1/3: (1/18) / (8/18) = 1/8; ratio 4.
    assert ranked["relative_to_chance"].iloc[0] == pytest.approx(4.0)
    assert np.isnan(ranked["relative_to_chance"].iloc[1:]).all()


def test_equal_density_t_ranks_by_density_not_overlap():
    # Equal densities with disjoint ones: the equal-density test sees nothing, the overlap test does.
    a = np.zeros(100, bool)
    a[:50] = True
    masks = {0: {"w": a}, 1: {"w": ~a}, 2: {"w": a.copy()}}
    table = pair_statistics(masks).set_index(["task_i", "task_j"])
    assert table.loc[(0, 1), "equal_density_p"] == pytest.approx(1.0)
    assert table.loc[(0, 2), "equal_density_p"] == pytest.approx(1.0)
    assert table.loc[(0, 1), "p_overlap_gt_chance"] == pytest.approx(1.0)
    assert table.loc[(0, 2), "p_overlap_gt_chance"] < 1e-20


def test_mean_interval_is_the_student_t_interval():
    from supermasks.analysis.efficiency import mean_interval as from_efficiency
    from supermasks.analysis.stats import mean_interval

    assert from_efficiency is mean_interval
    values = np.array([0.2, 0.5, 0.4, 0.9])
    mean, sd, low, high = mean_interval(values)
    ref = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    assert mean == pytest.approx(values.mean()) and sd == pytest.approx(values.std(ddof=1))
    np.testing.assert_allclose([low, high], ref, rtol=1e-12)
    assert np.isnan(mean_interval(np.array([1.0]))[2:]).all()
