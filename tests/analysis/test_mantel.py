"""Tests of the Mantel test against a straightforward loop, on matrices with known and with no correlation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from supermasks.analysis import MantelResult, correlation_interval, mantel_over_seeds
from supermasks.analysis.mantel import mantel


def symmetric(rng: np.random.Generator, num_tasks: int) -> np.ndarray:
    m = rng.random((num_tasks, num_tasks))
    m = m + m.T
    np.fill_diagonal(m, np.nan)  # the diagonal is never used
    return m


def upper(m: np.ndarray) -> np.ndarray:
    return m[np.triu_indices(m.shape[0], k=1)]


def correlated(rng: np.random.Generator, num_tasks: int, slope: float, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """x and y = slope * x + noise on the off-diagonal (y symmetric)."""
    x = symmetric(rng, num_tasks)
    e = rng.normal(0.0, noise, (num_tasks, num_tasks))
    return x, slope * x + (e + e.T) / 2


def reference_null(xs: list[np.ndarray], ys: list[np.ndarray], permutations: int, seed: int) -> np.ndarray:
    """Mean over seeds of Pearson r after relabelling x's tasks, one permutation at a time.

    Draws the same permutations as the module: for each seed in turn, a (permutations x T) block
    `rng.permuted(tile(arange(T)), axis=1)` from `default_rng(seed)`.
    """
    rng = np.random.default_rng(seed)
    total = np.zeros(permutations)
    for x, y in zip(xs, ys):
        num_tasks = x.shape[0]
        orders = rng.permuted(np.tile(np.arange(num_tasks), (permutations, 1)), axis=1)
        for k, order in enumerate(orders):
            total[k] += np.corrcoef(upper(x[np.ix_(order, order)]), upper(y))[0, 1]
    return total / len(xs)


def reference_p(r: float, null: np.ndarray) -> float:
    return (1 + np.sum(np.abs(null) >= abs(r) - 1e-12)) / (1 + null.size)


def ranks(m: np.ndarray) -> np.ndarray:
    out = np.zeros(m.shape)
    out[np.triu_indices(m.shape[0], k=1)] = stats.rankdata(upper(m))
    return out + out.T


# --- known correlation ---------------------------------------------------------------------------


@pytest.mark.parametrize("num_tasks, slope, noise", [(6, 1.0, 0.2), (10, -2.0, 0.5), (12, 0.5, 0.1)])
def test_known_correlation_is_found(num_tasks, slope, noise):
    rng = np.random.default_rng(num_tasks)
    x, y = correlated(rng, num_tasks, slope, noise)
    result = mantel(x, y, permutations=999, seed=1)
    expected = np.corrcoef(upper(x), upper(y))[0, 1]
    assert result.r == pytest.approx(expected, abs=1e-12)
    assert abs(result.r) > 0.5 and np.sign(result.r) == np.sign(slope)
    assert result.p <= 0.005
    assert result.p >= 1 / 1000  # never below 1 / (1 + permutations)
    assert (result.permutations, result.num_tasks, result.method, result.seeds) == (999, num_tasks, "pearson", 1)


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_equals_a_loop_over_permutations(method):
    rng = np.random.default_rng(24)
    x, y = correlated(rng, 7, 0.3, 1.0)  # a weak correlation (p about 0.1), so the null reaches past it
    result = mantel(x, y, permutations=299, method=method, seed=5)
    if method == "spearman":
        x, y = ranks(x), ranks(y)
    r = np.corrcoef(upper(x), upper(y))[0, 1]
    null = reference_null([x], [y], 299, 5)
    assert result.r == pytest.approx(r, abs=1e-12)
    assert result.p == reference_p(r, null)
    assert 0.01 < result.p < 1  # the test exercises permuted values on both sides of |r|


def test_spearman_is_pearson_of_ranks():
    rng = np.random.default_rng(3)
    x, y = correlated(rng, 9, 1.0, 0.4)
    y = np.exp(3 * y)  # monotone: Spearman is unchanged, Pearson is not
    spearman = mantel(x, y, method="spearman", permutations=199, seed=2)
    of_ranks = mantel(ranks(x), ranks(y), method="pearson", permutations=199, seed=2)
    assert spearman.r == pytest.approx(of_ranks.r, abs=1e-12) and spearman.p == of_ranks.p
    assert spearman.r == pytest.approx(stats.spearmanr(upper(x), upper(y)).statistic, abs=1e-12)
    assert spearman.method == "spearman"


def test_symmetrises_and_ignores_the_diagonal():
    rng = np.random.default_rng(4)
    x, y = correlated(rng, 8, 1.0, 0.5)
    skew = rng.normal(size=x.shape)
    lopsided = x + (skew - skew.T)  # (M + M.T) / 2 gives back x
    diagonal = x.copy()
    np.fill_diagonal(diagonal, 1e6)
    base = mantel(x, y, permutations=199, seed=3)
    assert mantel(lopsided, y, permutations=199, seed=3) == pytest.approx(base)
    assert mantel(diagonal, y, permutations=199, seed=3) == base


def test_relabelling_both_matrices_alike_changes_nothing_but_the_draw():
    rng = np.random.default_rng(6)
    x, y = correlated(rng, 8, 1.0, 1.0)
    order = rng.permutation(8)
    a = mantel(x, y, permutations=199, seed=0)
    b = mantel(x[np.ix_(order, order)], y[np.ix_(order, order)], permutations=199, seed=0)
    assert a.r == pytest.approx(b.r, abs=1e-12)


# --- no correlation ------------------------------------------------------------------------------


def test_independent_matrices_give_uniform_p():
    rng = np.random.default_rng(11)
    p = np.array([mantel(symmetric(rng, 8), symmetric(rng, 8), permutations=99, seed=k).p for k in range(200)])
    assert 0.01 <= np.mean(p < 0.05) <= 0.12
    assert stats.kstest(p, "uniform").pvalue > 0.001
    assert 0.4 < p.mean() < 0.6


def test_shuffled_labels_destroy_the_correlation():
    # y is x relabelled by a random permutation: the entries are the same, the pairing is lost.
    rng = np.random.default_rng(12)
    p = []
    for k in range(100):
        x = symmetric(rng, 8)
        order = rng.permutation(8)
        p.append(mantel(x, x[np.ix_(order, order)], permutations=99, seed=k).p)
    assert 0.0 <= np.mean(np.array(p) < 0.05) <= 0.15


# --- over seeds ----------------------------------------------------------------------------------


def test_one_seed_equals_mantel():
    rng = np.random.default_rng(8)
    x, y = correlated(rng, 7, 0.2, 0.3)
    for method in ("pearson", "spearman"):
        single = mantel(x, y, permutations=499, method=method, seed=9)
        stratified = mantel_over_seeds([(x, y)], permutations=499, method=method, seed=9)
        assert stratified == single


def test_over_seeds_equals_a_loop_and_averages_r():
    rng = np.random.default_rng(9)
    pairs = [correlated(rng, 6, 0.2, 0.3) for _ in range(3)]
    result = mantel_over_seeds(pairs, permutations=199, seed=4)
    rs = [np.corrcoef(upper(x), upper(y))[0, 1] for x, y in pairs]
    assert result.r == pytest.approx(np.mean(rs), abs=1e-12)
    null = reference_null([x for x, _ in pairs], [y for _, y in pairs], 199, 4)
    assert result.p == reference_p(float(np.mean(rs)), null)
    assert (result.seeds, result.num_tasks, result.permutations) == (3, 6, 199)


def test_over_seeds_pools_evidence_and_keeps_its_size_under_the_null():
    rng = np.random.default_rng(10)
    pairs = [correlated(rng, 6, 1.0, 0.35) for _ in range(4)]
    singles = [mantel(x, y, permutations=999, seed=s).p for s, (x, y) in enumerate(pairs)]
    pooled = mantel_over_seeds(pairs, permutations=999, seed=0).p
    assert pooled < min(singles)
    p = np.array([mantel_over_seeds([(symmetric(rng, 6), symmetric(rng, 6)) for _ in range(3)],
                                    permutations=99, seed=k).p for k in range(150)])
    assert 0.0 <= np.mean(p < 0.05) <= 0.12
    assert stats.kstest(p, "uniform").pvalue > 0.001


# --- edge cases ----------------------------------------------------------------------------------


def test_constant_matrix_gives_nan_r_and_p_one():
    rng = np.random.default_rng(1)
    constant = np.full((5, 5), 0.3)
    for result in (mantel(constant, symmetric(rng, 5)), mantel(symmetric(rng, 5), constant),
                   mantel_over_seeds([(symmetric(rng, 5), symmetric(rng, 5)), (constant, symmetric(rng, 5))])):
        assert math.isnan(result.r) and result.p == 1.0


def test_errors_are_clear():
    rng = np.random.default_rng(2)
    with pytest.raises(ValueError, match="fewer than 3 pairs"):
        mantel(symmetric(rng, 2), symmetric(rng, 2))
    with pytest.raises(ValueError, match="different shapes"):
        mantel(symmetric(rng, 4), symmetric(rng, 5))
    with pytest.raises(ValueError, match="square"):
        mantel(rng.random((3, 4)), rng.random((3, 4)))
    with pytest.raises(ValueError, match="non-finite"):
        bad = symmetric(rng, 4)
        bad[0, 1] = np.nan
        mantel(bad, symmetric(rng, 4))
    with pytest.raises(ValueError, match="method"):
        mantel(symmetric(rng, 4), symmetric(rng, 4), method="kendall")
    with pytest.raises(ValueError, match="permutations"):
        mantel(symmetric(rng, 4), symmetric(rng, 4), permutations=0)
    with pytest.raises(ValueError, match="same number of tasks"):
        mantel_over_seeds([(symmetric(rng, 4), symmetric(rng, 4)), (symmetric(rng, 5), symmetric(rng, 5))])
    with pytest.raises(ValueError, match="at least one"):
        mantel_over_seeds([])


def test_result_is_a_frozen_record():
    result = mantel(symmetric(np.random.default_rng(0), 4), symmetric(np.random.default_rng(1), 4), permutations=9)
    assert isinstance(result, MantelResult)
    with pytest.raises(AttributeError):
        result.r = 0.0  # type: ignore[misc]


# --- the permutation floor ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_a_perfect_correlation_sits_at_the_floor_and_is_written_as_a_bound(seed):
    from supermasks.analysis.mantel import format_p, p_floor

    # A random x has no relabelling but the identity that maps it onto itself, so only a draw of the identity
    # (probability 99 / 10! < 3e-5 for 99 draws over 10 tasks) is as extreme as r = 1.
    x = symmetric(np.random.default_rng(100 + seed), 10)
    result = mantel(x, 3.0 * x - 2.0, permutations=99, seed=seed)
    assert result.r == pytest.approx(1.0)
    null = reference_null([x], [3.0 * x - 2.0], 99, seed)
    assert not np.any(np.abs(null) >= 1.0 - 1e-12)
    assert result.at_floor and result.p == p_floor(99) == 0.01
    assert format_p(result.p, result.at_floor) == "p <= 0.01"
    over_seeds = mantel_over_seeds([(x, 3.0 * x - 2.0)] * 2, permutations=99, seed=seed)
    assert over_seeds.at_floor == (over_seeds.p == 0.01)


def test_a_p_above_the_floor_is_a_value():
    from supermasks.analysis.mantel import format_p

    rng = np.random.default_rng(3)
    result = mantel(symmetric(rng, 6), symmetric(rng, 6), permutations=999, seed=0)
    assert result.p > 1 / 1000 and not result.at_floor
    assert format_p(result.p, result.at_floor) == f"p = {result.p:.3g}"
    assert format_p(0.01234, False, "Holm p") == "Holm p = 0.0123"
    constant = mantel(np.ones((4, 4)), symmetric(rng, 4), permutations=9)
    assert math.isnan(constant.r) and not constant.at_floor  # p = 1 there: no evidence, not a bound


# --- interval over seeds -------------------------------------------------------------------------


def test_correlation_interval_is_the_student_t_interval_on_fisher_z():
    rs = [-0.8, -0.6, -0.75, -0.9]
    mean, low, high = correlation_interval(rs)
    z = np.arctanh(rs)
    ref = np.tanh(stats.t.interval(0.95, len(rs) - 1, loc=np.mean(z), scale=stats.sem(z)))
    assert mean == pytest.approx(np.mean(rs))
    np.testing.assert_allclose([low, high], ref, rtol=1e-12)
    wider = correlation_interval(rs, confidence=0.99)
    assert wider[1] < low and wider[2] > high
    # Two seeds: a t interval on r itself would leave [-1, 1]; on z it stays inside.
    two = correlation_interval([-0.94, -0.83])
    assert -1 < two[1] < two[2] < 1
    single = correlation_interval([0.4])
    assert single[0] == 0.4 and math.isnan(single[1]) and math.isnan(single[2])
