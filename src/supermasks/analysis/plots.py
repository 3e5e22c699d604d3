"""Figures of mask overlap (heat map relative to chance, 3-D scatter, overlap against relatedness, mask
images, receptive fields); each returns a Figure, saving is separate."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import ListedColormap, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from supermasks.store.files import atomic_write_bytes

from ._counts import Masks, as_binary, check_masks

# Figures are built on `Figure()` directly, never through pyplot, so that drawing them touches no
# global backend state and works in any process (tests, workers without a display).

_ANNOTATE_MAX_TASKS = 12
_SAVE_FORMATS = ("png", "svg")
_DPI = 120

# Overlap relative to chance: red above chance, blue below, white at chance; blank cells (the
# diagonal) grey, so that they do not read as "at chance".
_DIVERGING = colormaps["RdBu_r"].with_extremes(bad="#bdbdbd")
_MIN_HALF_SPAN = 0.05
_SEED_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
                 "tab:olive", "tab:cyan", "tab:gray")

# Binary masks: exactly two colours, "off" (0) light and "on" (1) dark.
_MASK_COLOURS = ("#f2f2f2", "#08306b")
_BINARY = ListedColormap(_MASK_COLOURS, name="mask_off_on")
_MASK_TARGET_PIXELS = 600  # narrow masks get several pixels per weight, up to this width
_MASK_MAX_PIXELS_PER_WEIGHT = 8
_MASK_MIN_INCHES = (3.0, 2.0)
_MASK_MAX_INCHES = 16.0
_MASK_ROW_INCHES = 26.0  # panels per row: as many as fit in this width (at most 3)


def off_diagonal_scale(matrix: np.ndarray, *, default: tuple[float, float],
                       pad: float) -> tuple[np.ndarray, float, float]:
    """`matrix` with its diagonal blanked (NaN), and the colour limits of its finite off-diagonal entries.

    A task compared with itself is trivially at the maximum, so scaling colours over the pairs of
    distinct tasks shows their differences, often a fraction of the range. `default` is used when
    nothing is finite; equal limits are widened by `pad` on each side.
    """
    off_diagonal = np.where(np.eye(matrix.shape[0], dtype=bool), np.nan, matrix)
    finite = off_diagonal[np.isfinite(off_diagonal)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else default
    if high - low < 1e-9:
        low, high = low - pad, high + pad
    return off_diagonal, low, high


def _chance_norm(off_diagonal: np.ndarray, vmin: float | None, vmax: float | None) -> TwoSlopeNorm:
    """A diverging norm centred on 1 (chance) for a matrix of overlap relative to chance.

    Explicit `vmin`/`vmax` (a scale shared across figures) must enclose 1. Otherwise the scale is
    symmetric about 1 and spans the largest deviation of the finite entries, at least
    `_MIN_HALF_SPAN`, so that overlap within a few percent of chance stays pale.
    """
    if vmin is None and vmax is None:
        finite = off_diagonal[np.isfinite(off_diagonal)]
        half = max(float(np.abs(finite - 1.0).max()) if finite.size else 0.0, _MIN_HALF_SPAN)
        vmin, vmax = 1.0 - half, 1.0 + half
    elif vmin is None or vmax is None:
        raise ValueError("give both vmin and vmax, or neither")
    if not vmin < 1.0 < vmax:
        raise ValueError(f"the colour scale must enclose chance (1): got vmin={vmin}, vmax={vmax}")
    return TwoSlopeNorm(vcenter=1.0, vmin=vmin, vmax=vmax)


def overlap_heatmap(matrix: np.ndarray, task_labels: list[str], title: str, *, vmin: float | None = None,
                    vmax: float | None = None, annotate: bool | None = None) -> Figure:
    """Heat map of a (T x T) matrix of overlap relative to chance (Jaccard / chance Jaccard).

    1 is chance: the diverging colour map is centred on it (red above, blue below, white at
    chance; `TwoSlopeNorm`), and the colour bar marks it with a line. The diagonal (a task with
    itself) is left blank (grey). Pass the same `vmin` and `vmax` to several heat maps (they
    must enclose 1) to compare them on one scale; by default the scale is symmetric about 1
    (see `_chance_norm`). Cells are annotated with their value when `annotate`, by default
    when T <= 12.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    num_tasks = len(task_labels)
    if matrix.shape != (num_tasks, num_tasks):
        raise ValueError(f"matrix has shape {matrix.shape}, expected ({num_tasks}, {num_tasks}) for the labels")
    off_diagonal = np.where(np.eye(num_tasks, dtype=bool), np.nan, matrix)
    norm = _chance_norm(off_diagonal, vmin, vmax)
    side = 1.6 + 0.55 * max(num_tasks, 4)
    fig = Figure(figsize=(side + 1.2, side), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(off_diagonal, cmap=_DIVERGING, norm=norm, interpolation="nearest")
    colorbar = fig.colorbar(image, ax=ax)
    colorbar.set_label("Jaccard / chance")
    colorbar.ax.axhline(1.0, color="black", linewidth=1.5)
    ax.set_xticks(range(num_tasks), labels=task_labels, rotation=45 if num_tasks > 6 else 0)
    ax.set_yticks(range(num_tasks), labels=task_labels)
    ax.set_xlabel("Task j")
    ax.set_ylabel("Task i")
    ax.set_title(title)
    if num_tasks <= _ANNOTATE_MAX_TASKS if annotate is None else annotate:
        for i in range(num_tasks):
            for j in range(num_tasks):
                value = off_diagonal[i, j]
                if not np.isfinite(value):
                    continue
                # Light text on the saturated ends of the map, dark text near chance.
                colour = "white" if abs(float(norm(value)) - 0.5) > 0.3 else "black"
                ax.text(j, i, f"{value:.3f}", ha="center", va="center", color=colour, fontsize=8)
    return fig


def overlap_scatter3d(table: pd.DataFrame, layer: str, title: str) -> Figure:
    """The seed study's 3-D scatter of one layer: x = task i, y = task j, z = Jaccard overlap (%).

    The chance level is drawn as a translucent horizontal plane at the mean `chance_pct` of the
    layer's pairs (pairs differ in chance only through their densities, by little within a
    layer), labelled in the legend, so points above it overlap more than independent masks.
    """
    rows = table[table["layer"] == layer]
    if rows.empty:
        raise ValueError(f"no rows for layer {layer!r}; the table has {list(pd.unique(table['layer']))}")
    fig = Figure(figsize=(7.0, 6.0), layout="constrained")
    ax = fig.add_subplot(projection="3d")
    task_i, task_j = rows["task_i"].to_numpy(), rows["task_j"].to_numpy()
    points = ax.scatter(
        task_i,
        task_j,
        rows["jaccard_pct"].to_numpy(),
        c=rows["jaccard_pct"].to_numpy(),
        cmap="viridis",
        depthshade=False,
    )
    chance = float(rows["chance_pct"].mean())
    low, high = min(task_i.min(), task_j.min()), max(task_i.max(), task_j.max())
    grid_x, grid_y = np.meshgrid([low, high], [low, high])
    plane = ax.plot_surface(grid_x, grid_y, np.full_like(grid_x, chance, dtype=np.float64), color="grey",
                            alpha=0.25, linewidth=0, shade=False)
    plane.set_label(f"chance ({chance:.2f}%)")
    ax.legend(handles=[Patch(facecolor="grey", alpha=0.4, label=f"chance ({chance:.2f}%)")], loc="upper left")
    ax.set_xlabel("Task i")
    ax.set_ylabel("Task j")
    ax.set_zlabel("Overlap (%)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    fig.colorbar(points, ax=ax, shrink=0.6, pad=0.1, label="Jaccard overlap (%)")
    return fig


def overlap_vs_relatedness(points: pd.DataFrame, relatedness_name: str, title: str, *,
                           jitter: float = 0.01, value: str = "relative_to_chance", ylabel: str = "overlap / chance",
                           chance: float | None = 1.0) -> Figure:
    """Overlap relative to chance against the relatedness of the two tasks: one point per pair and seed.

    `points` has the columns `seed, relatedness, relative_to_chance` (one row per pair of tasks
    and seed). Each seed has its own colour; a least-squares line `y = a + b x` is fitted over
    all finite points (drawn when there are two distinct relatedness values), and a dashed
    horizontal line marks chance (1). Points are shifted sideways by a uniform jitter of
    `jitter` times the relatedness range (drawn from a fixed generator, so the figure is
    reproducible) so that pairs at equal relatedness stay visible; the fit uses the true values.
    Another pairwise measure is drawn the same way with `value` (its column), `ylabel`, and
    `chance` (its reference line; None for none): Experiment 2's |cos| between task signatures.
    """
    missing = [c for c in ("seed", "relatedness", value) if c not in points.columns]
    if missing:
        raise ValueError(f"points lack the columns {missing}; they have {list(points.columns)}")
    x_all = points["relatedness"].to_numpy(dtype=np.float64)
    y_all = points[value].to_numpy(dtype=np.float64)
    finite = np.isfinite(x_all) & np.isfinite(y_all)
    span = float(np.ptp(x_all[finite])) if finite.any() else 0.0
    rng = np.random.default_rng(0)
    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.add_subplot()
    for index, (seed, rows) in enumerate(points.groupby("seed", sort=True)):
        x = rows["relatedness"].to_numpy(dtype=np.float64)
        shift = rng.uniform(-jitter, jitter, size=x.size) * span if jitter > 0 else 0.0
        ax.scatter(x + shift, rows[value].to_numpy(dtype=np.float64), s=18, alpha=0.75,
                   color=_SEED_COLOURS[index % len(_SEED_COLOURS)], label=f"seed {seed}", zorder=3)
    if np.unique(x_all[finite]).size >= 2:
        slope, intercept = np.polyfit(x_all[finite], y_all[finite], 1)
        ends = np.array([x_all[finite].min(), x_all[finite].max()])
        ax.plot(ends, intercept + slope * ends, color="black", linewidth=1.5, zorder=4,
                label=f"least-squares fit (slope {slope:.3g})")
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle="--", linewidth=1.0, zorder=2, label="chance")
    ax.set_xlabel(relatedness_name)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def _mask_panel_inches(rows: int, cols: int) -> tuple[float, float]:
    """Width and height of one mask image: at least one pixel per weight at `_DPI`, within bounds."""
    pixels = max(1, min(_MASK_MAX_PIXELS_PER_WEIGHT, _MASK_TARGET_PIXELS // max(cols, 1)))
    width = min(max(cols * pixels / _DPI, _MASK_MIN_INCHES[0]), _MASK_MAX_INCHES)
    height = min(max(rows * pixels / _DPI, _MASK_MIN_INCHES[1]), _MASK_MAX_INCHES)
    return width, height


def _binary_legend(fig: Figure) -> None:
    fig.legend(handles=[Patch(facecolor=_MASK_COLOURS[0], edgecolor="black", label="off (weight pruned)"),
                        Patch(facecolor=_MASK_COLOURS[1], edgecolor="black", label="on (weight kept)")],
               loc="outside lower center", ncols=2, fontsize=9)


def mask_grid(masks: Masks, layer: str, title: str | None = None) -> Figure:
    """One image per task of the layer's mask ("task t's mask: weights kept"): units x inputs, two colours.

    Each weight is one cell (rows: the layer's units, columns: its inputs) in a binary colour
    map, "off" light and "on" dark, with one legend for the figure. The figure grows with the
    mask so that every weight gets at least one pixel at the saved resolution (a 300 x 784 fc1
    mask is drawn at least 784 pixels wide; panels are capped at `_MASK_MAX_INCHES`). A mask of
    more than two dimensions (a convolution) is shown as (output channels, the rest).
    """
    task_ids, layers = check_masks(masks)
    if layer not in layers:
        raise ValueError(f"unknown layer {layer!r}; the masks have {layers}")
    num_tasks = len(task_ids)
    images = {}
    for task_id in task_ids:
        mask = as_binary(masks[task_id][layer], f"mask of task {task_id}, layer {layer!r}")
        images[task_id] = (mask.reshape(mask.shape[0], -1) if mask.ndim > 1 else mask[None, :]).astype(np.uint8)
    convolution = np.ndim(masks[task_ids[0]][layer]) > 2
    rows, cols = images[task_ids[0]].shape
    width, height = _mask_panel_inches(rows, cols)
    ncols = max(1, min(num_tasks, 3, int(_MASK_ROW_INCHES // (width + 0.9))))
    nrows = math.ceil(num_tasks / ncols)
    fig = Figure(figsize=(ncols * (width + 0.9), nrows * (height + 0.9) + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, task_id in zip(axes, task_ids):
        ax.imshow(images[task_id], aspect="auto", cmap=_BINARY, interpolation="nearest", vmin=0, vmax=1)
        ax.set_title(f"task {task_id}'s mask: weights kept")
        ax.set_xlabel("inputs (in channels x kernel)" if convolution else "inputs")
        ax.set_ylabel("output channels" if convolution else "units")
    # The grid may have more cells than tasks; empty cells would read as missing masks.
    for ax in axes[num_tasks:]:
        ax.remove()
    _binary_legend(fig)
    if title is not None:
        fig.suptitle(title)
    return fig


def receptive_fields(mask: np.ndarray, units: Sequence[int], shape: tuple[int, int] = (28, 28),
                     title: str | None = None) -> Figure:
    """The input masks of a few units as images: row `u` of a (units, inputs) mask reshaped to `shape`.

    For the first layer of an MLP on 28 x 28 images (fc1: 300 x 784), each unit's row of the mask
    says which pixels the unit reads: reshaped, it is the unit's receptive field, the readable
    view of a mask too wide to inspect as a matrix. Binary colours as in `mask_grid`; each panel
    is titled with its unit and the fraction of its inputs kept.
    """
    mask = as_binary(mask, "mask")
    if mask.ndim != 2:
        raise ValueError(f"mask must be (units, inputs), got shape {mask.shape}")
    if mask.shape[1] != shape[0] * shape[1]:
        raise ValueError(f"mask rows have {mask.shape[1]} inputs, which cannot be shown as {shape} images")
    units = [int(u) for u in units]
    if not units:
        raise ValueError("no units to show")
    bad = [u for u in units if not 0 <= u < mask.shape[0]]
    if bad:
        raise ValueError(f"units {bad} are outside the mask's {mask.shape[0]} units")
    ncols = min(len(units), 5)
    nrows = math.ceil(len(units) / ncols)
    fig = Figure(figsize=(2.3 * ncols, 2.4 * nrows + 0.8), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, unit in zip(axes, units):
        ax.imshow(mask[unit].reshape(shape).astype(np.uint8), cmap=_BINARY, interpolation="nearest", vmin=0, vmax=1)
        ax.set_title(f"unit {unit}: {mask[unit].mean():.0%} on", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(units):]:
        ax.remove()
    fig.supxlabel(f"each panel: the unit's {shape[0]} x {shape[1]} input pixels", fontsize=9)
    _binary_legend(fig)
    if title is not None:
        fig.suptitle(title)
    return fig


def save_figure(fig: Figure, directory: Path, stem: str, formats: Sequence[str] = _SAVE_FORMATS) -> list[Path]:
    """Write `stem.<format>` for each of `formats` (PNG at dpi 120, SVG) into `directory` atomically; returns the paths.

    Each format is rendered in memory, then written by the one atomic writer (temporary name,
    fsync, rename): a reader never sees a half-written figure and an interrupted save leaves the
    previous file intact.
    """
    directory = Path(directory)
    paths = []
    for fmt in formats:
        target = directory / f"{stem}.{fmt}"
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=_DPI)
        atomic_write_bytes(target, buffer.getbuffer())
        paths.append(target)
    return paths


def confusion_heatmap(counts: np.ndarray, task_labels: list[str], title: str,
                      column_labels: list[str] | None = None, column_title: str = "inferred task") -> Figure:
    """True task (rows) against inferred task or chosen mask (columns): counts of test batches, annotated when small.

    `column_labels` default to `task_labels` (a square matrix); NNs gives one column per mask it
    allocated, which may be fewer or more than the tasks (`column_title` "chosen mask").
    """
    counts = np.asarray(counts)
    columns = task_labels if column_labels is None else column_labels
    num_rows, num_columns = len(task_labels), len(columns)
    if counts.shape != (num_rows, num_columns):
        raise ValueError(f"counts have shape {counts.shape}, expected ({num_rows}, {num_columns}) for the labels")
    width = 1.6 + 0.55 * max(num_columns, 4)
    height = 1.6 + 0.55 * max(num_rows, 4)
    fig = Figure(figsize=(width + 1.2, height), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(counts, cmap="Blues", interpolation="nearest", vmin=0)
    fig.colorbar(image, ax=ax).set_label("test batches")
    ax.set_xticks(range(num_columns), labels=columns, rotation=45 if num_columns > 6 else 0)
    ax.set_yticks(range(num_rows), labels=task_labels)
    ax.set_xlabel(column_title)
    ax.set_ylabel("true task")
    ax.set_title(title)
    if max(num_rows, num_columns) <= _ANNOTATE_MAX_TASKS:
        high = counts.max() if counts.size else 0
        for i in range(num_rows):
            for j in range(num_columns):
                colour = "white" if counts[i, j] > high / 2 else "black"
                ax.text(j, i, str(int(counts[i, j])), ha="center", va="center", color=colour, fontsize=8)
    return fig
