"""How large a trend of a pair measure with task relatedness is, over seeds: its extreme bins and its slope.

A Mantel r says whether a measure of pairs of tasks (overlap / chance, say) follows their
relatedness; these say by how much, in the measure's own unit. Per seed, from the pairs of
distinct tasks (the upper triangle of the symmetrised matrices, pairs with a non-finite measure
left out):

- **bins**: the mean measure over the most related pairs and over the least related ones. One rule
  per kind of relatedness (`rule_for`, keyed by the relatedness name `data.relatedness` writes):
  - rotated, "angle difference (degrees)", discrete: the most related bin holds the pairs at the
    smallest angle difference present, the least related the pairs at the largest;
  - split, "shared classes", discrete: the pairs sharing the most classes present against those
    sharing the fewest (none, wherever some pair of tasks is disjoint);
  - permuted, "fraction of pixels both leave in place", continuous: thirds; the least related bin
    holds the pairs at or below the 1/3 quantile of the seed's relatedness values (numpy's linear
    interpolation), the most related those at or above the 2/3 quantile;
  - any other relatedness: thirds, with a slope per unit of it.
  Each bin's mean relatedness is kept beside it, so a reader sees how far apart the bins are.
- **difference**: most related minus least related (positive: related pairs score higher);
- **slope**: the least-squares slope of the measure on relatedness over the seed's pairs, times the
  rule's unit: per 10 degrees (rotated), per shared class (split), per 0.1 of the pixels both tasks
  leave in place (permuted).

Over seeds each of these is the mean of the per-seed values with the Student t 95% interval
`stats.mean_interval` (the difference is paired within a seed: its interval is that of the per-seed
differences). With one seed the spread over seeds is unknown: the bounds are NaN, never invented.
Everything is NaN where a seed's relatedness is constant over its pairs (no slope, no two bins) or
where its two bins would share a pair (thirds over heavily tied values).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from .stats import mean_interval


@dataclass(frozen=True)
class BinRule:
    """How to bin one kind of relatedness: the two extreme values present, or the outer thirds; and the slope's unit."""

    bins: Literal["extremes", "thirds"]
    unit: float  # the slope is given per this much relatedness
    unit_name: str  # "10 degrees"


RULES: dict[str, BinRule] = {
    "angle difference (degrees)": BinRule("extremes", 10.0, "10 degrees"),
    "shared classes": BinRule("extremes", 1.0, "shared class"),
    "fraction of pixels both leave in place": BinRule("thirds", 0.1, "0.1 of the pixels both leave in place"),
}


def rule_for(relatedness_name: str) -> BinRule:
    """The rule of a relatedness (module docstring); thirds and a slope per unit for one without its own."""
    return RULES.get(relatedness_name, BinRule("thirds", 1.0, f"unit of {relatedness_name}"))


@dataclass(frozen=True)
class SeedEffect:
    """One seed's effect sizes (module docstring); NaN where undefined."""

    most_related: float  # mean measure of the most related bin
    least_related: float
    most_relatedness: float  # mean relatedness of the pairs of that bin
    least_relatedness: float
    slope: float  # per `BinRule.unit` of relatedness

    @property
    def difference(self) -> float:
        return self.most_related - self.least_related


_UNDEFINED = SeedEffect(math.nan, math.nan, math.nan, math.nan, math.nan)


def pair_values(matrix: np.ndarray) -> np.ndarray:
    """The upper-triangle entries (i < j) of the symmetrised `(M + M.T) / 2`, row by row."""
    matrix = np.asarray(matrix, dtype=np.float64)
    return ((matrix + matrix.T) / 2.0)[np.triu_indices(len(matrix), k=1)]


def _bins(relatedness: np.ndarray, rule: BinRule, related_when: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(most related, least related) boolean masks over the pairs; None where the bins are not two distinct sets."""
    if rule.bins == "extremes":
        high, low = relatedness == relatedness.max(), relatedness == relatedness.min()
    else:
        low_cut, high_cut = np.quantile(relatedness, [1.0 / 3.0, 2.0 / 3.0])
        high, low = relatedness >= high_cut, relatedness <= low_cut
    if (high & low).any():
        return None
    return (high, low) if related_when == "higher" else (low, high)


def seed_effect(measure: np.ndarray, relatedness: np.ndarray, related_when: str, rule: BinRule) -> SeedEffect:
    """One seed's bins and slope from the pairs' `measure` and `relatedness` (1-D, one entry per pair).

    `related_when`: "higher" where a larger relatedness means more related tasks, "lower" where a
    smaller one does (an angle difference).
    """
    if related_when not in ("higher", "lower"):
        raise ValueError(f"related_when must be 'higher' or 'lower', got {related_when!r}")
    measure = np.asarray(measure, dtype=np.float64)
    relatedness = np.asarray(relatedness, dtype=np.float64)
    if measure.shape != relatedness.shape or measure.ndim != 1:
        raise ValueError(f"measure and relatedness must be 1-D of one length, got {measure.shape} and "
                         f"{relatedness.shape}")
    keep = np.isfinite(measure) & np.isfinite(relatedness)
    measure, relatedness = measure[keep], relatedness[keep]
    if measure.size < 2 or relatedness.max() == relatedness.min():
        return _UNDEFINED
    bins = _bins(relatedness, rule, related_when)
    if bins is None:
        return _UNDEFINED
    most, least = bins
    centred = relatedness - relatedness.mean()
    slope = float(centred @ (measure - measure.mean()) / (centred @ centred)) * rule.unit
    return SeedEffect(float(measure[most].mean()), float(measure[least].mean()), float(relatedness[most].mean()),
                      float(relatedness[least].mean()), slope)


@dataclass(frozen=True)
class Effect:
    """Effect sizes over seeds: each a mean over seeds with its Student t 95% interval (NaN bounds with one seed)."""

    most_related: float
    most_related_low: float
    most_related_high: float
    least_related: float
    least_related_low: float
    least_related_high: float
    difference: float  # most related minus least related, paired by seed
    difference_low: float
    difference_high: float
    slope: float  # per `slope_unit`
    slope_low: float
    slope_high: float
    slope_unit: str
    most_relatedness: float  # mean over seeds of each bin's mean relatedness
    least_relatedness: float

    def columns(self, prefix: str = "") -> dict[str, float | str]:
        """The fields as table columns, names prefixed."""
        return {f"{prefix}{name}": value for name, value in asdict(self).items()}


def _interval(values: Sequence[float]) -> tuple[float, float, float]:
    mean, _, low, high = mean_interval(np.asarray(values, dtype=np.float64))
    return mean, low, high


def seed_effects(seeds: Sequence[tuple[np.ndarray, np.ndarray]], relatedness_name: str,
                 related_when: str) -> list[SeedEffect]:
    """Each seed's effect sizes; `seeds` holds one `(measure, relatedness)` pair of (T, T) matrices per seed."""
    rule = rule_for(relatedness_name)
    return [seed_effect(pair_values(x), pair_values(y), related_when, rule) for x, y in seeds]


def over_seeds(per_seed: Sequence[SeedEffect], relatedness_name: str) -> Effect:
    """Bins, difference and slope over seeds: means with their Student t 95% intervals."""
    if not per_seed:
        raise ValueError("over_seeds needs at least one seed")
    most = _interval([e.most_related for e in per_seed])
    least = _interval([e.least_related for e in per_seed])
    difference = _interval([e.difference for e in per_seed])
    slope = _interval([e.slope for e in per_seed])
    return Effect(*most, *least, *difference, *slope, rule_for(relatedness_name).unit_name,
                  float(np.mean([e.most_relatedness for e in per_seed])),
                  float(np.mean([e.least_relatedness for e in per_seed])))


def effect_over_seeds(seeds: Sequence[tuple[np.ndarray, np.ndarray]], relatedness_name: str,
                      related_when: str) -> Effect:
    """`over_seeds` of `seed_effects`: the effect sizes of one measure over seeds."""
    return over_seeds(seed_effects(seeds, relatedness_name, related_when), relatedness_name)


__all__ = ["BinRule", "Effect", "RULES", "SeedEffect", "effect_over_seeds", "over_seeds", "pair_values", "rule_for",
           "seed_effect", "seed_effects"]
