"""Tests of the overlap figures and their atomic saving."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from supermasks.analysis import (
    mask_grid,
    overlap_heatmap,
    overlap_matrix,
    overlap_scatter3d,
    overlap_table,
    save_figure,
)


def random_masks(num_tasks: int) -> dict:
    rng = np.random.default_rng(0)
    return {t: {"fc1": rng.random((12, 20)) < 0.5, "fc3": rng.random((3, 12)) < 0.5} for t in range(num_tasks)}


def test_heatmap_annotates_small_matrices():
    masks = random_masks(4)
    fig = overlap_heatmap(overlap_matrix(masks, "fc1"), ["t0", "t1", "t2", "t3"], "fc1")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2  # heat map and colour bar
    heat, colorbar = fig.axes
    assert len(heat.texts) == 16
    assert heat.get_title() == "fc1"
    assert colorbar.get_ylabel() == "Jaccard overlap (%), distinct tasks"
    low, high = heat.images[0].get_clim()  # the scale spans the off-diagonal pairs only
    assert high < 100.0
    assert [label.get_text() for label in heat.get_xticklabels()] == ["t0", "t1", "t2", "t3"]


def test_heatmap_skips_annotations_for_many_tasks_and_checks_shape():
    fig = overlap_heatmap(np.full((13, 13), 40.0), [str(t) for t in range(13)], "many")
    assert len(fig.axes[0].texts) == 0
    with pytest.raises(ValueError, match="shape"):
        overlap_heatmap(np.zeros((3, 3)), ["a", "b"], "bad")


def test_scatter3d():
    table = overlap_table(random_masks(3), statistics=False)
    fig = overlap_scatter3d(table, "fc3", "fc3 overlap")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    assert ax.name == "3d"
    assert ax.get_zlabel() == "Overlap (%)"
    assert len(ax.collections[0].get_offsets()) == 6
    with pytest.raises(ValueError, match="no rows"):
        overlap_scatter3d(table, "fc9", "missing")


@pytest.mark.parametrize("num_tasks", [1, 4])
def test_mask_grid_has_one_image_and_colour_bar_per_task(num_tasks):
    masks = random_masks(num_tasks)
    fig = mask_grid(masks, "fc1", title="masks of fc1")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2 * num_tasks
    image_axes = [ax for ax in fig.axes if ax.get_title().startswith("Neural activity")]
    assert [ax.get_title() for ax in image_axes] == [f"Neural activity for task {t}" for t in range(num_tasks)]
    for ax, task_id in zip(image_axes, range(num_tasks)):
        (image,) = ax.get_images()
        assert image.get_cmap().name == "gray"
        np.testing.assert_array_equal(image.get_array(), masks[task_id]["fc1"].astype(np.uint8))
    with pytest.raises(ValueError, match="unknown layer"):
        mask_grid(masks, "fc9")


def test_save_figure_writes_png_and_svg_atomically(tmp_path):
    fig = overlap_heatmap(np.array([[100.0, 30.0], [30.0, 100.0]]), ["a", "b"], "two")
    directory = tmp_path / "nested" / "figures"
    paths = save_figure(fig, directory, "overlap_fc1")
    assert paths == [directory / "overlap_fc1.png", directory / "overlap_fc1.svg"]
    assert paths[0].read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in paths[1].read_bytes()
    # Saving again replaces the files and still leaves no temporary names behind.
    save_figure(fig, directory, "overlap_fc1")
    assert sorted(p.name for p in directory.iterdir()) == ["overlap_fc1.png", "overlap_fc1.svg"]


def test_save_figure_failure_leaves_no_temporary_file(tmp_path, monkeypatch):
    fig = Figure()
    fig.add_subplot()

    def broken_savefig(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", broken_savefig)
    with pytest.raises(RuntimeError, match="disk full"):
        save_figure(fig, tmp_path, "broken")
    assert list(tmp_path.iterdir()) == []


def test_import_leaves_pyplot_alone():
    code = (
        "import sys, numpy as np; from supermasks.analysis import mask_grid, overlap_scatter3d, overlap_table;"
        "m = {t: {'w': np.eye(3, dtype=bool)} for t in range(2)};"
        "overlap_scatter3d(overlap_table(m), 'w', 't'); mask_grid(m, 'w');"
        "sys.exit('matplotlib.pyplot' in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
