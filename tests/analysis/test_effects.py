"""Effect sizes of a pair measure against relatedness: bins and slopes computed by hand on small matrices."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from supermasks.analysis.effects import RULES, effect_over_seeds, pair_values, rule_for, seed_effect, seed_effects
from supermasks.data import load_source, make_benchmark, task_relatedness

ANGLE = "angle difference (degrees)"
CLASSES = "shared classes"
PIXELS = "fraction of pixels both leave in place"


def matrix(upper: list[float], num_tasks: int) -> np.ndarray:
    """A symmetric (T, T) matrix from its upper triangle, row by row (pairs (0,1), (0,2), ...), NaN diagonal."""
    out = np.full((num_tasks, num_tasks), np.nan)
    ii, jj = np.triu_indices(num_tasks, k=1)
    out[ii, jj] = out[jj, ii] = upper
    return out


# Rotated: tasks at 0, 10, 20, 30 degrees; pairs (0,1) (0,2) (0,3) (1,2) (1,3) (2,3) are 10 20 30 10 20 10 apart.
ANGLES = matrix([10, 20, 30, 10, 20, 10], 4)
OVERLAP = matrix([2.0, 1.9, 1.5, 2.2, 2.1, 2.4], 4)


def test_rotated_bins_are_the_smallest_and_largest_angle_and_the_slope_is_per_10_degrees():
    effect = seed_effect(pair_values(OVERLAP), pair_values(ANGLES), "lower", rule_for(ANGLE))
    # Smallest angle (10): pairs (0,1), (1,2), (2,3) -> (2.0 + 2.2 + 2.4) / 3; largest (30): pair (0,3).
    assert effect.most_related == pytest.approx(2.2) and effect.least_related == pytest.approx(1.5)
    assert effect.difference == pytest.approx(0.7)
    assert (effect.most_relatedness, effect.least_relatedness) == (10.0, 30.0)
    # Least squares by hand: mean angle 50/3, Sxx = 3 (20/3)^2 + 2 (10/3)^2 + (40/3)^2 = 1000/3;
    # Sxy = -(20/3)(0.55) + (10/3)(-1/30) + (40/3)(-31/60) = -32/3; slope -0.032 per degree.
    assert effect.slope == pytest.approx(-0.32)


def test_split_bins_are_the_most_shared_classes_against_none_and_a_binary_slope_is_their_difference():
    # Classes (0,1), (1,2), (2,3), (4,5): pairs (0,1) and (1,2) share one class, the others none.
    shared = matrix([1, 0, 0, 1, 0, 0], 4)
    ratio = matrix([3.0, 2.0, 1.0, 4.0, 1.5, 2.5], 4)
    effect = seed_effect(pair_values(ratio), pair_values(shared), "higher", rule_for(CLASSES))
    assert effect.most_related == pytest.approx(3.5) and effect.least_related == pytest.approx(1.75)
    assert (effect.most_relatedness, effect.least_relatedness) == (1.0, 0.0)
    # With a 0/1 relatedness the least-squares slope is the difference of the two groups' means.
    assert effect.slope == pytest.approx(effect.difference) == pytest.approx(1.75)


def test_permuted_bins_are_the_outer_thirds_and_the_slope_is_per_tenth_of_the_pixels():
    fixed = matrix([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], 4)
    ratio = 1.0 + 2.0 * fixed  # exactly linear: 2 per unit of relatedness
    effect = seed_effect(pair_values(ratio), pair_values(fixed), "higher", rule_for(PIXELS))
    # Quantiles of the six values (linear): 1/3 -> 0.2 + (2/3) 0.1, 2/3 -> 0.4 + (1/3) 0.1;
    # lowest third {0.1, 0.2}, highest {0.5, 0.6}.
    assert effect.least_related == pytest.approx((1.2 + 1.4) / 2) and effect.most_related == pytest.approx(2.1)
    assert effect.most_relatedness == pytest.approx(0.55) and effect.least_relatedness == pytest.approx(0.15)
    assert effect.slope == pytest.approx(0.2)


def test_the_rules_cover_the_names_every_benchmark_gives_its_relatedness():
    small = load_source("synthetic")
    names = {task_relatedness(make_benchmark(name, small, num_tasks=4, seed=0, **kwargs)).name
             for name, kwargs in (("rotated", {"rotation_step": 15}), ("permuted", {"permute_fraction": 0.5}),
                                  ("split", {"classes_per_task": 2}))}
    assert names == set(RULES)
    assert rule_for("something else").unit == 1.0 and rule_for("something else").bins == "thirds"


def test_constant_relatedness_and_overlapping_bins_give_nan_not_numbers():
    flat = seed_effect(np.array([1.0, 2.0, 3.0]), np.zeros(3), "higher", rule_for(PIXELS))
    assert all(math.isnan(v) for v in (flat.most_related, flat.least_related, flat.slope))
    # Four of five values tied: both thirds would hold the tied pairs.
    tied = seed_effect(np.arange(5.0), np.array([0.0, 1.0, 1.0, 1.0, 1.0]), "higher", rule_for(PIXELS))
    assert math.isnan(tied.difference) and math.isnan(tied.slope)


def test_pairs_with_an_undefined_measure_are_left_out():
    ratio = OVERLAP.copy()
    ratio[0, 3] = ratio[3, 0] = np.nan  # the only pair 30 degrees apart: now the largest angle is 20
    effect = seed_effect(pair_values(ratio), pair_values(ANGLES), "lower", rule_for(ANGLE))
    assert effect.least_related == pytest.approx(2.0) and effect.least_relatedness == 20.0


def test_over_seeds_the_intervals_are_student_t_over_the_per_seed_values():
    seeds = [(OVERLAP + shift, ANGLES) for shift in (0.0, 0.1, 0.3)]
    effect = effect_over_seeds(seeds, ANGLE, "lower")
    most = [2.2, 2.3, 2.5]
    half = stats.t.ppf(0.975, 2) * stats.sem(most)
    assert effect.most_related == pytest.approx(np.mean(most))
    assert (effect.most_related_low, effect.most_related_high) == pytest.approx((np.mean(most) - half,
                                                                                 np.mean(most) + half))
    # A shift moves both bins alike: the difference and the slope are the same in every seed, so no spread.
    assert effect.difference == pytest.approx(0.7) and effect.difference_high - effect.difference_low == \
        pytest.approx(0.0, abs=1e-9)
    assert effect.slope == pytest.approx(-0.32) and effect.slope_unit == "10 degrees"
    assert effect.columns("x_")["x_slope_unit"] == "10 degrees"


def test_one_seed_gives_no_interval():
    effect = effect_over_seeds([(OVERLAP, ANGLES)], ANGLE, "lower")
    assert effect.most_related == pytest.approx(2.2)
    assert all(math.isnan(v) for v in (effect.most_related_low, effect.most_related_high, effect.difference_low,
                                       effect.slope_low, effect.slope_high))


def test_related_when_lower_puts_small_values_in_the_most_related_bin():
    higher = seed_effects([(OVERLAP, ANGLES)], ANGLE, "higher")[0]
    lower = seed_effects([(OVERLAP, ANGLES)], ANGLE, "lower")[0]
    assert higher.most_related == lower.least_related and higher.least_related == lower.most_related
    assert higher.slope == lower.slope  # the slope is per unit of relatedness, whatever its direction
    with pytest.raises(ValueError, match="related_when"):
        seed_effect(np.ones(3), np.arange(3.0), "closer", rule_for(ANGLE))
