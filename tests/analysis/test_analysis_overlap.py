"""Tests of the Jaccard overlap, its chance level and the overlap table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from supermasks.analysis import (
    OVERLAP_COLUMNS,
    STAT_COLUMNS,
    chance_jaccard,
    jaccard,
    mean_overlap,
    overlap_matrix,
    overlap_table,
    pair_matrix,
)
from supermasks.analysis import _counts


def random_masks(seed: int, num_tasks: int, densities=None, shapes=None) -> dict:
    rng = np.random.default_rng(seed)
    shapes = shapes or {"fc1": (30, 40), "fc2": (20, 30)}
    densities = densities or [0.5] * num_tasks
    return {
        t: {layer: rng.random(shape) < densities[t] for layer, shape in shapes.items()}
        for t in range(num_tasks)
    }


# --- jaccard -----------------------------------------------------------------------------------


def test_jaccard_by_hand():
    assert jaccard(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0])) == pytest.approx(1 / 3)
    assert jaccard(np.array([True, True, False]), np.array([True, True, True])) == pytest.approx(2 / 3)


def test_jaccard_empty_union_is_zero():
    assert jaccard(np.zeros((3, 4), bool), np.zeros((3, 4), bool)) == 0.0


def test_jaccard_identical_and_disjoint():
    a = np.array([[1, 0], [1, 1]])
    assert jaccard(a, a) == 1.0
    assert jaccard(a, 1 - a) == 0.0


def test_jaccard_rejects_shape_mismatch_and_non_binary():
    with pytest.raises(ValueError, match="shapes differ"):
        jaccard(np.ones(4), np.ones(5))
    with pytest.raises(ValueError, match="0 and 1"):
        jaccard(np.array([0, 2]), np.array([0, 1]))


@settings(max_examples=50, deadline=None)
@given(
    st.integers(1, 40).flatmap(
        lambda n: st.tuples(arrays(np.bool_, n), arrays(np.bool_, n))
    )
)
def test_jaccard_properties(pair):
    a, b = pair
    value = jaccard(a, b)
    assert 0.0 <= value <= 1.0
    assert value == jaccard(b, a)
    ones_a, ones_b = set(np.flatnonzero(a)), set(np.flatnonzero(b))
    union = ones_a | ones_b
    assert value == pytest.approx(len(ones_a & ones_b) / len(union) if union else 0.0)


# --- chance level ------------------------------------------------------------------------------


def test_chance_by_hand():
    assert chance_jaccard(0.5, 0.5) == pytest.approx(1 / 3)
    assert chance_jaccard(1.0, 0.5) == pytest.approx(0.5)
    assert chance_jaccard(0.0, 0.0) == 0.0
    assert chance_jaccard(0.0, 0.7) == 0.0
    assert chance_jaccard(1.0, 1.0) == 1.0


def test_chance_rejects_bad_density():
    with pytest.raises(ValueError):
        chance_jaccard(1.2, 0.5)


@pytest.mark.parametrize("p, q", [(0.5, 0.5), (0.3, 0.6), (0.05, 0.2)])
def test_chance_matches_monte_carlo(p, q):
    rng = np.random.default_rng(1)
    a = rng.random((200, 5000)) < p
    b = rng.random((200, 5000)) < q
    values = (a & b).sum(1) / (a | b).sum(1)
    assert values.mean() == pytest.approx(chance_jaccard(p, q), abs=2e-3)


# --- overlap table -----------------------------------------------------------------------------


def test_table_shape_columns_and_order():
    masks = random_masks(0, 4)
    table = overlap_table(masks)
    assert list(table.columns) == list(OVERLAP_COLUMNS) + list(STAT_COLUMNS)
    assert len(table) == 2 * 4 * 3
    assert (table.groupby("layer", sort=False).size() == 12).all()
    assert list(pd.unique(table["layer"])) == ["fc1", "fc2"]
    first = table[table["layer"] == "fc1"]
    assert list(zip(first["task_i"], first["task_j"]))[:4] == [(0, 1), (0, 2), (0, 3), (1, 0)]
    assert (table["task_i"] != table["task_j"]).all()
    plain = overlap_table(masks, statistics=False)
    assert list(plain.columns) == list(OVERLAP_COLUMNS)


def test_table_values_match_direct_computation():
    masks = random_masks(1, 4, densities=[0.2, 0.5, 0.7, 0.5])
    table = overlap_table(masks)
    for row in table.itertuples():
        a, b = masks[row.task_i][row.layer], masks[row.task_j][row.layer]
        assert row.jaccard_pct == pytest.approx(100 * jaccard(a, b))
        assert row.density_i == pytest.approx(a.mean())
        assert row.density_j == pytest.approx(b.mean())
        assert row.chance_pct == pytest.approx(100 * chance_jaccard(a.mean(), b.mean()))
        assert row.relative_to_chance == pytest.approx(row.jaccard_pct / row.chance_pct)
        assert row.num_weights == a.size
        assert (row.n_both, row.n_only_i, row.n_only_j) == ((a & b).sum(), (a & ~b).sum(), (~a & b).sum())


def test_table_is_symmetric():
    table = overlap_table(random_masks(2, 5))
    forward = table.set_index(["layer", "task_i", "task_j"])
    backward = table.rename(columns={"task_i": "task_j", "task_j": "task_i"}).set_index(
        ["layer", "task_i", "task_j"]
    )
    backward = backward.loc[forward.index]
    for column in ["jaccard_pct", "chance_pct", "equal_density_p", "equal_density_p_holm", "equal_density_mcnemar_p",
                   "p_overlap_gt_chance"]:
        np.testing.assert_allclose(forward[column], backward[column])
    np.testing.assert_allclose(forward["equal_density_t"], -backward["equal_density_t"])
    np.testing.assert_array_equal(forward["density_i"], backward["density_j"])


def test_table_non_contiguous_task_ids_and_int_masks():
    rng = np.random.default_rng(3)
    masks = {t: {"w": (rng.random((6, 7)) < 0.5).astype(np.uint8)} for t in (11, 3, 7)}
    table = overlap_table(masks)
    assert sorted(set(table["task_i"])) == [3, 7, 11]
    assert len(table) == 6


def test_empty_mask_gives_nan_relative():
    masks = {0: {"w": np.zeros((4, 4), bool)}, 1: {"w": np.ones((4, 4), bool)}}
    table = overlap_table(masks)
    assert (table["jaccard_pct"] == 0).all()
    assert (table["chance_pct"] == 0).all()
    assert table["relative_to_chance"].isna().all()


def test_single_task_gives_empty_table():
    table = overlap_table(random_masks(0, 1))
    assert table.empty
    assert list(table.columns) == list(OVERLAP_COLUMNS) + list(STAT_COLUMNS)


def test_mismatched_masks_are_rejected():
    masks = random_masks(0, 2)
    masks[1]["fc1"] = masks[1]["fc1"][:, :-1]
    with pytest.raises(ValueError, match="shape"):
        overlap_table(masks)
    masks = random_masks(0, 2)
    del masks[1]["fc2"]
    with pytest.raises(ValueError, match="layers"):
        overlap_table(masks)
    with pytest.raises(ValueError, match="empty"):
        overlap_table({})


def test_chunked_intersections_are_exact(monkeypatch):
    stacked = np.random.default_rng(4).random((5, 1000)) < 0.4
    expected = stacked.astype(np.int64) @ stacked.T.astype(np.int64)
    monkeypatch.setattr(_counts, "_CHUNK", 64)
    np.testing.assert_array_equal(_counts.intersection_counts(stacked), expected)


# --- matrix and means --------------------------------------------------------------------------


def test_overlap_matrix_agrees_with_table():
    masks = random_masks(5, 4)
    matrix = overlap_matrix(masks, "fc2")
    assert matrix.shape == (4, 4)
    np.testing.assert_allclose(np.diag(matrix), 100.0)
    np.testing.assert_allclose(matrix, matrix.T)
    table = overlap_table(masks, statistics=False)
    for row in table[table["layer"] == "fc2"].itertuples():
        assert matrix[row.task_i, row.task_j] == pytest.approx(row.jaccard_pct)
    with pytest.raises(ValueError, match="unknown layer"):
        overlap_matrix(masks, "fc9")


def test_overlap_matrix_empty_mask_diagonal_is_zero():
    masks = {0: {"w": np.zeros(5, bool)}, 1: {"w": np.array([1, 0, 1, 0, 0], bool)}}
    np.testing.assert_allclose(overlap_matrix(masks, "w"), [[0.0, 0.0], [0.0, 100.0]])


def test_mean_overlap():
    table = overlap_table(random_masks(6, 3), statistics=False)
    means = mean_overlap(table)
    assert list(means.columns) == [
        "layer",
        "num_pairs",
        "mean_jaccard_pct",
        "mean_chance_pct",
        "mean_relative_to_chance",
    ]
    assert list(means["layer"]) == ["fc1", "fc2"]
    fc1 = table[table["layer"] == "fc1"]
    row = means.iloc[0]
    assert row["num_pairs"] == 6
    assert row["mean_jaccard_pct"] == pytest.approx(fc1["jaccard_pct"].mean())
    assert row["mean_chance_pct"] == pytest.approx(fc1["chance_pct"].mean())
    assert row["mean_relative_to_chance"] == pytest.approx(fc1["relative_to_chance"].mean())


def test_pair_matrix_holds_one_column_of_the_table():
    masks = random_masks(4, 4)
    masks = {t * 3 + 1: m for t, m in masks.items()}  # non-contiguous ids come out sorted
    table = overlap_table(masks)
    matrix, task_ids = pair_matrix(table, "fc1")
    assert task_ids == [1, 4, 7, 10]
    assert np.isnan(np.diag(matrix)).all()
    for row in table[table["layer"] == "fc1"].itertuples():
        assert matrix[task_ids.index(row.task_i), task_ids.index(row.task_j)] == row.relative_to_chance
    jaccard_pct, _ = pair_matrix(table, "fc1", "jaccard_pct")
    off = ~np.eye(4, dtype=bool)
    np.testing.assert_allclose(jaccard_pct[off], overlap_matrix(masks, "fc1")[off])
    with pytest.raises(ValueError, match="no rows"):
        pair_matrix(table, "fc9")
