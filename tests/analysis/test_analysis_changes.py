"""Overlap of learned changes: hand-computed tiny masks, empty changes, and a straightforward implementation."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supermasks.analysis.changes import CHANCE_STRATA, CHANGE_COLUMNS, KINDS, change_table, margin_cells, mean_changes
from supermasks.analysis.overlap import overlap_table


def bits(text):
    return np.array([c == "1" for c in text])


def row(table, i, j, layer="fc"):
    found = table[(table.layer == layer) & (table.task_i == i) & (table.task_j == j)]
    assert len(found) == 1
    return found.iloc[0]


# Shared init: both tasks start from m0 = 11110000 (4 ones, 4 zeros).
# task 0 ends 11101100: off {3}, on {4, 5}, any {3, 4, 5}
# task 1 ends 11001001: off {2, 3}, on {4, 7}, any {2, 3, 4, 7}
SHARED_INITIAL = {0: {"fc": bits("11110000")}, 1: {"fc": bits("11110000")}}
SHARED_FINAL = {0: {"fc": bits("11101100")}, 1: {"fc": bits("11001001")}}


def test_hand_computed_changes_from_a_shared_initial_mask():
    table = change_table(SHARED_FINAL, SHARED_INITIAL)
    assert list(table.columns) == list(CHANGE_COLUMNS) and len(table) == 2
    r = row(table, 0, 1)
    assert (r.changed_i, r.changed_j, r.on_i, r.on_j, r.off_i, r.off_j) == (3 / 8, 4 / 8, 2 / 8, 2 / 8, 1 / 8, 2 / 8)
    # rates where the change is possible: u (on, among the 4 zeros) = 2/4 and 2/4; v (off, among the 4 ones) = 1/4, 2/4
    # on: both {4}, union {4, 5, 7}: J = 1/3; E = .5 * .5 * 4 = 1, chance = 1 / (2 + 2 - 1) = 1/3, ratio 1
    assert r.on_both == 1 and r.on_jaccard_pct == pytest.approx(100 / 3)
    assert r.on_chance_pct == pytest.approx(100 / 3) and r.on_relative_to_chance == pytest.approx(1.0)
    # off: both {3}, union {2, 3}: J = 1/2; E = .25 * .5 * 4 = .5, chance = .5 / (1 + 2 - .5) = .2, ratio 2.5
    assert r.off_both == 1 and r.off_jaccard_pct == pytest.approx(50.0)
    assert r.off_chance_pct == pytest.approx(20.0) and r.off_relative_to_chance == pytest.approx(2.5)
    # any: both {3, 4}, union {2, 3, 4, 5, 7}: J = 2/5; E = 1 + .5 (no weight is a zero of one init and a one
    # of the other), chance = 1.5 / (3 + 4 - 1.5) = 3/11, ratio .4 * 11/3 = 22/15
    assert r.any_both == 2 and r.any_jaccard_pct == pytest.approx(40.0)
    assert r.any_chance_pct == pytest.approx(300 / 11) and r.any_relative_to_chance == pytest.approx(22 / 15)
    # agreement: the final masks agree on weights 0, 1, 3, 4, 6: p_o = 5/8;
    # p_e = 4/8 (.5 * .5 + .5 * .5) + 4/8 (.25 * .5 + .75 * .5) = .25 + .25 = .5; kappa = (.625 - .5) / .5 = .25
    assert bool(r.shared_init)
    assert r.agreement_pct == pytest.approx(62.5) and r.agreement_chance_pct == pytest.approx(50.0)
    assert r.agreement_kappa == pytest.approx(0.25)
    # the reversed pair swaps the tasks' own columns and keeps the pair's
    s = row(table, 1, 0)
    assert (s.changed_i, s.changed_j, s.off_i, s.off_j) == (r.changed_j, r.changed_i, r.off_j, r.off_i)
    for column in ("on_jaccard_pct", "off_chance_pct", "any_relative_to_chance", "agreement_kappa"):
        assert s[column] == pytest.approx(r[column])


def test_hand_computed_changes_from_different_initial_masks():
    # task 0: m0 11110000 -> 11101100: on {4, 5}, off {3}
    # task 1: m0 11001100 -> 11100110: on {2, 6}, off {4}
    initial = {0: {"fc": bits("11110000")}, 1: {"fc": bits("11001100")}}
    final = {0: {"fc": bits("11101100")}, 1: {"fc": bits("11100110")}}
    r = row(change_table(final, initial), 0, 1)
    # Z0 = {4,5,6,7}, Z1 = {2,3,6,7}, O0 = {0,1,2,3}, O1 = {0,1,4,5}: |Z0 Z1| = 2, |O0 O1| = 2, |Z0 O1| = 2, |O0 Z1| = 2
    # u0 = 2/4, u1 = 2/4, v0 = 1/4, v1 = 1/4
    # on: no weight in common, J = 0; E = .5 * .5 * 2 = .5, chance = .5 / 3.5 = 1/7, ratio 0
    assert r.on_both == 0 and r.on_jaccard_pct == 0 and r.on_chance_pct == pytest.approx(100 / 7)
    assert r.on_relative_to_chance == 0
    # off: J = 0; E = .25 * .25 * 2 = .125, chance = .125 / 1.875 = 1/15
    assert r.off_jaccard_pct == 0 and r.off_chance_pct == pytest.approx(100 / 15)
    # any: weight 4 (on in task 0, off in task 1), union {2, 3, 4, 5, 6}: J = 1/5;
    # E = .5 + .125 + u0 v1 |Z0 O1| + v0 u1 |O0 Z1| = .625 + .25 + .25 = 1.125, chance = 1.125 / 4.875 = 3/13
    assert r.any_both == 1 and r.any_jaccard_pct == pytest.approx(20.0)
    assert r.any_chance_pct == pytest.approx(300 / 13) and r.any_relative_to_chance == pytest.approx(13 / 15)
    assert not r.shared_init
    assert math.isnan(r.agreement_pct) and math.isnan(r.agreement_chance_pct) and math.isnan(r.agreement_kappa)


def test_no_changes_give_zero_jaccard_and_nan_ratios():
    initial = {0: {"fc": bits("11110000")}, 1: {"fc": bits("11110000")}, 2: {"fc": bits("11110000")}}
    final = {0: {"fc": bits("11110000")}, 1: {"fc": bits("11110000")}, 2: {"fc": bits("01110001")}}
    table = change_table(final, initial)
    r = row(table, 0, 1)  # neither task changed anything
    for kind in KINDS:
        assert r[f"{kind}_jaccard_pct"] == 0 and r[f"{kind}_chance_pct"] == 0
        assert math.isnan(r[f"{kind}_relative_to_chance"])
    # the final masks agree everywhere, as chance says they must: kappa is 0/0
    assert r.agreement_pct == 100 and r.agreement_chance_pct == 100 and math.isnan(r.agreement_kappa)
    r = row(table, 0, 2)  # one task changed two weights, the other none
    assert r.any_jaccard_pct == 0 and r.any_chance_pct == 0 and math.isnan(r.any_relative_to_chance)
    # p_o = 6/8; p_e = 4/8 (1 * (1 - 1/4)) + 4/8 (1 * (1 - 1/4)) = 3/4: kappa 0
    assert r.agreement_pct == pytest.approx(75.0) and r.agreement_kappa == pytest.approx(0.0)


def test_an_initial_mask_without_zeros_allows_no_switching_on():
    initial = {0: {"fc": bits("1111")}, 1: {"fc": bits("1111")}}
    final = {0: {"fc": bits("0111")}, 1: {"fc": bits("0011")}}
    r = row(change_table(final, initial), 0, 1)
    assert r.on_i == 0 and r.on_chance_pct == 0 and math.isnan(r.on_relative_to_chance)
    # off: both {0}, union {0, 1}: J = 1/2; v0 = 1/4, v1 = 2/4, E = 1/8 * 4 = .5, chance = .5 / 2.5 = .2
    assert r.off_jaccard_pct == pytest.approx(50.0) and r.off_chance_pct == pytest.approx(20.0)


def test_rows_follow_the_overlap_table_and_a_single_task_gives_an_empty_table():
    rng = np.random.default_rng(0)
    final = {t: {"a": rng.random((3, 5)) < 0.5, "b": rng.random(7) < 0.3} for t in (2, 0, 5)}
    initial = {t: {"a": rng.random((3, 5)) < 0.5, "b": rng.random(7) < 0.3} for t in (0, 2, 5)}
    table = change_table(final, initial)
    expected = overlap_table(final, statistics=False)[["layer", "task_i", "task_j"]]
    pd.testing.assert_frame_equal(table[["layer", "task_i", "task_j"]], expected)
    one = change_table({0: final[0]}, {0: initial[0]})
    assert one.empty and list(one.columns) == list(CHANGE_COLUMNS)


def test_mismatched_initial_masks_are_refused():
    final = {0: {"fc": bits("1100")}, 1: {"fc": bits("1010")}}
    with pytest.raises(ValueError, match=r"final masks are of tasks \[0, 1\], initial masks of tasks \[0\]"):
        change_table(final, {0: {"fc": bits("1100")}})
    with pytest.raises(ValueError, match="final masks have layers"):
        change_table(final, {0: {"fc2": bits("1100")}, 1: {"fc2": bits("1100")}})
    with pytest.raises(ValueError, match="layer 'fc': initial masks have shape"):
        change_table(final, {0: {"fc": bits("11000")}, 1: {"fc": bits("11000")}})


def test_mean_changes_averages_per_layer_skipping_nans():
    initial = {t: {"fc": bits("11110000"), "out": bits("1100")} for t in range(3)}
    final = {0: {"fc": bits("11101100"), "out": bits("1100")}, 1: {"fc": bits("11001001"), "out": bits("1100")},
             2: {"fc": bits("11110000"), "out": bits("0110")}}
    table = change_table(final, initial)
    means = mean_changes(table)
    assert list(means.layer) == ["fc", "out"] and list(means.num_pairs) == [6, 6]
    assert list(means.shared_init_pairs) == [6, 6]
    fc = table[table.layer == "fc"]
    got = means[means.layer == "fc"].iloc[0]
    assert got.mean_changed == pytest.approx((3 / 8 + 4 / 8 + 0) / 3)
    assert got.mean_any_jaccard_pct == pytest.approx(fc.any_jaccard_pct.mean())
    assert got.mean_on_relative_to_chance == pytest.approx(np.nanmean(fc.on_relative_to_chance))
    assert got.mean_off_relative_to_layer_chance == pytest.approx(np.nanmean(fc.off_relative_to_layer_chance))
    assert got.chance_strata == 1
    assert got.mean_agreement_kappa == pytest.approx(np.nanmean(fc.agreement_kappa))


# -- a straightforward implementation: one pair at a time, one probability per weight --------------------------
def straightforward(final, initial):
    rows = []
    tasks = sorted(final)
    for layer in final[tasks[0]]:
        for i in tasks:
            for j in tasks:
                if i == j:
                    continue
                m0_i, m0_j = initial[i][layer].ravel(), initial[j][layer].ravel()
                m_i, m_j = final[i][layer].ravel(), final[j][layer].ravel()
                n = m_i.size
                changes_i = {"on": m_i & ~m0_i, "off": m0_i & ~m_i, "any": m_i != m0_i}
                changes_j = {"on": m_j & ~m0_j, "off": m0_j & ~m_j, "any": m_j != m0_j}

                def rate(count, possible):
                    return count / possible if possible else 0.0

                def probabilities(m0, changes):
                    """Per weight, the probability of each kind of change under random placement."""
                    u = rate(changes["on"].sum(), (~m0).sum())
                    v = rate(changes["off"].sum(), m0.sum())
                    on, off = np.where(m0, 0.0, u), np.where(m0, v, 0.0)
                    return {"on": on, "off": off, "any": on + off}

                p_i, p_j = probabilities(m0_i, changes_i), probabilities(m0_j, changes_j)
                out = {"layer": layer, "task_i": i, "task_j": j, "changed_i": changes_i["any"].mean(),
                       "changed_j": changes_j["any"].mean()}
                for kind in KINDS:
                    a, b = changes_i[kind], changes_j[kind]
                    union = (a | b).sum()
                    jac = (a & b).sum() / union if union else 0.0
                    expected = float(np.sum(p_i[kind] * p_j[kind]))
                    denominator = a.sum() + b.sum() - expected
                    chance = expected / denominator if denominator else 0.0
                    out |= {f"{kind}_jaccard_pct": 100 * jac, f"{kind}_chance_pct": 100 * chance,
                            f"{kind}_relative_to_chance": jac / chance if chance else np.nan}
                shared = bool(np.array_equal(m0_i, m0_j))
                kappa = np.nan
                if shared:
                    observed = np.mean(m_i == m_j)
                    same = [p_i["any"][w] * p_j["any"][w] + (1 - p_i["any"][w]) * (1 - p_j["any"][w]) for w in range(n)]
                    by_chance = float(np.mean(same))
                    kappa = (observed - by_chance) / (1 - by_chance) if by_chance != 1 else np.nan
                out |= {"shared_init": shared, "agreement_kappa": kappa}
                rows.append(out)
    return pd.DataFrame(rows)


@st.composite
def mask_pairs(draw):
    num_tasks = draw(st.integers(2, 4))
    shapes = {"a": (draw(st.integers(1, 6)), draw(st.integers(1, 6))), "b": (draw(st.integers(1, 20)),)}
    seed = draw(st.integers(0, 2**32 - 1))
    shared = draw(st.booleans())
    init_density, change = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0])), draw(st.sampled_from([0.0, 0.05, 0.3, 1.0]))
    rng = np.random.default_rng(seed)
    common = {layer: rng.random(shape) < init_density for layer, shape in shapes.items()}
    initial = {t: {layer: common[layer] if shared else rng.random(shape) < init_density for layer, shape in shapes.items()}
               for t in range(num_tasks)}
    final = {t: {layer: initial[t][layer] ^ (rng.random(shape) < change) for layer, shape in shapes.items()}
             for t in range(num_tasks)}
    return final, initial


@settings(max_examples=60, deadline=None)
@given(mask_pairs())
def test_change_table_equals_a_straightforward_implementation(pair):
    final, initial = pair
    table = change_table(final, initial)
    expected = straightforward(final, initial)
    assert len(table) == len(expected)
    for column in expected.columns:
        got, want = table[column].to_numpy(), expected[column].to_numpy()
        if column in ("layer", "task_i", "task_j", "shared_init"):
            assert list(got) == list(want), column
        else:
            np.testing.assert_allclose(got.astype(float), want.astype(float), rtol=1e-9, atol=1e-9, err_msg=column)


@pytest.mark.parametrize("density", [0.5, 0.1])
def test_random_changes_from_a_shared_init_sit_at_chance(density):
    """Changes placed at random read about 1x chance; fractions of the whole layer would read about n / |O|."""
    rng = np.random.default_rng(7)
    n = 200_000
    common = rng.random(n) < density
    initial = {t: {"fc": common} for t in range(4)}
    final = {t: {"fc": common ^ (rng.random(n) < 0.07)} for t in range(4)}
    table = change_table(final, initial)
    assert table.shared_init.all()
    for kind in KINDS:
        assert 0.9 < table[f"{kind}_relative_to_chance"].mean() < 1.1, kind
    assert abs(table.agreement_kappa.mean()) < 0.01
    p, q = table.off_i.to_numpy(), table.off_j.to_numpy()
    whole_layer = p * q / (p + q - p * q)
    assert (table.off_jaccard_pct / 100 / whole_layer).mean() > 0.8 / density


# -- chance within strata of the shared initial score ----------------------------------------------------------
# SHARED_INITIAL/SHARED_FINAL with margins that put weights 2, 3 (side m0 = 1) and 4, 7 (side m0 = 0) nearest
# the threshold: with 2 strata per side the cells are {2, 3}, {0, 1} (side 1) and {4, 7}, {5, 6} (side 0).
SHARED_MARGINS = {"fc": np.array([0.9, 0.8, 0.1, 0.2, 0.1, 0.7, 0.8, 0.2])}


def test_margin_cells_are_quantile_bins_per_side_of_the_threshold():
    cells = margin_cells(SHARED_MARGINS["fc"], bits("11110000"), 2)
    assert list(cells) == [3, 3, 2, 2, 0, 1, 1, 0]
    # 5 ones over 2 bins: ranks 0..4 -> bins 0 0 0 1 1 (sizes differ by one); ties keep index order, so
    # weight 3 (0.1) has rank 0, weights 0, 1, 2 (0.5) ranks 1, 2, 3 and weight 4 (0.9) rank 4
    cells = margin_cells(np.array([0.5, 0.5, 0.5, 0.1, 0.9]), np.ones(5, dtype=bool), 2)
    assert list(cells) == [2, 2, 3, 2, 3]
    # fewer weights on a side than strata: one weight per bin
    assert list(margin_cells(np.array([3.0, 1.0, 2.0]), np.zeros(3, dtype=bool), 10)) == [6, 0, 3]
    with pytest.raises(ValueError, match="num_strata must be at least 1"):
        margin_cells(np.zeros(3), np.zeros(3, dtype=bool), 0)


def test_hand_computed_stratified_chance():
    table = change_table(SHARED_FINAL, SHARED_INITIAL, margins=SHARED_MARGINS, num_strata=2)
    r = row(table, 0, 1)
    assert r.chance_strata == 2
    # on: task 0 {4, 5} has 1 in {4, 7} and 1 in {5, 6}; task 1 {4, 7} has 2 and 0: E = 1 * 2 / 2 + 1 * 0 / 2 = 1,
    # chance 1 / (2 + 2 - 1) = 1/3 (as the whole layer: J = 1/3, ratio 1)
    assert r.on_chance_pct == pytest.approx(100 / 3) and r.on_relative_to_chance == pytest.approx(1.0)
    # off: task 0 {3}, task 1 {2, 3}, all in cell {2, 3}: E = 1 * 2 / 2 = 1 (whole layer: .5), chance 1 / (1 + 2 - 1)
    assert r.off_chance_pct == pytest.approx(50.0) and r.off_relative_to_chance == pytest.approx(1.0)
    assert r.off_layer_chance_pct == pytest.approx(20.0) and r.off_relative_to_layer_chance == pytest.approx(2.5)
    # any: E = 1 + 1 = 2, chance 2 / (3 + 4 - 2) = 2/5 = J (whole layer: 3/11, ratio 22/15)
    assert r.any_chance_pct == pytest.approx(40.0) and r.any_relative_to_chance == pytest.approx(1.0)
    assert r.any_layer_chance_pct == pytest.approx(300 / 11)
    assert r.any_relative_to_layer_chance == pytest.approx(22 / 15)
    # agreement: p_o = 5/8, p_e = 1 - (3 + 4 - 2 * 2) / 8 = 5/8: kappa 0 (whole layer: .25)
    assert r.agreement_chance_pct == pytest.approx(62.5) and r.agreement_kappa == pytest.approx(0.0)
    # without margins the ratio is the whole-layer one, and says so
    plain = row(change_table(SHARED_FINAL, SHARED_INITIAL), 0, 1)
    assert plain.chance_strata == 1 and plain.any_chance_pct == plain.any_layer_chance_pct == pytest.approx(300 / 11)


def test_one_stratum_per_side_is_the_whole_layer_chance():
    rng = np.random.default_rng(3)
    common = rng.random(500) < 0.4
    initial = {t: {"fc": common} for t in range(3)}
    final = {t: {"fc": common ^ (rng.random(500) < 0.1)} for t in range(3)}
    table = change_table(final, initial, margins={"fc": rng.random(500)}, num_strata=1)
    for kind in KINDS:
        np.testing.assert_allclose(table[f"{kind}_chance_pct"], table[f"{kind}_layer_chance_pct"], rtol=1e-12)
    np.testing.assert_allclose(table.agreement_kappa, change_table(final, initial).agreement_kappa, rtol=1e-12)


def test_margins_need_one_shared_initial_mask_and_every_layer():
    initial = {0: {"fc": bits("1100")}, 1: {"fc": bits("1010")}}
    final = {0: {"fc": bits("1000")}, 1: {"fc": bits("1011")}}
    with pytest.raises(ValueError, match="layer 'fc': margins of one shared initial score were given, but the "
                                         "tasks' initial masks differ"):
        change_table(final, initial, margins={"fc": np.arange(4.0)})
    with pytest.raises(ValueError, match=r"margins are of layers \['fc2'\], masks of layers \['fc'\]"):
        change_table(final, {0: initial[0], 1: initial[0]}, margins={"fc2": np.arange(4.0)})
    with pytest.raises(ValueError, match="layer 'fc': 3 margins for 4 weights"):
        change_table(final, {0: initial[0], 1: initial[0]}, margins={"fc": np.arange(3.0)})


def stratified_straightforward(final, initial, margins, num_strata):
    """Per pair: the expected intersection and agreement from one probability per weight, its cell's rate."""
    rows = []
    tasks = sorted(final)
    for layer in final[tasks[0]]:
        m0 = initial[tasks[0]][layer].ravel()
        cells = margin_cells(margins[layer], m0, num_strata)
        for i in tasks:
            for j in tasks:
                if i == j:
                    continue
                out = {}
                for kind, change in (("on", lambda m: m & ~m0), ("off", lambda m: m0 & ~m), ("any", lambda m: m != m0)):
                    a, b = change(final[i][layer].ravel()), change(final[j][layer].ravel())
                    p_a = np.array([a[cells == c].mean() for c in cells])
                    p_b = np.array([b[cells == c].mean() for c in cells])
                    expected = float(np.sum(p_a * p_b))
                    denominator = a.sum() + b.sum() - expected
                    out[f"{kind}_chance_pct"] = 100 * expected / denominator if denominator else 0.0
                    if kind == "any":
                        by_chance = float(np.mean(p_a * p_b + (1 - p_a) * (1 - p_b)))
                        observed = float(np.mean(a == b))
                        out["agreement_kappa"] = (observed - by_chance) / (1 - by_chance) if by_chance != 1 else np.nan
                rows.append(out)
    return pd.DataFrame(rows)


@settings(max_examples=40, deadline=None)
@given(mask_pairs(), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_stratified_chance_equals_one_probability_per_weight(pair, num_strata, seed):
    final, initial = pair
    initial = {t: initial[0] for t in initial}  # one shared initial mask
    rng = np.random.default_rng(seed)
    margins = {layer: rng.random(np.shape(bits_)) for layer, bits_ in initial[0].items()}
    table = change_table(final, initial, margins=margins, num_strata=num_strata)
    expected = stratified_straightforward(final, initial, margins, num_strata)
    for column in expected.columns:
        np.testing.assert_allclose(table[column].to_numpy(float), expected[column].to_numpy(float), rtol=1e-9,
                                   atol=1e-9, err_msg=column)


@pytest.mark.parametrize("seed", range(5))
def test_uniform_changes_read_the_same_stratified_and_whole_layer_chance(seed):
    """Changes that ignore the margin: the strata change nothing but noise, both chances read about 1x."""
    rng = np.random.default_rng(seed)
    n = 200_000
    common = rng.random(n) < 0.5
    initial = {t: {"fc": common} for t in range(4)}
    final = {t: {"fc": common ^ (rng.random(n) < 0.07)} for t in range(4)}
    table = change_table(final, initial, margins={"fc": rng.random(n)})
    assert (table.chance_strata == CHANCE_STRATA).all()
    for kind in KINDS:
        assert 0.9 < table[f"{kind}_relative_to_chance"].mean() < 1.1, kind
        assert 0.9 < table[f"{kind}_relative_to_layer_chance"].mean() < 1.1, kind
        np.testing.assert_allclose(table[f"{kind}_chance_pct"], table[f"{kind}_layer_chance_pct"], rtol=0.05)


@pytest.mark.parametrize("seed", range(20))
def test_changes_piled_up_near_the_threshold_fool_the_whole_layer_chance_only(seed):
    """Each task flips half of the weights nearest the threshold, at random: unrelated, but sharing a start.

    The whole layer expects k_i k_j / n_side of them shared, the strata k_i k_j / n_b: the former is
    CHANCE_STRATA times too low whatever the seed, the latter is the expectation of this placement.
    """
    rng = np.random.default_rng(seed)
    n = 40_000  # 20,000 per side, 1,000 per stratum
    common = np.arange(n) % 2 == 0
    margins = rng.random(n)
    nearest = margin_cells(margins, common, CHANCE_STRATA) % CHANCE_STRATA == 0
    initial = {t: {"fc": common} for t in range(3)}
    final = {t: {"fc": common ^ (nearest & (rng.random(n) < 0.5))} for t in range(3)}
    table = change_table(final, initial, margins={"fc": margins})
    for kind in KINDS:
        assert (table[f"{kind}_relative_to_layer_chance"] > 10).all(), kind
        assert table[f"{kind}_relative_to_chance"].between(0.8, 1.2).all(), kind
    assert table.agreement_kappa.abs().max() < 0.15  # about 7 standard deviations (0.02) of kappa here
