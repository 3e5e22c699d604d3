"""A run's overlap report with initial masks and task relatedness: the files, and the Mantel columns recomputed."""

import numpy as np
import pandas as pd
import pytest

from supermasks.analysis.mantel import mantel
from supermasks.analysis.overlap import pair_matrix
from supermasks.data import Relatedness
from supermasks.data.relatedness import angle_difference
from supermasks.runner.overlap import overlap_report
from supermasks.studies.overlap import read_relatedness

PERMUTATIONS = 199
MANTEL_COLUMNS = {"mantel_r", "mantel_p", "changes_mantel_r", "changes_mantel_p"}


def _masks(num_tasks: int, seed: int = 0) -> tuple[dict, dict]:
    """Final and initial masks of `num_tasks` tasks: fc1 (3, 784), fc2 (4, 30); each task flips a fifth of its initial bits."""
    rng = np.random.default_rng(seed)
    initial, final = {}, {}
    for task in range(num_tasks):
        start = {layer: rng.random(shape) < 0.5 for layer, shape in (("fc1", (3, 784)), ("fc2", (4, 30)))}
        initial[task] = start
        flips = {layer: rng.random(mask.shape) < 0.2 for layer, mask in start.items()}
        final[task] = {layer: start[layer] ^ flips[layer] for layer in start}
    return final, initial


def _relatedness(num_tasks: int) -> Relatedness:
    return Relatedness("angle difference (degrees)", angle_difference([30 * t for t in range(num_tasks)]), "lower")


def test_report_with_initial_masks_and_relatedness(tmp_path):
    final, initial = _masks(4)
    relatedness = _relatedness(4)
    summary = overlap_report(final, tmp_path, initial=initial, relatedness=relatedness, figures=False,
                             permutations=PERMUTATIONS)
    for name in ("overlap.csv", "overlap_ranked.csv", "overlap_summary.csv", "changes.csv", "relatedness.csv"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert not (tmp_path / "figures").exists()

    name, related_when, matrix = read_relatedness(tmp_path)
    assert (name, related_when) == (relatedness.name, relatedness.related_when)
    np.testing.assert_allclose(matrix, relatedness.matrix, rtol=1e-12)

    saved = pd.read_csv(tmp_path / "overlap_summary.csv")
    assert list(saved["layer"]) == ["fc1", "fc2"]
    assert MANTEL_COLUMNS <= set(saved.columns) and (saved["relatedness"] == relatedness.name).all()
    assert {"changes_mean_any_relative_to_chance", "changes_shared_init_pairs"} <= set(saved.columns)
    table = pd.read_csv(tmp_path / "overlap.csv")
    changes = pd.read_csv(tmp_path / "changes.csv")
    for row in summary.itertuples():
        ratio, ids = pair_matrix(table, row.layer)
        assert ids == [0, 1, 2, 3]
        expected = mantel(ratio, relatedness.matrix, permutations=PERMUTATIONS)
        assert np.isfinite(expected.r)
        assert row.mantel_r == pytest.approx(expected.r, abs=1e-9)
        assert row.mantel_p == pytest.approx(expected.p)
        learned = mantel(pair_matrix(changes, row.layer, "any_relative_to_chance")[0], relatedness.matrix,
                         permutations=PERMUTATIONS)
        assert row.changes_mantel_r == pytest.approx(learned.r, abs=1e-9)
        assert row.changes_mantel_p == pytest.approx(learned.p)
        assert row.mantel_p_at_floor == expected.at_floor and row.changes_mantel_p_at_floor == learned.at_floor
    pd.testing.assert_frame_equal(saved, summary, check_dtype=False)
    # independent initial masks: no pair started from the same mask
    assert not changes["shared_init"].any()


def test_two_tasks_give_no_mantel_test(tmp_path):
    final, initial = _masks(2)
    summary = overlap_report(final, tmp_path, initial=initial, relatedness=_relatedness(2), figures=False,
                             permutations=PERMUTATIONS)
    assert MANTEL_COLUMNS <= set(summary.columns)
    assert summary[sorted(MANTEL_COLUMNS)].isna().all().all()
    assert (tmp_path / "relatedness.csv").is_file()


def test_without_initial_or_relatedness_no_changes_nor_mantel(tmp_path):
    final, _ = _masks(4)
    summary = overlap_report(final, tmp_path, figures=False)
    assert not (tmp_path / "changes.csv").exists() and not (tmp_path / "relatedness.csv").exists()
    saved = pd.read_csv(tmp_path / "overlap_summary.csv")
    for frame in (summary, saved):
        assert not MANTEL_COLUMNS & set(frame.columns)
        assert not any(c.startswith("changes_") for c in frame.columns) and "relatedness" not in frame.columns


def test_figures_draw_receptive_fields_of_the_784_input_layer_only(tmp_path):
    final, initial = _masks(4)
    overlap_report(final, tmp_path, initial=initial, relatedness=_relatedness(4), figures=True,
                   permutations=PERMUTATIONS)
    figures = {p.name for p in (tmp_path / "figures").iterdir()}
    receptive = {name for name in figures if name.startswith("receptive_fields_")}
    assert receptive == {"receptive_fields_fc1_task0.png", "receptive_fields_fc1_task3.png"}
    for layer in ("fc1", "fc2"):
        for stem in ("overlap_heatmap", "overlap_scatter3d", "masks", "overlap_vs_relatedness"):
            assert f"{stem}_{layer}.png" in figures
    assert all((tmp_path / "figures" / name).stat().st_size > 0 for name in figures)
