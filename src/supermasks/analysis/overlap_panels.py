"""Experiment 1's answer in one figure: overlap / chance against relatedness, a panel per benchmark and layer.

Rows are benchmarks, columns layers, and every panel shares one y axis, so that the variants (shared
or independent score init, threshold or top-k masks) compare by eye. Each variant has its own
colour: its pairs of tasks as points (every seed's), a least-squares line over them with the 95%
confidence band of that line, and the dashed chance line at 1. Returns a Figure; saving is separate.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

POINT_COLUMNS = ("variant", "benchmark", "layer", "seed", "relatedness", "relative_to_chance")
COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive",
           "tab:cyan", "tab:gray")
LOG_ABOVE = 4.0  # a log y axis where the largest ratio is this many times the smallest: 1x and 12x both readable
_DODGE = 0.012  # each variant's points shifted sideways by this share of the x range, so they do not hide each other


def fit_band(x: np.ndarray, y: np.ndarray, grid: np.ndarray,
             confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The least-squares line `a + b x` on `grid` with its pointwise `confidence` band (Student t, n - 2 degrees).

    half-width = t * s * sqrt(1/n + (g - mean x)^2 / sum (x - mean x)^2), s the residuals' standard error.
    None with fewer than two distinct x; the band is NaN with three points or fewer distinct values than needed.
    """
    from scipy import stats

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    if np.unique(x).size < 2:
        return None
    slope, intercept = np.polyfit(x, y, 1)
    line = intercept + slope * grid
    n = x.size
    if n < 3:
        return line, np.full_like(line, np.nan), np.full_like(line, np.nan)
    residual = y - (intercept + slope * x)
    s = np.sqrt(residual @ residual / (n - 2))
    spread = ((x - x.mean()) ** 2).sum()
    half = stats.t.ppf(0.5 + confidence / 2, n - 2) * s * np.sqrt(1 / n + (grid - x.mean()) ** 2 / spread)
    return line, line - half, line + half


def overlap_panels(points: pd.DataFrame, relatedness: Mapping[str, str], title: str, *,
                   variants: list[str] | None = None) -> Figure:
    """Overlap / chance against relatedness: rows = benchmarks, columns = layers, one shared y axis.

    `points`: one row per variant, benchmark, layer, seed and pair of tasks (`POINT_COLUMNS`).
    `relatedness`: benchmark -> what its x axis measures ("angle difference (degrees)").
    `variants`: their order and colours (default: as they first appear). Every panel holds, per
    variant, its points, its fitted line (`fit_band`; labelled with the variant's name) and band,
    then the chance line (labelled "chance"); a panel without that benchmark and layer is left empty.
    """
    missing = [c for c in POINT_COLUMNS if c not in points.columns]
    if missing:
        raise ValueError(f"points lack the columns {missing}; they have {list(points.columns)}")
    variants = variants or list(pd.unique(points["variant"]))
    benchmarks, layers = list(pd.unique(points["benchmark"])), list(pd.unique(points["layer"]))
    values = points["relative_to_chance"].to_numpy(dtype=np.float64)
    positive = values[np.isfinite(values)]
    log = positive.size > 0 and positive.min() > 0 and positive.max() / positive.min() > LOG_ABOVE
    fig = Figure(figsize=(2.9 * len(layers) + 0.8, 2.4 * len(benchmarks) + 1.0), layout="constrained")
    axes = fig.subplots(len(benchmarks), len(layers), squeeze=False, sharey=True, sharex="row")
    for row, benchmark in enumerate(benchmarks):
        on_row = points[points["benchmark"] == benchmark]
        x_all = on_row["relatedness"].to_numpy(dtype=np.float64)
        span = float(np.nanmax(x_all) - np.nanmin(x_all)) if np.isfinite(x_all).any() else 0.0
        finite = np.unique(x_all[np.isfinite(x_all)])
        whole = [float(v) for v in finite] if 0 < finite.size <= 6 and np.all(finite == np.round(finite)) else []
        for col, layer in enumerate(layers):
            ax = axes[row, col]
            panel = on_row[on_row["layer"] == layer]
            for k, variant in enumerate(variants):
                _draw_variant(ax, panel[panel["variant"] == variant], variant, COLOURS[k % len(COLOURS)],
                              (k - (len(variants) - 1) / 2) * _DODGE * span)
            ax.axhline(1.0, color="black", linestyle="--", linewidth=0.9, zorder=1, label="chance")
            ax.grid(alpha=0.25)
            if row == 0:
                ax.set_title(str(layer))
            if col == 0:
                ax.set_ylabel(f"{benchmark}\noverlap / chance")
            ax.set_xlabel(relatedness.get(benchmark, "relatedness"), fontsize="small")
            if whole:  # a count (shared classes): ticks at its values only, never 0.2 of a class
                ax.xaxis.set_major_locator(FixedLocator(whole))
            if finite.size == 1:  # every pair equally related: nothing to fit or test, and the panel says so
                ax.text(0.5, 0.5, "untested: every pair\nequally related", transform=ax.transAxes, ha="center",
                        va="center", fontsize="small", color="0.35")
    if log:
        axes[0, 0].set_yscale("log")  # shared: every panel follows
        for ax in axes.flat:  # 1, 2, 5, 10, ... written as numbers; the other ticks unlabelled (they overlap)
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
    handles = [Line2D([], [], color=COLOURS[k % len(COLOURS)], marker="o", markersize=4, label=v)
               for k, v in enumerate(variants)]
    handles.append(Line2D([], [], color="black", linestyle="--", linewidth=0.9, label="chance (1)"))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize="small")
    fig.suptitle(title)
    return fig


def _draw_variant(ax, rows: pd.DataFrame, variant: str, colour: str, shift: float) -> None:
    """One variant in one panel: its points (shifted sideways by `shift`), its line and band."""
    x = rows["relatedness"].to_numpy(dtype=np.float64)
    y = rows["relative_to_chance"].to_numpy(dtype=np.float64)
    ax.scatter(x + shift, y, s=9, alpha=0.45, color=colour, linewidths=0, zorder=3)
    finite = np.isfinite(x)
    grid = np.linspace(x[finite].min(), x[finite].max(), 50) if finite.any() else np.array([])
    fitted = fit_band(x, y, grid) if grid.size else None
    if fitted is None:
        return
    line, low, high = fitted
    ax.plot(grid, line, color=colour, linewidth=1.6, zorder=4, label=variant)
    if np.isfinite(low).all():
        ax.fill_between(grid, low, high, color=colour, alpha=0.18, linewidth=0, zorder=2)


__all__ = ["POINT_COLUMNS", "fit_band", "overlap_panels"]
