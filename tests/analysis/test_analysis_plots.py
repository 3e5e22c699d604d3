"""Tests of the overlap figures and their atomic saving."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from supermasks.analysis import (
    mask_grid,
    overlap_heatmap,
    overlap_scatter3d,
    overlap_table,
    overlap_vs_relatedness,
    pair_matrix,
    receptive_fields,
    save_figure,
)


def random_masks(num_tasks: int) -> dict:
    rng = np.random.default_rng(0)
    return {t: {"fc1": rng.random((12, 20)) < 0.5, "fc3": rng.random((3, 12)) < 0.5} for t in range(num_tasks)}


def rendered(fig: Figure, dpi: int = 120) -> np.ndarray:
    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())


def test_heatmap_shows_overlap_relative_to_chance_centred_on_one():
    table = overlap_table(random_masks(4))
    relative, task_ids = pair_matrix(table, "fc1")
    fig = overlap_heatmap(relative, [f"t{t}" for t in task_ids], "fc1")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2  # heat map and colour bar
    heat, colorbar = fig.axes
    assert len(heat.texts) == 12  # the off-diagonal cells; the diagonal is blank
    assert heat.get_title() == "fc1"
    assert colorbar.get_ylabel() == "Jaccard / chance"
    (image,) = heat.get_images()
    norm = image.norm
    assert isinstance(norm, TwoSlopeNorm) and norm.vcenter == 1.0
    finite = relative[~np.isnan(relative)]
    assert norm.vmin <= finite.min() and norm.vmax >= finite.max()  # nothing is clipped
    assert max(1.0 - norm.vmin, norm.vmax - 1.0) == pytest.approx(np.abs(finite - 1.0).max())
    assert norm.vmax - 1.0 == pytest.approx(1.0 - norm.vmin)  # symmetric: equal distances look alike
    assert np.isnan(np.diag(image.get_array().filled(np.nan))).all()
    assert image.get_cmap().name == "RdBu_r"  # diverging
    assert image.get_cmap()(np.nan)[:3] != image.get_cmap()(0.5)[:3]  # blank cells do not look like chance
    # Chance is marked on the colour bar.
    assert any(np.allclose(line.get_ydata(), 1.0) for line in colorbar.get_lines())
    assert [label.get_text() for label in heat.get_xticklabels()] == ["t0", "t1", "t2", "t3"]
    assert heat.texts[0].get_text() == f"{relative[0, 1]:.3f}"


def test_heatmap_scale_can_be_shared_and_must_enclose_chance():
    matrix = np.array([[np.nan, 1.2, 0.9], [1.2, np.nan, 1.0], [0.9, 1.0, np.nan]])
    fig = overlap_heatmap(matrix, ["a", "b", "c"], "shared", vmin=0.5, vmax=2.5)
    norm = fig.axes[0].get_images()[0].norm
    assert (norm.vmin, norm.vcenter, norm.vmax) == (0.5, 1.0, 2.5)
    with pytest.raises(ValueError, match="enclose chance"):
        overlap_heatmap(matrix, ["a", "b", "c"], "bad", vmin=1.1, vmax=2.0)
    with pytest.raises(ValueError, match="both"):
        overlap_heatmap(matrix, ["a", "b", "c"], "bad", vmin=0.5)
    # Near chance the default scale keeps a floor, so a 0.4% excess stays pale, not saturated.
    near = np.where(np.eye(3, dtype=bool), np.nan, 1.004)
    norm = overlap_heatmap(near, ["a", "b", "c"], "near").axes[0].get_images()[0].norm
    assert norm.vmax >= 1.05 and abs(float(norm(1.004)) - 0.5) < 0.1


def test_heatmap_annotation_follows_size_or_choice_and_checks_shape():
    many = np.full((13, 13), 1.1)
    assert len(overlap_heatmap(many, [str(t) for t in range(13)], "many").axes[0].texts) == 0
    assert len(overlap_heatmap(many, [str(t) for t in range(13)], "many", annotate=True).axes[0].texts) == 13 * 12
    assert len(overlap_heatmap(np.full((3, 3), 1.1), ["a", "b", "c"], "few", annotate=False).axes[0].texts) == 0
    with pytest.raises(ValueError, match="shape"):
        overlap_heatmap(np.zeros((3, 3)), ["a", "b"], "bad")


def test_scatter3d_draws_the_chance_plane():
    table = overlap_table(random_masks(3), statistics=False)
    fig = overlap_scatter3d(table, "fc3", "fc3 overlap")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    assert ax.name == "3d"
    assert ax.get_zlabel() == "Overlap (%)"
    assert len(ax.collections[0].get_offsets()) == 6
    chance = table[table["layer"] == "fc3"]["chance_pct"].mean()
    (plane,) = [c for c in ax.collections if c.get_label().startswith("chance")]
    assert plane.get_label() == f"chance ({chance:.2f}%)"
    assert 0 < plane.get_alpha() < 1  # translucent
    low, high = ax.get_zlim()
    assert low <= chance <= high
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [f"chance ({chance:.2f}%)"]
    with pytest.raises(ValueError, match="no rows"):
        overlap_scatter3d(table, "fc9", "missing")


def test_overlap_vs_relatedness_has_seeds_fit_and_chance_line():
    rng = np.random.default_rng(1)
    angles = np.tile([15.0, 30.0, 45.0, 60.0], 3)
    seeds = np.repeat([0, 1, 2], 4)
    overlap = 2.4 - 0.004 * angles + rng.normal(0, 0.01, angles.size)
    points = pd.DataFrame({"seed": seeds, "relatedness": angles, "relative_to_chance": overlap})
    fig = overlap_vs_relatedness(points, "angle difference (degrees)", "rotated fc1", jitter=0.0)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "angle difference (degrees)"
    assert ax.get_ylabel() == "overlap / chance"
    assert ax.get_title() == "rotated fc1"
    # One point set per seed, each its own colour, at the true relatedness without jitter.
    assert len(ax.collections) == 3
    colours = {tuple(c.get_facecolor()[0]) for c in ax.collections}
    assert len(colours) == 3
    for collection, seed in zip(ax.collections, [0, 1, 2]):
        np.testing.assert_allclose(collection.get_offsets(), np.column_stack([angles[seeds == seed],
                                                                              overlap[seeds == seed]]))
    lines = {line.get_label(): line for line in ax.get_lines()}
    chance = lines["chance"]
    assert np.allclose(chance.get_ydata(), 1.0) and chance.get_linestyle() == "--"
    slope, intercept = np.polyfit(angles, overlap, 1)
    (fit,) = [line for label, line in lines.items() if label.startswith("least-squares")]
    np.testing.assert_allclose(fit.get_xdata(), [15.0, 60.0])
    np.testing.assert_allclose(fit.get_ydata(), intercept + slope * np.array([15.0, 60.0]))
    assert slope == pytest.approx(-0.004, abs=0.001)
    # Jitter moves points sideways by at most the given fraction of the range, never up or down.
    jittered = overlap_vs_relatedness(points, "angle", "t", jitter=0.02).axes[0].collections[0].get_offsets()
    assert np.abs(jittered[:, 0] - angles[:4]).max() <= 0.02 * 45.0
    np.testing.assert_array_equal(jittered[:, 1], overlap[:4])
    with pytest.raises(ValueError, match="lack the columns"):
        overlap_vs_relatedness(points.drop(columns="seed"), "angle", "t")


def test_overlap_vs_relatedness_without_spread_draws_no_fit():
    points = pd.DataFrame({"seed": [0, 0, 1], "relatedness": [1.0, 1.0, 1.0], "relative_to_chance": [1.1, 1.2, 1.0]})
    labels = [line.get_label() for line in overlap_vs_relatedness(points, "shared classes", "t").axes[0].get_lines()]
    assert labels == ["chance"]


@pytest.mark.parametrize("num_tasks", [1, 4])
def test_mask_grid_is_binary_with_labelled_axes(num_tasks):
    masks = random_masks(num_tasks)
    fig = mask_grid(masks, "fc1", title="masks of fc1")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == num_tasks  # one image per task, no colour bars
    assert [ax.get_title() for ax in fig.axes] == [f"task {t}'s mask: weights kept" for t in range(num_tasks)]
    for ax, task_id in zip(fig.axes, range(num_tasks)):
        (image,) = ax.get_images()
        assert image.get_cmap().N == 2  # exactly two colours
        np.testing.assert_array_equal(image.get_array(), masks[task_id]["fc1"].astype(np.uint8))
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("inputs", "units")
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["off (weight pruned)", "on (weight kept)"]
    with pytest.raises(ValueError, match="unknown layer"):
        mask_grid(masks, "fc9")


def test_mask_image_draws_exactly_two_colours():
    mask = np.random.default_rng(2).random((30, 40)) < 0.3
    fig = mask_grid({0: {"w": mask}}, "w")
    ax = fig.axes[0]
    pixels = rendered(fig)
    box = ax.get_window_extent()
    height = pixels.shape[0]
    # Inside the axes (away from its frame) only the two mask colours appear.
    inner = pixels[int(height - box.y1) + 3 : int(height - box.y0) - 3, int(box.x0) + 3 : int(box.x1) - 3, :3]
    colours = {tuple(c) for c in inner.reshape(-1, 3)}
    assert len(colours) == 2


def test_mask_grid_gives_every_weight_a_pixel():
    rng = np.random.default_rng(3)
    masks = {t: {"fc1": rng.random((300, 784)) < 0.5} for t in range(2)}
    fig = mask_grid(masks, "fc1")
    rendered(fig)
    box = fig.axes[0].get_window_extent()
    assert box.width >= 784 and box.height >= 300
    conv = mask_grid({0: {"conv": rng.random((8, 3, 3, 3)) < 0.5}}, "conv")
    assert conv.axes[0].get_images()[0].get_array().shape == (8, 27)
    assert conv.axes[0].get_ylabel() == "output channels"


def test_receptive_fields_show_units_as_images():
    mask = np.random.default_rng(4).random((300, 784)) < 0.4
    units = [0, 7, 299]
    fig = receptive_fields(mask, units, title="fc1, task 0")
    assert len(fig.axes) == len(units)
    for ax, unit in zip(fig.axes, units):
        (image,) = ax.get_images()
        assert image.get_array().shape == (28, 28)
        np.testing.assert_array_equal(image.get_array(), mask[unit].reshape(28, 28).astype(np.uint8))
        assert image.get_cmap().N == 2
        assert ax.get_title() == f"unit {unit}: {mask[unit].mean():.0%} on"
    assert fig.get_suptitle() == "fc1, task 0"
    assert len(receptive_fields(mask, range(12)).axes) == 12
    with pytest.raises(ValueError, match="cannot be shown"):
        receptive_fields(mask[:, :700], [0])
    with pytest.raises(ValueError, match="outside"):
        receptive_fields(mask, [300])
    with pytest.raises(ValueError, match="no units"):
        receptive_fields(mask, [])


def test_save_figure_writes_png_and_svg_atomically(tmp_path):
    fig = overlap_heatmap(np.array([[np.nan, 1.3], [1.3, np.nan]]), ["a", "b"], "two")
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


def test_confusion_heatmap_takes_more_tasks_than_columns_and_checks_the_shape():
    from supermasks.analysis.plots import confusion_heatmap

    fig = confusion_heatmap(np.array([[3], [2], [4]]), ["0", "1", "2"], "nns", ["0"], "chosen mask")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0"] and ax.get_xlabel() == "chosen mask"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "1", "2"]
    assert sorted(t.get_text() for t in ax.texts) == ["2", "3", "4"]
    with pytest.raises(ValueError, match=r"counts have shape \(3, 1\), expected \(3, 3\)"):
        confusion_heatmap(np.array([[3], [2], [4]]), ["0", "1", "2"], "square by default")
