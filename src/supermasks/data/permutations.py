"""The pixel maps of permuted tasks: full and partial permutations of independent subsets, and nested subsets.

A pixel map reads out[q] = in[map[q]]; a position q with map[q] == q is one the task leaves in place.
How related two permuted tasks are is the fraction of positions both leave in place
(`relatedness.shared_fixed_fraction`), so the way subsets are chosen decides the spread of relatedness:
- independent (`partial_permutation`): each task draws its own subset of round(f * P) positions, so every
  pair shares about (1 - f)^2 of the pixels, the same for all pairs (0.25 +- 0.01 at f = 0.5);
- nested (`nested_permutation`): one random order of the positions per run, and task t moves the first
  k_t = round(f_t * P) of it, so the moved subsets are nested and two tasks share exactly the
  P - max(k_i, k_j) positions neither moves; with fractions spread over a range the pairs span it.
"""

from __future__ import annotations

import numpy as np


def moved_count(pixels: int, fraction: float) -> int:
    """How many of `pixels` positions a permuted task with `permute_fraction` `fraction` moves:
    round(fraction * pixels) (ties to even) for a partial permutation; `pixels` for fraction 1, whose
    full random permutation moves about that many (it may leave a few in place)."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating)) or not 0 <= fraction <= 1:
        raise ValueError(f"permute_fraction must be a number in [0, 1], got {fraction!r}")
    count = int(round(float(fraction) * pixels))
    if count == 1 and fraction < 1:
        raise ValueError(f"permute_fraction={fraction:g} moves 1 of {pixels} pixels, but one pixel cannot move "
                         f"alone: use 0 or at least {2 / pixels:.6g} (2 pixels)")
    return count


def _cycle(pixels: int, order: np.ndarray) -> np.ndarray:
    """The map that sends the pixel at each position of `order` to the next one (the last to the first)."""
    pixel_map = np.arange(pixels)
    if len(order):
        pixel_map[np.roll(order, -1)] = order
    return pixel_map


def partial_permutation(rng: np.random.RandomState, pixels: int, fraction: float) -> np.ndarray:
    """The pixel map of a task that moves `fraction` of `pixels` positions, drawn from `rng`.

    fraction 1: `rng.permutation(pixels)`, the full random permutation (what every permuted task
    was before `permute_fraction` existed: results unchanged); it leaves a pixel in place with
    probability 1/pixels, so about one pixel per task stays. fraction < 1: k = round(fraction *
    pixels) positions (ties to even) move, every one of them: `order = rng.permutation(pixels)[:k]`
    is a random subset in random order, and each position in it sends its pixel to the next
    position in that order (the last to the first), a single cycle through the subset, so exactly
    k pixels move and the other pixels - k stay. fraction 0 is the identity. The map reads
    out[q] = in[map[q]]: map[order[j + 1]] = order[j].
    """
    count = moved_count(pixels, fraction)
    if fraction == 1:
        return rng.permutation(pixels)
    # fraction 0 draws nothing from rng, as it never did
    return _cycle(pixels, rng.permutation(pixels)[:count] if count else np.zeros(0, dtype=np.int64))


def check_fraction_range(fraction_range: object) -> tuple[float, float]:
    """(low, high) of a `permute_fraction_range`; ValueError unless it is two numbers with 0 <= low <= high <= 1."""
    if (not isinstance(fraction_range, (list, tuple)) or len(fraction_range) != 2
            or any(isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) for v in fraction_range)):
        raise ValueError(f"permute_fraction_range must be two numbers [low, high], got {fraction_range!r}")
    low, high = (float(v) for v in fraction_range)
    if not (0 <= low <= 1 and 0 <= high <= 1):  # NaN fails too
        raise ValueError(f"permute_fraction_range must lie in [0, 1], got [{low:g}, {high:g}]")
    if low > high:
        raise ValueError(f"permute_fraction_range must be [low, high] with low <= high, got [{low:g}, {high:g}]")
    return low, high


def nested_fractions(num_tasks: int, fraction_range: tuple[float, float]) -> list[float]:
    """The fraction of the pixels each of `num_tasks` nested tasks moves: evenly spaced over [low, high],
    task 0 moving `low` and the last task `high` (one task moves `low`).

    Evenly spaced rather than drawn: with the 6 or 10 tasks of a study, random draws can bunch
    together and leave parts of the range without pairs; even spacing covers it by construction,
    the same for every seed (the seed still draws which pixels move and where they go).
    """
    low, high = check_fraction_range(fraction_range)
    if num_tasks < 1:
        raise ValueError(f"num_tasks must be a positive number, got {num_tasks}")
    return [float(f) for f in np.linspace(low, high, num_tasks)]


def nested_counts(pixels: int, fractions: list[float]) -> list[int]:
    """How many of `pixels` positions each nested task moves: round(f * pixels), ties to even; ValueError where
    that is 1 (a single position cannot move: there is nowhere else in the subset to send it)."""
    counts = [int(round(f * pixels)) for f in fractions]
    for task_id, (fraction, count) in enumerate(zip(fractions, counts)):
        if count == 1:
            raise ValueError(f"permute_fraction_range: task {task_id} moves {fraction:g} of the pixels, 1 of "
                             f"{pixels}, but one pixel cannot move alone: choose a range (or num_tasks) whose "
                             f"fractions move 0 or at least 2 pixels")
    return counts


def nested_permutation(rng: np.random.RandomState, order: np.ndarray, count: int) -> np.ndarray:
    """The pixel map of a nested task that moves the first `count` positions of the run's shared `order` (a
    permutation of the pixel positions), drawn from the task's own `rng`.

    The subset is order[:count]; `rng.permutation` puts it in the task's own random order and each
    position sends its pixel to the next in that order (the last to the first): a single cycle, as
    for a partial permutation, so every one of the `count` positions moves and no pixel stays in
    place by coincidence. Two nested tasks therefore share exactly the len(order) - max(count_i,
    count_j) positions outside the larger subset. count 0 is the identity; 1 is refused (`nested_counts`).
    """
    if count == 1 or not 0 <= count <= len(order):
        raise ValueError(f"a nested task moves 0 or 2..{len(order)} positions, got {count}")
    return _cycle(len(order), rng.permutation(order[:count]))


__all__ = ["check_fraction_range", "moved_count", "nested_counts", "nested_fractions", "nested_permutation",
           "partial_permutation"]
