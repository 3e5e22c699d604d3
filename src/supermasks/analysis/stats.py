"""Statistical tests comparing the masks of every pair of tasks, computed in closed form from counts.

What each test asks of a pair of masks:
- `equal_density_t`, `equal_density_p`: the seed study's two-sample t-test on the flattened
  masks. It compares the masks' means, i.e. tests whether the two masks keep the same fraction
  of weights (equal density); it says nothing about whether they keep the *same* weights, and
  its p-value orders pairs by how close their densities are.
- `equal_density_mcnemar_*`: McNemar's paired test of the same question (equal density), valid
  for paired bits.
- `p_overlap_gt_chance`: the hypergeometric (one-sided Fisher) test of "the masks share more
  weights than two independent masks with these densities would": the test of overlap.
Across pairs of tasks, whether overlap follows task relatedness is the Mantel test (`mantel.py`).

All tests depend on a pair's masks only through four counts: the layer size `n`, the ones in
each mask `k_i`, `k_j`, and the ones they share `inter` (from one matrix product per layer, see
`_counts.py`). Every test is symmetric in (i, j), so multiple-testing corrections run over the
`T(T-1)/2` unordered pairs of a layer and the corrected p-value is copied to both orders.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ._counts import LayerCounts, Masks, layer_counts, ordered_pairs

STAT_COLUMNS = (
    "equal_density_t",
    "equal_density_p",
    "equal_density_p_holm",
    "equal_density_mcnemar_stat",
    "equal_density_mcnemar_p",
    "equal_density_mcnemar_p_holm",
    "equal_density_mcnemar_exact",
    "p_overlap_gt_chance",
    "p_overlap_gt_chance_holm",
)


def ttest_from_counts(n: int, k_i: np.ndarray, k_j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-sample Student t-test (equal variances) of two flattened 0/1 masks of length `n`.

    Equal to `scipy.stats.ttest_ind(mask_i.ravel().astype(float), mask_j.ravel().astype(float))`,
    the seed study's test (Student 1908). It tests equal means, i.e. equal density (fraction of
    weights kept), not overlap: two masks with disjoint ones but equal densities get p = 1. For
    a 0/1 sample with `k` ones, the mean is `k / n` and the unbiased variance
    `k (n - k) / (n (n - 1))`; with equal sizes the pooled variance is the mean of the two. It
    treats the bits as independent samples, which they are not (the pair is paired weight by
    weight); McNemar's test below is the paired alternative.
    Two masks that are both constant (all 0 or all 1) with the same value give 0/0: t and p are
    NaN, as in scipy. Constant masks with different values give t = +-inf, p = 0.
    """
    k_i = np.asarray(k_i, dtype=np.float64)
    k_j = np.asarray(k_j, dtype=np.float64)
    if n < 2:
        nan = np.full(np.broadcast(k_i, k_j).shape, np.nan)
        return nan, nan.copy()
    var_i = k_i * (n - k_i) / (n * (n - 1.0))
    var_j = k_j * (n - k_j) / (n * (n - 1.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (k_i - k_j) / n / np.sqrt((var_i + var_j) / n)
    from scipy import stats  # here, not at import: the training path never needs scipy

    p = 2.0 * stats.t.sf(np.abs(t), df=2 * n - 2)
    return t, p


def mcnemar_from_counts(
    b: np.ndarray, c: np.ndarray, exact_below: int = 25
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """McNemar's test (McNemar 1947) of the paired bits: `b` = #(i=1, j=0), `c` = #(i=0, j=1).

    Tests whether the two masks keep the same fraction of weights (equal density, paired), using
    only the discordant weights; like the t-test, not a test of overlap. With
    `b + c >= exact_below` the statistic is the continuity-corrected chi-square
    `(|b - c| - 1)^2 / (b + c)` (Edwards 1948) with p from chi2(1); below it, the exact binomial
    test: statistic `min(b, c)`, p = `min(1, 2 P(Bin(b + c, 1/2) <= min(b, c)))`. This matches
    `statsmodels.stats.contingency_tables.mcnemar` with `exact=True` or `exact=False,
    correction=True` respectively. Returns (statistic, p, exact) with `exact` a bool array.
    """
    b = np.asarray(b, dtype=np.int64)
    c = np.asarray(c, dtype=np.int64)
    discordant = b + c
    exact = discordant < exact_below
    smaller = np.minimum(b, c)
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2_stat = (np.abs(b - c) - 1.0) ** 2 / discordant
    stat = np.where(exact, smaller.astype(np.float64), chi2_stat)
    from scipy import stats

    p_exact = np.minimum(1.0, 2.0 * stats.binom.cdf(smaller, discordant, 0.5))
    p = np.where(exact, p_exact, stats.chi2.sf(np.where(exact, 0.0, chi2_stat), df=1))
    return stat, p, exact


def overlap_gt_chance_p(n: int, k_i: np.ndarray, k_j: np.ndarray, inter: np.ndarray) -> np.ndarray:
    """One-sided p-value of "the masks share more weights than independent masks would".

    Null hypothesis: given the layer size and both masks' counts of kept weights, the positions of
    one mask's ones are a uniformly random subset (equivalently, a random permutation of its
    weights). The shared count is then hypergeometric and the p-value is
    `P(X >= inter) = hypergeom.sf(inter - 1, n, k_i, k_j)`, the one-sided Fisher exact test on
    the 2x2 agreement table (Fisher 1935). It conditions on the densities, so unequal densities
    alone never make it small; independent random masks give p roughly uniform on [0, 1].
    """
    from scipy import stats

    return stats.hypergeom.sf(np.asarray(inter) - 1, n, np.asarray(k_i), np.asarray(k_j))


def holm(p: np.ndarray, family_size: int | None = None) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979, Scand. J. Statist. 6:65-70).

    With the m p-values sorted ascending, `p_adj(k) = min(1, max_{l <= k} (m - l + 1) p(l))`.
    Equal to `statsmodels.stats.multitest.multipletests(p, method="holm")[1]` (tested); written
    out because that function runs a full garbage collection per call, which costs more than
    the whole correction on every layer.

    `family_size` (default: `len(p)`) is the m of a family of which only these `len(p)` tests
    were run, as when a study runs one of the parts its file declares (`studies.family`). The
    missing `m - len(p)` tests count as p = 1. Derivation: sorted ascending, ones come after
    every given p < 1 (a given p = 1 gets 1 in any order, its own term being at least 1), so the
    given p-values keep their ranks l = 1..len(p), and each gets exactly the value Holm over the
    whole family gives it: the formula above with m the family size. This is conservative for
    whatever the missing tests would show: Holm is the closed test of Bonferroni-tested
    intersections, so lowering any p-value never raises an adjusted one; a missing test's p is at
    most 1, so these values bound from above those of the whole family with the same given p.
    """
    p = np.asarray(p, dtype=np.float64)
    n = p.size
    m = n if family_size is None else int(family_size)
    if m < n:
        raise ValueError(f"family_size {m} is smaller than the {n} p-values given: a family holds every test run")
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(p[order] * np.arange(m, m - n, -1))
    adjusted = np.empty(n)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def holm_is_bound(p: np.ndarray, bound: np.ndarray, family_size: int | None = None) -> np.ndarray:
    """Which of `holm(p, family_size)` are upper bounds rather than values, where `bound` marks the p-values
    that are themselves only upper bounds (a permutation p at its floor 1 / (1 + permutations): the true p
    is smaller, unknown).

    Each adjusted p is a non-decreasing function of every p-value (see `holm`), so the true adjusted
    value lies between Holm with the bounded p-values set to 0 and Holm with them as given. Where the
    two agree the value is exact; where they differ it is a bound. A bounded p's own adjusted value is
    always a bound (at 0 it would be 0); another test's is one only where a bounded p sets its maximum
    (for example when most of the family sits at the floor).
    """
    p = np.asarray(p, dtype=np.float64)
    bound = np.asarray(bound, dtype=bool)
    if bound.shape != p.shape:
        raise ValueError(f"bound has shape {bound.shape}, p has shape {p.shape}")
    return holm(np.where(bound, 0.0, p), family_size) < holm(p, family_size)


def holm_symmetric(p: np.ndarray, ii: np.ndarray, jj: np.ndarray, num_tasks: int) -> np.ndarray:
    """Holm-corrected p-values (Holm 1979) over the unordered pairs, returned for ordered pairs.

    `p[k]` belongs to the ordered pair (ii[k], jj[k]); the value for (i, j) with i < j is the one
    corrected. NaN p-values (identical constant masks under the t-test) are left out of the family
    and stay NaN, so they neither count as tests nor receive a corrected value.
    """
    p = np.asarray(p, dtype=np.float64)
    upper = ii < jj
    raw = p[upper]
    corrected = np.full_like(raw, np.nan)
    finite = np.isfinite(raw)
    if finite.any():
        corrected[finite] = holm(raw[finite])
    matrix = np.full((num_tasks, num_tasks), np.nan)
    matrix[ii[upper], jj[upper]] = corrected
    matrix[jj[upper], ii[upper]] = corrected
    return matrix[ii, jj]


def statistics_from_counts(counts: LayerCounts) -> pd.DataFrame:
    """Tests for every ordered pair of distinct tasks of one layer (keys plus `STAT_COLUMNS`)."""
    num_tasks = len(counts.task_ids)
    ii, jj = ordered_pairs(num_tasks)
    n = counts.num_weights
    k_i, k_j = counts.kept[ii], counts.kept[jj]
    inter = counts.inter[ii, jj]
    t, p = ttest_from_counts(n, k_i, k_j)
    mc_stat, mc_p, mc_exact = mcnemar_from_counts(k_i - inter, k_j - inter)
    p_gt = overlap_gt_chance_p(n, k_i, k_j, inter)
    task_ids = np.asarray(counts.task_ids, dtype=np.int64)
    return pd.DataFrame(
        {
            "layer": [counts.layer] * len(ii),
            "task_i": task_ids[ii],
            "task_j": task_ids[jj],
            "equal_density_t": t,
            "equal_density_p": p,
            "equal_density_p_holm": holm_symmetric(p, ii, jj, num_tasks),
            "equal_density_mcnemar_stat": mc_stat,
            "equal_density_mcnemar_p": mc_p,
            "equal_density_mcnemar_p_holm": holm_symmetric(mc_p, ii, jj, num_tasks),
            "equal_density_mcnemar_exact": mc_exact,
            "p_overlap_gt_chance": p_gt,
            "p_overlap_gt_chance_holm": holm_symmetric(p_gt, ii, jj, num_tasks),
        }
    )


def pair_statistics(masks: Masks) -> pd.DataFrame:
    """Tests for every ordered pair of distinct tasks and every layer of a run.

    Columns: `layer, task_i, task_j` and `STAT_COLUMNS`; Holm corrections are per layer.
    """
    frames = [statistics_from_counts(c) for c in layer_counts(masks)]
    return pd.concat(frames, ignore_index=True)


def rank_by_overlap(table: pd.DataFrame, by_layer: bool = True) -> pd.DataFrame:
    """Each unordered pair of tasks once (task_i < task_j), ranked by overlap relative to chance, highest first.

    `table` is an overlap table (`overlap.overlap_table`, which holds both orders of every pair
    with equal `relative_to_chance`). A `rank` column (1 = the pair sharing the most beyond
    chance) is put first; with `by_layer`, layers keep their order of appearance and ranks
    restart in each, otherwise all rows are ranked together. NaN ratios (empty masks) go last;
    ties keep the table's order.
    """
    ordered = table[table["task_i"] < table["task_j"]].copy()
    keys, ascending = ["relative_to_chance"], [False]
    if by_layer:
        layer_rank = {layer: rank for rank, layer in enumerate(pd.unique(table["layer"]))}
        ordered["_layer_rank"] = ordered["layer"].map(layer_rank)
        keys, ascending = ["_layer_rank", *keys], [True, *ascending]
    ordered = ordered.sort_values(keys, ascending=ascending, kind="stable", na_position="last")
    ordered = ordered.drop(columns="_layer_rank", errors="ignore").reset_index(drop=True)
    if by_layer:
        rank = ordered.groupby("layer", sort=False).cumcount() + 1
    else:
        rank = pd.Series(np.arange(1, len(ordered) + 1), index=ordered.index)
    ordered.insert(0, "rank", rank.to_numpy(dtype=np.int64))
    return ordered


def mean_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """(mean, sample std, low, high): the Student t interval `mean +- t_{(1+c)/2, n-1} sd / sqrt(n)`.

    Student (1908). With a single value the spread is unknown: std and bounds are NaN; with none,
    everything is NaN.
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    mean = float(values.mean())
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    sd = float(values.std(ddof=1))
    from scipy import stats

    half = float(stats.t.ppf((1.0 + confidence) / 2.0, n - 1)) * sd / math.sqrt(n)
    return mean, sd, mean - half, mean + half
