"""Figures of mask overlap (heat map, 3-D scatter, mask grid); each returns a Figure, saving is separate."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from supermasks.store.files import atomic_write_bytes

from ._counts import Masks, as_binary, check_masks

# Figures are built on `Figure()` directly, never through pyplot, so that drawing them touches no
# global backend state and works in any process (tests, workers without a display).

_ANNOTATE_MAX_TASKS = 12
_SAVE_FORMATS = ("png", "svg")
_DPI = 120


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


def overlap_heatmap(matrix: np.ndarray, task_labels: list[str], title: str) -> Figure:
    """Heat map of a (T x T) overlap matrix in percent, cells annotated when T <= 12."""
    matrix = np.asarray(matrix, dtype=np.float64)
    num_tasks = len(task_labels)
    if matrix.shape != (num_tasks, num_tasks):
        raise ValueError(f"matrix has shape {matrix.shape}, expected ({num_tasks}, {num_tasks}) for the labels")
    side = 1.6 + 0.55 * max(num_tasks, 4)
    fig = Figure(figsize=(side + 1.2, side), layout="constrained")
    ax = fig.add_subplot()
    # The diagonal (a task with itself) is trivially 100%; leave it blank so the colour scale
    # spans the pairs of distinct tasks, whose differences are often a fraction of a percent.
    off_diagonal, low, high = off_diagonal_scale(matrix, default=(0.0, 100.0), pad=0.5)
    image = ax.imshow(off_diagonal, cmap="viridis", vmin=low, vmax=high, interpolation="nearest")
    colorbar = fig.colorbar(image, ax=ax)
    colorbar.set_label("Jaccard overlap (%), distinct tasks")
    ax.set_xticks(range(num_tasks), labels=task_labels, rotation=45 if num_tasks > 6 else 0)
    ax.set_yticks(range(num_tasks), labels=task_labels)
    ax.set_xlabel("Task j")
    ax.set_ylabel("Task i")
    ax.set_title(title)
    if num_tasks <= _ANNOTATE_MAX_TASKS:
        for i in range(num_tasks):
            for j in range(num_tasks):
                value = matrix[i, j]
                # Dark text on the bright end of viridis, light text on the dark end.
                colour = "black" if i == j or value > (low + high) / 2 else "white"
                ax.text(j, i, f"{value:.1f}", ha="center", va="center", color=colour, fontsize=8)
    return fig


def overlap_scatter3d(table: pd.DataFrame, layer: str, title: str) -> Figure:
    """The seed study's 3-D scatter of one layer: x = task i, y = task j, z = Jaccard overlap (%)."""
    rows = table[table["layer"] == layer]
    if rows.empty:
        raise ValueError(f"no rows for layer {layer!r}; the table has {list(pd.unique(table['layer']))}")
    fig = Figure(figsize=(7.0, 6.0), layout="constrained")
    ax = fig.add_subplot(projection="3d")
    points = ax.scatter(
        rows["task_i"].to_numpy(),
        rows["task_j"].to_numpy(),
        rows["jaccard_pct"].to_numpy(),
        c=rows["jaccard_pct"].to_numpy(),
        cmap="viridis",
        depthshade=False,
    )
    ax.set_xlabel("Task i")
    ax.set_ylabel("Task j")
    ax.set_zlabel("Overlap (%)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    fig.colorbar(points, ax=ax, shrink=0.6, pad=0.1, label="Jaccard overlap (%)")
    return fig


def mask_grid(masks: Masks, layer: str, title: str | None = None) -> Figure:
    """One grey image per task of the layer's mask ("Neural activity for task t"), each with a colour bar.

    A mask of more than two dimensions (a convolution) is shown as (out_channels, rest).
    """
    task_ids, layers = check_masks(masks)
    if layer not in layers:
        raise ValueError(f"unknown layer {layer!r}; the masks have {layers}")
    num_tasks = len(task_ids)
    ncols = min(num_tasks, 3)
    nrows = math.ceil(num_tasks / ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.4 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, task_id in zip(axes, task_ids):
        mask = as_binary(masks[task_id][layer], f"mask of task {task_id}, layer {layer!r}")
        image2d = mask.reshape(mask.shape[0], -1) if mask.ndim > 1 else mask[None, :]
        image = ax.imshow(
            image2d.astype(np.uint8), aspect="auto", cmap="gray", interpolation="nearest", vmin=0, vmax=1
        )
        fig.colorbar(image, ax=ax)
        ax.set_title(f"Neural activity for task {task_id}")
    # The grid may have more cells than tasks; empty cells would read as missing masks.
    for ax in axes[num_tasks:]:
        ax.remove()
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


def confusion_heatmap(counts: np.ndarray, task_labels: list[str], title: str) -> Figure:
    """True task (rows) against inferred task (columns): counts of test batches, annotated when small."""
    counts = np.asarray(counts)
    num_tasks = len(task_labels)
    if counts.shape != (num_tasks, num_tasks):
        raise ValueError(f"counts have shape {counts.shape}, expected ({num_tasks}, {num_tasks}) for the labels")
    side = 1.6 + 0.55 * max(num_tasks, 4)
    fig = Figure(figsize=(side + 1.2, side), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(counts, cmap="Blues", interpolation="nearest", vmin=0)
    fig.colorbar(image, ax=ax).set_label("test batches")
    ax.set_xticks(range(num_tasks), labels=task_labels, rotation=45 if num_tasks > 6 else 0)
    ax.set_yticks(range(num_tasks), labels=task_labels)
    ax.set_xlabel("inferred task")
    ax.set_ylabel("true task")
    ax.set_title(title)
    if num_tasks <= _ANNOTATE_MAX_TASKS:
        high = counts.max() if counts.size else 0
        for i in range(num_tasks):
            for j in range(num_tasks):
                colour = "white" if counts[i, j] > high / 2 else "black"
                ax.text(j, i, str(int(counts[i, j])), ha="center", va="center", color=colour, fontsize=8)
    return fig
