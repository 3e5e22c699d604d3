"""Mantel test: does one (T x T) matrix of pairs of tasks follow another?

Mantel (1967), "The detection of disease clustering and a generalized regression approach",
Cancer Research 27:209-220. The statistic is the correlation (Pearson, or Spearman: Pearson of
the ranks) between the off-diagonal entries of two symmetric matrices, for example the mask
overlap of every pair of tasks against their relatedness. The `T(T-1)/2` pairs are not
independent (every pair shares a task with `2(T-2)` others), so a p-value from the usual
correlation test would be too small. The Mantel null distribution instead comes from relabelling
the tasks of one matrix by a random permutation (its rows and columns together), which keeps the
dependence between pairs that share a task.

Matrices are symmetrised as `(M + M.T) / 2` and only the upper triangle (i < j) is used; the
diagonal (a task with itself) is ignored and may hold anything, NaN included.

The p-value of P relabellings is never below `p_floor(P) = 1 / (1 + P)`. When no relabelling is as
extreme as the observed r, that floor is a bound on p, not its value (the true p is smaller and
unknown): `MantelResult.at_floor` says so, and `format_p` writes it "p <= 0.001".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .stats import mean_interval

METHODS = ("pearson", "spearman")

# Permutations are evaluated in blocks of this many, bounding the gathered array (block x pairs).
_BLOCK = 4096
# A permuted correlation counts as "at least as extreme" when it falls short of |r| by no more than
# this: a relabelling that maps the pairs onto themselves (the identity, or a symmetry of the
# matrix) gives the same r up to rounding, and must count.
_TIE_TOLERANCE = 1e-12


@dataclass(frozen=True)
class MantelResult:
    """A Mantel test's outcome.

    `r`: the correlation of the off-diagonal entries (over several seeds: the mean of the seeds'
    correlations); NaN when one matrix is constant off the diagonal. `p`: two-sided permutation
    p-value `(1 + #{|r_perm| >= |r|}) / (1 + permutations)`, 1.0 when r is NaN.
    """

    r: float
    p: float
    permutations: int
    num_tasks: int
    method: str
    seeds: int = 1

    @property
    def at_floor(self) -> bool:
        """True when no relabelling was as extreme as r: p is the floor `1 / (1 + permutations)`, a bound."""
        return math.isfinite(self.r) and self.p <= p_floor(self.permutations)


def p_floor(permutations: int) -> float:
    """The smallest p-value `permutations` relabellings can give: `1 / (1 + permutations)` (none as extreme)."""
    return 1.0 / (1.0 + permutations)


def format_p(p: float, bound: bool, name: str = "p") -> str:
    """"p = 0.0123", or "p <= 0.0001" where `p` is only an upper bound (a p-value at the permutation floor,
    or a Holm-adjusted one that such a p sets); three significant digits."""
    return f"{name} {'<=' if bound else '='} {p:.3g}"


def _upper_triangle(matrix: np.ndarray, name: str) -> tuple[np.ndarray, int]:
    """The symmetrised matrix and its number of tasks, after checking shape and off-diagonal entries."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{name} must be a square (T x T) matrix, got shape {matrix.shape}")
    num_tasks = matrix.shape[0]
    if num_tasks < 3:
        raise ValueError(
            f"{name} has {num_tasks} tasks: the Mantel test needs at least 3 tasks, since fewer give "
            f"fewer than 3 pairs and a correlation over fewer than 3 points cannot be tested"
        )
    symmetric = (matrix + matrix.T) / 2.0
    iu = np.triu_indices(num_tasks, k=1)
    if not np.isfinite(symmetric[iu]).all():
        raise ValueError(f"{name} has non-finite entries off the diagonal")
    return symmetric, num_tasks


def _ranked(matrix: np.ndarray) -> np.ndarray:
    """The matrix with its upper-triangle entries replaced by their ranks (ties: average), mirrored."""
    from scipy.stats import rankdata

    num_tasks = matrix.shape[0]
    iu = np.triu_indices(num_tasks, k=1)
    ranked = np.zeros_like(matrix)
    ranked[iu] = rankdata(matrix[iu])
    return ranked + ranked.T


def _standardised(matrix: np.ndarray) -> np.ndarray | None:
    """The symmetric matrix with its upper triangle centred and scaled to unit norm; None if constant.

    A relabelling of the tasks maps the set of pairs onto itself, so every permuted upper triangle
    holds the same values in another order: mean and norm are computed once.
    """
    iu = np.triu_indices(matrix.shape[0], k=1)
    values = matrix[iu]
    centred = values - values.mean()
    norm = float(np.sqrt(centred @ centred))
    # Relative test: off-diagonal entries equal up to rounding are constant.
    if norm <= 1e-12 * max(1.0, float(np.abs(values).max())) * math.sqrt(values.size):
        return None
    out = np.zeros_like(matrix)
    out[iu] = centred / norm
    return out + out.T


def _prepared(x: np.ndarray, y: np.ndarray, method: str) -> tuple[np.ndarray | None, np.ndarray | None, int]:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    xs, num_tasks = _upper_triangle(x, "x")
    ys, num_y = _upper_triangle(y, "y")
    if num_y != num_tasks:
        raise ValueError(f"x and y have different shapes: {np.shape(x)} vs {np.shape(y)}")
    if method == "spearman":
        xs, ys = _ranked(xs), _ranked(ys)
    return _standardised(xs), _standardised(ys), num_tasks


def _permuted_correlations(zx: np.ndarray, zy: np.ndarray, orders: np.ndarray) -> np.ndarray:
    """Pearson r of y with x relabelled by each row of `orders` (shape (P, T)): `zx[o][:, o]` against `zy`."""
    iu0, iu1 = np.triu_indices(zx.shape[0], k=1)
    y_values = zy[iu0, iu1]
    out = np.empty(orders.shape[0])
    for start in range(0, orders.shape[0], _BLOCK):
        block = orders[start : start + _BLOCK]
        out[start : start + len(block)] = zx[block[:, iu0], block[:, iu1]] @ y_values
    return out


def _orders(rng: np.random.Generator, permutations: int, num_tasks: int) -> np.ndarray:
    """`permutations` independent uniform permutations of the task labels, one per row."""
    return rng.permuted(np.tile(np.arange(num_tasks), (permutations, 1)), axis=1)


def _check_permutations(permutations: int) -> None:
    if permutations < 1:
        raise ValueError(f"permutations must be at least 1, got {permutations}")


def _p_value(r: float, null: np.ndarray) -> float:
    extreme = int(np.count_nonzero(np.abs(null) >= abs(r) - _TIE_TOLERANCE))
    return (1 + extreme) / (1 + null.size)


def mantel(x: np.ndarray, y: np.ndarray, *, permutations: int = 999, method: str = "pearson",
           seed: int = 0) -> MantelResult:
    """Mantel test (Mantel 1967) of the correlation between two (T x T) matrices' off-diagonal entries.

    r is the Pearson correlation (`method="pearson"`) of the upper-triangle entries of the
    symmetrised matrices, or the Pearson correlation of their ranks (`"spearman"`, ties get the
    average rank). The null distribution relabels the tasks of `x` (rows and columns together)
    by `permutations` uniform random permutations drawn from `numpy.random.default_rng(seed)`;
    the two-sided p-value is `(1 + #{|r_perm| >= |r|}) / (1 + permutations)`, never below
    `1 / (1 + permutations)`.

    When either matrix is constant off the diagonal the correlation is undefined: r is NaN and
    p is 1.0 (no evidence either way), so that a study over many settings keeps going.
    Raises ValueError for non-square or mismatched shapes, fewer than 3 tasks (fewer than 3
    pairs), non-finite off-diagonal entries, an unknown method or `permutations < 1`.
    """
    _check_permutations(permutations)
    zx, zy, num_tasks = _prepared(x, y, method)
    if zx is None or zy is None:
        return MantelResult(math.nan, 1.0, permutations, num_tasks, method)
    r = float(_permuted_correlations(zx, zy, np.arange(num_tasks)[None, :])[0])
    null = _permuted_correlations(zx, zy, _orders(np.random.default_rng(seed), permutations, num_tasks))
    return MantelResult(r, _p_value(r, null), permutations, num_tasks, method)


def mantel_over_seeds(pairs: Sequence[tuple[np.ndarray, np.ndarray]], *, permutations: int = 999,
                      method: str = "pearson", seed: int = 0) -> MantelResult:
    """Stratified Mantel test over seeds: is the mean over seeds of the Mantel r different from 0?

    `pairs` holds one `(x, y)` per seed, all with the same number of tasks. The statistic is the
    mean of the seeds' correlations (as in `mantel`); each null draw relabels every seed's tasks
    by its own independent permutation (the seeds are strata: labels are exchangeable within a
    seed, never across) and averages the permuted correlations. p is two-sided as in `mantel`.
    The permutations of seed k are the k-th block drawn from `numpy.random.default_rng(seed)`, so
    a single pair gives exactly `mantel(x, y, ...)` with the same arguments.
    If any seed's matrices are constant off the diagonal, r is NaN and p is 1.0.
    """
    _check_permutations(permutations)
    if len(pairs) == 0:
        raise ValueError("mantel_over_seeds needs at least one (x, y) pair")
    prepared = [_prepared(x, y, method) for x, y in pairs]
    sizes = sorted({num_tasks for _, _, num_tasks in prepared})
    if len(sizes) > 1:
        raise ValueError(f"every seed needs the same number of tasks, got {sizes}")
    num_tasks = sizes[0]
    if any(zx is None or zy is None for zx, zy, _ in prepared):
        return MantelResult(math.nan, 1.0, permutations, num_tasks, method, len(pairs))
    rng = np.random.default_rng(seed)
    identity = np.arange(num_tasks)[None, :]
    r_total = 0.0
    null = np.zeros(permutations)
    for zx, zy, _ in prepared:
        r_total += float(_permuted_correlations(zx, zy, identity)[0])
        null += _permuted_correlations(zx, zy, _orders(rng, permutations, num_tasks))
    r = r_total / len(prepared)
    null /= len(prepared)
    return MantelResult(r, _p_value(r, null), permutations, num_tasks, method, len(pairs))


def correlation_interval(rs: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of per-seed correlations: the mean r, and a Student t interval on Fisher's z.

    Each r is mapped to z = atanh(r) (Fisher 1915), where its sampling distribution is close to
    normal; the interval `mean_z +- t_{(1+c)/2, n-1} sd_z / sqrt(n)` (Student 1908, as
    `stats.mean_interval`) is mapped back by tanh, so it always lies inside (-1, 1), which a t
    interval on r itself does not with few seeds. r = +-1 is clipped to +-(1 - 1e-12). With one
    value the bounds are NaN (no spread is known); NaN values make the result NaN.
    """
    values = np.asarray(rs, dtype=np.float64)
    mean = float(np.mean(values)) if values.size else math.nan
    z = np.arctanh(np.clip(values, -1 + 1e-12, 1 - 1e-12))
    _, _, low, high = mean_interval(z, confidence)
    return mean, float(np.tanh(low)), float(np.tanh(high))
