"""Permuted tasks over nested pixel subsets (data.permute_subsets: nested); the independent ones as they were."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from supermasks.config import identity, load_config
from supermasks.data import Dataset, make_benchmark, materialize, normalize, task_relatedness
from supermasks.data.permutations import nested_counts, nested_fractions, nested_permutation
from supermasks.runner.build import build_tasks
from supermasks.seeds import streams
from supermasks.config.records import config_hash
from supermasks.studies.grid import load_study

PIXELS = 784
SEEDS = [0, 1, 7, 123]


def moved(pixel_map: torch.Tensor) -> set[int]:
    return set(torch.nonzero(pixel_map != torch.arange(len(pixel_map))).flatten().tolist())


def nested(data: Dataset, num_tasks: int, seed: int, fraction_range=(0.1, 1.0)) -> list:
    return make_benchmark("permuted", data, num_tasks=num_tasks, seed=seed, permute_subsets="nested",
                          permute_fraction_range=fraction_range)


def test_ten_fractions_over_a_tenth_to_all_and_the_pixels_they_move() -> None:
    fractions = nested_fractions(10, (0.1, 1.0))
    assert fractions == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0], abs=1e-12)
    assert (fractions[0], fractions[-1]) == (0.1, 1.0)  # the ends exactly
    # round(f * 784): 78.4, 156.8, 235.2, 313.6, 392, 470.4, 548.8, 627.2, 705.6, 784
    assert nested_counts(PIXELS, fractions) == [78, 157, 235, 314, 392, 470, 549, 627, 706, 784]
    assert nested_fractions(1, (0.3, 0.9)) == [0.3]  # one task moves the low end
    assert nested_fractions(3, (0.5, 0.5)) == [0.5] * 3


@pytest.mark.parametrize("seed", SEEDS)
def test_each_task_moves_exactly_the_first_positions_of_the_shared_order(small: Dataset, seed: int) -> None:
    tasks = nested(small, 10, seed)
    order = np.random.RandomState(streams(seed).pixel_order).permutation(PIXELS)
    counts = [78, 157, 235, 314, 392, 470, 549, 627, 706, 784]
    for task, count in zip(tasks, counts):
        assert torch.equal(task.pixel_map.sort().values, torch.arange(PIXELS))  # a permutation
        assert moved(task.pixel_map) == set(order[:count].tolist())  # every one of them moves, no other
        assert torch.equal(materialize(task.x_test),
                           normalize(small.x_test.reshape(len(small.x_test), -1)[:, task.pixel_map]
                                     .reshape(small.x_test.shape)))
    for earlier, later in itertools.combinations(tasks, 2):  # nested: a later task moves all an earlier one does
        assert moved(earlier.pixel_map) < moved(later.pixel_map)


def test_a_task_moves_its_subset_in_one_cycle_drawn_from_its_own_stream() -> None:
    order = np.random.RandomState(5).permutation(PIXELS)
    got = nested_permutation(np.random.RandomState(9), order, 50)
    cycle = np.random.RandomState(9).permutation(order[:50])
    expected = np.arange(PIXELS)
    for j in range(50):  # the pixel at cycle[j] goes to cycle[j + 1], the last one to cycle[0]
        expected[cycle[(j + 1) % 50]] = cycle[j]
    assert np.array_equal(got, expected)
    q, seen = cycle[0], set()
    while q not in seen:  # following the map from one moved pixel visits all 50
        seen.add(q)
        q = got[q]
    assert len(seen) == 50
    assert np.array_equal(nested_permutation(np.random.RandomState(9), order, 0), np.arange(PIXELS))


@pytest.mark.parametrize("seed", SEEDS)
def test_pairs_share_what_the_task_moving_more_leaves_in_place(small: Dataset, seed: int) -> None:
    tasks = nested(small, 10, seed)
    rel = task_relatedness(tasks)
    counts = [PIXELS - int((t.pixel_map == torch.arange(PIXELS)).sum()) for t in tasks]
    fractions = nested_fractions(10, (0.1, 1.0))
    for i, j in itertools.product(range(10), repeat=2):
        both = sum(1 for q in range(PIXELS) if tasks[i].pixel_map[q] == q and tasks[j].pixel_map[q] == q)
        assert rel.matrix[i, j] == both / PIXELS  # the run's table counts what a direct count does
        # No pixel stays in place by coincidence, so the count is exact; against the fractions, a pixel's rounding.
        assert both == PIXELS - max(counts[i], counts[j])
        assert abs(rel.matrix[i, j] - (1 - max(fractions[i], fractions[j]))) <= 0.5 / PIXELS
    off = rel.matrix[~np.eye(10, dtype=bool)]
    # The pairs span the range: the two tasks moving least share 1 - 157/784 = 0.7997, every pair with the
    # task moving all pixels shares none.
    assert off.max() == (PIXELS - 157) / PIXELS >= 0.79 and off.min() == 0.0
    assert len(set(off.tolist())) == 9  # 1 - max(f_i, f_j) takes the 9 values 0.8, 0.7, ..., 0


@pytest.mark.parametrize("seed", SEEDS)
def test_independent_subsets_give_every_pair_about_the_same_relatedness(small: Dataset, seed: int) -> None:
    """What nested subsets are for: independent ones at f = 0.5 leave nothing to correlate."""
    off_independent = task_relatedness(make_benchmark("permuted", small, 10, seed, permute_fraction=0.5)).matrix
    off_nested = task_relatedness(nested(small, 10, seed, (0.5, 0.5))).matrix  # one fraction: one value
    mask = ~np.eye(10, dtype=bool)
    # Both leave a position in place when it is in neither subset of 392: hypergeometric, 196 of 784 on average
    # with a standard deviation of 7.0 positions (0.009); the bound is 4.4 of those.
    assert np.all(np.abs(off_independent[mask] - 0.25) < 0.04)
    assert set(off_nested[mask].tolist()) == {0.5}


def test_the_run_seed_draws_the_order_and_the_cycles(small: Dataset) -> None:
    a, again, other = nested(small, 4, 0), nested(small, 4, 0), nested(small, 4, 1)
    assert all(torch.equal(x.pixel_map, y.pixel_map) for x, y in zip(a, again))
    assert not any(torch.equal(x.pixel_map, y.pixel_map) for x, y in zip(a, other))
    assert [t.name for t in a] == [f"permuted-{i}" for i in range(4)] and {t.benchmark for t in a} == {"permuted"}


def test_the_default_and_independent_tasks_are_the_ones_made_before_nested_subsets(small: Dataset) -> None:
    """Bit for bit the maps of the code before nested subsets, written out: the full permutation of stream
    seed + i, or a single cycle through the first round(f * 784) positions of that stream's permutation."""
    seed = 4
    for fraction in (1.0, 0.5, 0.25):
        expected = []
        for i in range(5):
            order = np.random.RandomState(seed + i).permutation(PIXELS)
            if fraction == 1.0:
                expected.append(order)
                continue
            old = np.arange(PIXELS)
            count = int(round(fraction * PIXELS))
            old[np.roll(order[:count], -1)] = order[:count]
            expected.append(old)
        for made in (make_benchmark("permuted", small, 5, seed, permute_fraction=fraction),
                     make_benchmark("permuted", small, 5, seed, permute_fraction=fraction,
                                    permute_subsets="independent")):
            assert all(np.array_equal(t.pixel_map.numpy(), e) for t, e in zip(made, expected))
    default = make_benchmark("permuted", small, 5, seed)
    assert all(np.array_equal(t.pixel_map.numpy(), np.random.RandomState(seed + i).permutation(PIXELS))
               for i, t in enumerate(default))


@pytest.mark.parametrize(("settings", "message"), [
    ({"permute_subsets": "nested", "permute_fraction": 0.5}, "permute_fraction applies to independent subsets"),
    ({"permute_fraction_range": [0.1, 1.0]}, "applies to nested subsets only"),
    ({"permute_subsets": "interleaved"}, "permute_subsets must be one of"),
    ({"permute_subsets": "nested", "permute_fraction_range": [0.9, 0.2]}, "low <= high"),
    ({"permute_subsets": "nested", "permute_fraction_range": [-0.1, 0.5]}, r"in \[0, 1\]"),
    ({"permute_subsets": "nested", "permute_fraction_range": [0.5]}, r"two numbers \[low, high\]"),
    # Task 1 of 2 over [0, 0.0015] moves round(1.176) = 1 pixel.
    ({"permute_subsets": "nested", "permute_fraction_range": [0.0, 0.0015]}, "task 1 moves .* 1 of 784"),
])
def test_refused_settings(small: Dataset, settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_benchmark("permuted", small, num_tasks=2, seed=0, **settings)


def test_a_range_from_nothing_keeps_task_0_in_place(small: Dataset) -> None:
    tasks = nested(small, 3, 0, (0.0, 1.0))
    assert torch.equal(tasks[0].pixel_map, torch.arange(PIXELS))  # f = 0: the original images
    assert [len(moved(t.pixel_map)) for t in tasks] == [0, 392, 784]


def test_the_config_reaches_the_tasks_and_the_run_hash(small: Dataset) -> None:
    base = ["data.source=synthetic", "data.num_tasks=4"]
    config = load_config(None, [*base, "data.permute_subsets=nested", "data.permute_fraction_range=[0.25, 1.0]"])
    tasks = build_tasks(config, "permuted", small)
    assert [len(moved(t.pixel_map)) for t in tasks] == [196, 392, 588, 784]
    assert torch.equal(tasks[2].pixel_map, make_benchmark("permuted", small, 4, 0, permute_subsets="nested",
                                                          permute_fraction_range=(0.25, 1.0))[2].pixel_map)
    assert load_config(None, [*base, "data.permute_subsets=nested"]).data.permute_fraction_range == [0.1, 1.0]
    # At their default the new settings stay out of the run's identity, so earlier runs keep their directories.
    default, independent = load_config(None, base), load_config(None, [*base, "data.permute_subsets=independent"])
    for settings in (default, load_config(None, [*base, "data.benchmark=[rotated]"])):
        assert not {"permute_subsets", "permute_fraction_range"} & set(identity(settings)["data"])
    assert config_hash(independent) == config_hash(default) != config_hash(config)
    assert identity(config)["data"]["permute_fraction_range"] == [0.25, 1.0]


@pytest.mark.parametrize(("name", "num_tasks", "most"), [("experiment1", 10, 627), ("experiment1-quick", 6, 564)])
def test_the_overlap_studies_permuted_tasks_span_unrelated_to_closely_related(
        small: Dataset, tmp_path, name: str, num_tasks: int, most: int) -> None:
    """The study files' own permuted benchmark (nested): pairs from none of the pixels in place to most of them."""
    path = Path(__file__).resolve().parents[2] / "configs" / f"{name}.yaml"
    runs = [run for run in load_study(path, [f"run.out_dir={tmp_path}"]).runs
            if "permuted" in run.config.data.benchmark and run.config.data.permute_subsets == "nested"]
    assert {run.part for run in runs} >= {"threshold-independent", "threshold-shared"}
    config = runs[0].config
    assert config.data.num_tasks == num_tasks
    rel = task_relatedness(build_tasks(config, "permuted", small)).matrix
    off = rel[~np.eye(num_tasks, dtype=bool)]
    # The two tasks moving least: round(0.2 * 784) = 157 moved (10 tasks), round(0.28 * 784) = 220 (6 tasks).
    assert off.max() == most / PIXELS and off.min() == 0.0
