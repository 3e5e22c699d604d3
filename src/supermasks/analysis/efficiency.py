"""Similarity-guided transfer (Experiment 2): accuracy against training budget over seeds, tests, figures.

docs/algorithms.md section 3. Every task after the first starts its scores either from random init
or from a mix of earlier tasks' scores ("mean": SupSup transfer, "similar": the most similar
earlier task, "soft": a softmax over similarities). The runner measures each task's own test
accuracy after a series of training budgets; this module reduces that table to one score per
seed, summarises the seeds with a Student t interval, and compares every mode with a baseline
by a paired t-test over seeds (Holm-corrected across the modes compared at one budget).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullLocator
from scipy import stats

from .stats import holm, mean_interval
from .plots import off_diagonal_scale

EVALUATION_COLUMNS = ("benchmark", "seed", "transfer", "task", "budget", "accuracy")
ALPHA_COLUMNS = ("benchmark", "seed", "transfer", "task", "layer", "source_task", "alpha")
SEED_SCORE_COLUMNS = ("benchmark", "transfer", "seed", "budget", "accuracy", "num_tasks")
BUDGET_SUMMARY_COLUMNS = (
    "benchmark",
    "transfer",
    "budget",
    "n_seeds",
    "mean",
    "std",
    "ci_low",
    "ci_high",
    "n_pairs",
    "mean_difference",
    "p_value",
    "p_holm",
)

# The modes the runner knows, in the order tables and legends list them; other names follow.
TRANSFER_MODES = ("random", "mean", "similar", "soft")
_MODE_COLOURS = {"random": "tab:gray", "mean": "tab:blue", "similar": "tab:orange", "soft": "tab:green"}
_EXTRA_COLOURS = ("tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")

# Differences of per-seed mean accuracies whose sample standard deviation is below this count as
# constant. Real spreads are at least one test image over the test set (about 1e-5 or more),
# while subtracting equal-looking fractions leaves rounding noise near 1e-16: without the
# tolerance, seeds that all differ by "exactly" 0.1 would yield t ~ 1e15 and p ~ 0.
_ZERO_SPREAD = 1e-12
_ANNOTATE_MAX_TASKS = 8


def _require_columns(table: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"the {name} table lacks the columns {missing}; it has {list(table.columns)}")


def _ordered_modes(modes: Sequence[str]) -> list[str]:
    """The distinct modes, the known ones first in `TRANSFER_MODES` order, then the rest by name."""
    known = len(TRANSFER_MODES)
    return sorted(dict.fromkeys(modes), key=lambda m: (TRANSFER_MODES.index(m) if m in TRANSFER_MODES else known, m))


def _mode_rank(modes: pd.Series) -> pd.Series:
    return modes.map({mode: rank for rank, mode in enumerate(_ordered_modes(modes))})


def _mode_colour(mode: str, extra_index: int) -> str:
    return _MODE_COLOURS.get(mode, _EXTRA_COLOURS[extra_index % len(_EXTRA_COLOURS)])


def per_seed_scores(evaluation: pd.DataFrame, *, skip_first_task: bool = True) -> pd.DataFrame:
    """One score per (benchmark, transfer, seed, budget): the mean accuracy over the tasks measured.

    Task 0 is left out by default: it has no earlier task to transfer from, so it always starts
    from random init and every mode trains it identically. Keeping it would add the same numbers
    to every mode and dilute the differences the experiment is about.
    Columns: `SEED_SCORE_COLUMNS`; `num_tasks` counts the tasks averaged, so that a run with missing
    tasks is visible. Rows are ordered by benchmark (order of appearance), mode, seed and budget.
    """
    _require_columns(evaluation, EVALUATION_COLUMNS, "evaluation")
    keys = ["benchmark", "transfer", "seed", "task", "budget"]
    duplicated = evaluation.duplicated(keys)
    if duplicated.any():
        first = evaluation.loc[duplicated, keys].iloc[0].to_dict()
        raise ValueError(f"the evaluation table has {int(duplicated.sum())} repeated measurements, e.g. {first}")
    rows = evaluation[evaluation["task"] != 0] if skip_first_task else evaluation
    if rows.empty:
        raise ValueError("no measurements left to average" + (" once task 0 is left out" if skip_first_task else ""))
    scores = (
        rows.groupby(["benchmark", "transfer", "seed", "budget"], sort=False)["accuracy"]
        .agg(accuracy="mean", num_tasks="count")
        .reset_index()
    )
    benchmark_rank = {name: rank for rank, name in enumerate(pd.unique(evaluation["benchmark"]))}
    scores = scores.assign(_b=scores["benchmark"].map(benchmark_rank), _m=_mode_rank(scores["transfer"]))
    scores = scores.sort_values(["_b", "_m", "seed", "budget"], kind="stable")
    return scores.drop(columns=["_b", "_m"]).reset_index(drop=True)[list(SEED_SCORE_COLUMNS)]


def paired_p_value(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided paired t-test p-value of `x` against `y` (same seeds, same order).

    Equal to `scipy.stats.ttest_rel(x, y).pvalue` where that test is defined. NaN when there are
    fewer than two pairs (no spread to estimate) or when the differences are constant (their
    standard deviation is below 1e-12): the statistic is then 0/0 or a difference over zero spread,
    and no p-value says anything about seed-to-seed variation that was never observed.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"paired samples of different sizes: {x.shape} vs {y.shape}")
    if x.size < 2 or float(np.std(x - y, ddof=1)) <= _ZERO_SPREAD:
        return math.nan
    return float(stats.ttest_rel(x, y).pvalue)


def _holm_finite(p: pd.Series) -> pd.Series:
    """Holm over the finite p-values of one family; NaN ones (baseline, untestable) stay NaN."""
    adjusted = pd.Series(np.nan, index=p.index)
    finite = np.isfinite(p.to_numpy(dtype=np.float64))
    if finite.any():
        adjusted[finite] = holm(p.to_numpy(dtype=np.float64)[finite])
    return adjusted


def _summarise_scores(scores: pd.DataFrame, baseline: str, confidence: float) -> pd.DataFrame:
    rows = []
    for (benchmark, budget), group in scores.groupby(["benchmark", "budget"], sort=False):
        base = group[group["transfer"] == baseline].set_index("seed")["accuracy"]
        for mode in _ordered_modes(group["transfer"]):
            values = group[group["transfer"] == mode].set_index("seed")["accuracy"]
            mean, sd, low, high = mean_interval(values.to_numpy(), confidence)
            row = {"benchmark": benchmark, "transfer": mode, "budget": budget, "n_seeds": len(values),
                   "mean": mean, "std": sd, "ci_low": low, "ci_high": high,
                   "n_pairs": 0, "mean_difference": math.nan, "p_value": math.nan}
            if mode != baseline:
                # Pair by seed: the same seed draws the same network, data order and task sequence
                # for every mode, so its differences remove the seed-to-seed variation.
                seeds = values.index.intersection(base.index)
                x, y = values.loc[seeds].to_numpy(), base.loc[seeds].to_numpy()
                row["n_pairs"] = len(seeds)
                row["mean_difference"] = float(np.mean(x - y)) if len(seeds) else math.nan
                row["p_value"] = paired_p_value(x, y)
            rows.append(row)
    summary = pd.DataFrame(rows, columns=[c for c in BUDGET_SUMMARY_COLUMNS if c != "p_holm"])
    summary["p_holm"] = summary.groupby(["benchmark", "budget"], sort=False)["p_value"].transform(_holm_finite)
    # Read a benchmark's table mode by mode, each along its budgets.
    benchmark_rank = {name: rank for rank, name in enumerate(pd.unique(scores["benchmark"]))}
    summary = summary.assign(_b=summary["benchmark"].map(benchmark_rank), _m=_mode_rank(summary["transfer"]))
    summary = summary.sort_values(["_b", "_m", "budget"], kind="stable").drop(columns=["_b", "_m"])
    return summary.reset_index(drop=True)[list(BUDGET_SUMMARY_COLUMNS)]


def budget_summary(
    evaluation: pd.DataFrame,
    *,
    baseline: str = "random",
    confidence: float = 0.95,
    skip_first_task: bool = True,
) -> pd.DataFrame:
    """Per (benchmark, transfer, budget): the per-seed scores summarised and compared with `baseline`.

    Columns (`BUDGET_SUMMARY_COLUMNS`): `n_seeds`; `mean`, `std` and the Student t interval
    `ci_low, ci_high` at `confidence` over the per-seed scores of `per_seed_scores` (NaN spread and
    bounds for a single seed); against the baseline mode on the seeds both have (`n_pairs`):
    `mean_difference` (mode minus baseline), the paired t-test's `p_value` (see `paired_p_value`
    for when it is NaN), and `p_holm`, Holm's correction (Holm 1979) over the modes compared with
    the baseline at the same benchmark and budget. The baseline's own rows have `n_pairs` 0 and
    NaN difference and p-values; so do all modes at a budget where the baseline was not measured.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    scores = per_seed_scores(evaluation, skip_first_task=skip_first_task)
    if baseline not in set(scores["transfer"]):
        raise ValueError(f"baseline {baseline!r} is not among the modes {_ordered_modes(scores['transfer'])}")
    return _summarise_scores(scores, baseline, confidence)


def final_summary(
    evaluation: pd.DataFrame,
    *,
    baseline: str = "random",
    confidence: float = 0.95,
    skip_first_task: bool = True,
) -> pd.DataFrame:
    """`budget_summary` at each benchmark's largest budget: the modes compared at a fixed budget.

    The largest budget is taken per benchmark, since benchmarks may train for different lengths.
    """
    _require_columns(evaluation, EVALUATION_COLUMNS, "evaluation")
    largest = evaluation.groupby("benchmark", sort=False)["budget"].transform("max")
    return budget_summary(evaluation[evaluation["budget"] == largest], baseline=baseline,
                          confidence=confidence, skip_first_task=skip_first_task)


def efficiency_curves(summary: pd.DataFrame, benchmark: str, title: str | None = None) -> Figure:
    """Accuracy (%) against training budget on a log axis, one line per mode with its interval shaded.

    `summary` is a `budget_summary` table; the shaded band spans `ci_low..ci_high` and is absent
    where the interval is undefined (a single seed).
    """
    _require_columns(summary, ("benchmark", "transfer", "budget", "mean", "ci_low", "ci_high"), "summary")
    rows = summary[summary["benchmark"] == benchmark]
    if rows.empty:
        known = list(pd.unique(summary["benchmark"]))
        raise ValueError(f"no rows for benchmark {benchmark!r}; the summary has {known}")
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    _draw_curves(ax, rows)
    ax.set_title(title if title is not None else f"{benchmark}: accuracy against budget")
    ax.legend(title="transfer (band: CI over seeds)", fontsize=8, title_fontsize=8)
    return fig


def efficiency_panels(summary: pd.DataFrame, title: str = "Accuracy against training budget") -> Figure:
    """`efficiency_curves` of every benchmark in one figure: a panel per benchmark, one shared y axis, one legend."""
    _require_columns(summary, ("benchmark", "transfer", "budget", "mean", "ci_low", "ci_high"), "summary")
    benchmarks = list(pd.unique(summary["benchmark"]))
    fig = Figure(figsize=(max(6.4, 4.2 * len(benchmarks)), 4.4), layout="constrained")
    axes = fig.subplots(1, len(benchmarks), squeeze=False, sharey=True)[0]
    for ax, benchmark in zip(axes, benchmarks):
        _draw_curves(ax, summary[summary["benchmark"] == benchmark])
        ax.set_title(str(benchmark))
    for ax in axes[1:]:
        ax.set_ylabel("")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, title="transfer (band: 95% CI over seeds)", loc="outside right center",
               fontsize=8, title_fontsize=8)
    fig.suptitle(title)
    return fig


def _draw_curves(ax, rows: pd.DataFrame) -> None:
    """One benchmark's modes on `ax`: a line per mode (accuracy %, mean over seeds) with its interval shaded."""
    extra = 0
    for mode in _ordered_modes(rows["transfer"]):
        part = rows[rows["transfer"] == mode].sort_values("budget")
        colour = _mode_colour(mode, extra)
        extra += mode not in _MODE_COLOURS
        budgets = part["budget"].to_numpy(dtype=np.float64)
        ax.plot(budgets, 100 * part["mean"].to_numpy(), marker="o", markersize=4, color=colour, label=mode)
        ax.fill_between(budgets, 100 * part["ci_low"].to_numpy(dtype=np.float64),
                        100 * part["ci_high"].to_numpy(dtype=np.float64), color=colour, alpha=0.2, linewidth=0)
    budgets = np.sort(pd.unique(rows["budget"]))
    positive = budgets[budgets > 0]
    if positive.size and positive.size == budgets.size:
        ax.set_xscale("log")
    elif positive.size:
        # A budget of 0 (accuracy at init) has no place on a log axis; keep it on a linear stretch.
        ax.set_xscale("symlog", linthresh=float(positive.min()))
    # Label the measured budgets themselves: "250" reads better than 10^2.4.
    ax.set_xticks(budgets, labels=[str(int(b)) if float(b).is_integer() else str(b) for b in budgets])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("training steps per task (budget)")
    ax.set_ylabel("test accuracy (%), mean over tasks")
    ax.grid(alpha=0.3)


def _task_ticks(ax, num_tasks: int, labels: Sequence[str] | None = None) -> None:
    if num_tasks <= 20:
        labels = list(labels) if labels is not None else [str(t) for t in range(num_tasks)]
        ax.set_xticks(range(num_tasks), labels=labels, rotation=45 if num_tasks > 6 else 0)
        ax.set_yticks(range(num_tasks), labels=labels)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def similarity_heatmaps(
    matrices: Mapping[str, np.ndarray], title: str, task_labels: Sequence[str] | None = None
) -> Figure:
    """One heat map per layer of the (T x T) `|cos|` similarity of tasks' BN signatures (E2).

    The first layer's panel is E1. As in `plots.overlap_heatmap`, each panel's colour scale spans
    its distinct pairs only: the diagonal is 1 by construction (0 for a task without a signature)
    and would squeeze the pairs' differences into a sliver of the colour map.
    """
    if not matrices:
        raise ValueError("no similarity matrices to plot")
    layers = list(matrices)
    arrays = [np.asarray(matrices[layer], dtype=np.float64) for layer in layers]
    for layer, matrix in zip(layers, arrays):
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"the matrix of layer {layer!r} has shape {matrix.shape}, expected (T, T)")
        if task_labels is not None and matrix.shape[0] != len(task_labels):
            raise ValueError(f"the matrix of layer {layer!r} has {matrix.shape[0]} tasks but {len(task_labels)} labels")
    ncols = min(len(layers), 3)
    nrows = math.ceil(len(layers) / ncols)
    fig = Figure(figsize=(4.6 * ncols, 3.9 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for index, (ax, layer, matrix) in enumerate(zip(axes, layers, arrays)):
        num_tasks = matrix.shape[0]
        off_diagonal, low, high = off_diagonal_scale(matrix, default=(0.0, 1.0), pad=0.005)
        image = ax.imshow(off_diagonal, cmap="viridis", vmin=low, vmax=high, interpolation="nearest")
        fig.colorbar(image, ax=ax).set_label("|cos|, distinct tasks")
        _task_ticks(ax, num_tasks, task_labels)
        ax.set_xlabel("task j")
        ax.set_ylabel("task i")
        ax.set_title(f"{layer} (E1)" if index == 0 else layer)
        if num_tasks <= _ANNOTATE_MAX_TASKS:
            for i in range(num_tasks):
                for j in range(num_tasks):
                    value = matrix[i, j]
                    colour = "black" if i == j or value > (low + high) / 2 else "white"
                    ax.text(j, i, f"{value:.2f}", ha="center", va="center", color=colour, fontsize=7)
    for ax in axes[len(layers):]:
        ax.remove()
    fig.suptitle(title)
    return fig


def alphas_figure(
    alphas: pd.DataFrame, benchmark: str, transfer: str, seed: int, title: str | None = None
) -> Figure:
    """Per layer, the weights each task (rows) gave to earlier source tasks (columns) at its start.

    One panel per layer on a shared 0..1 colour scale; cells without a weight (task 0, sources at
    or after the task) are blank. Weights are annotated when there are at most 8 tasks.
    """
    _require_columns(alphas, ALPHA_COLUMNS, "alphas")
    rows = alphas[(alphas["benchmark"] == benchmark) & (alphas["transfer"] == transfer) & (alphas["seed"] == seed)]
    if rows.empty:
        raise ValueError(f"no alphas for benchmark {benchmark!r}, transfer {transfer!r}, seed {seed}")
    if rows.duplicated(["layer", "task", "source_task"]).any():
        raise ValueError("the alphas table repeats a (layer, task, source_task) for one run")
    layers = list(pd.unique(rows["layer"]))
    num_tasks = int(max(rows["task"].max(), rows["source_task"].max())) + 1
    ncols = min(len(layers), 3)
    nrows = math.ceil(len(layers) / ncols)
    fig = Figure(figsize=(4.2 * ncols + 1.0, 3.8 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    image = None
    for ax, layer in zip(axes, layers):
        part = rows[rows["layer"] == layer]
        grid = np.full((num_tasks, num_tasks), np.nan)
        grid[part["task"].to_numpy(dtype=int), part["source_task"].to_numpy(dtype=int)] = part["alpha"].to_numpy()
        image = ax.imshow(grid, cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
        _task_ticks(ax, num_tasks)
        ax.set_xlabel("source task")
        ax.set_ylabel("task")
        ax.set_title(layer)
        if num_tasks <= _ANNOTATE_MAX_TASKS:
            for i, j in zip(*np.nonzero(np.isfinite(grid))):
                colour = "black" if grid[i, j] > 0.5 else "white"
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", color=colour, fontsize=7)
    for ax in axes[len(layers):]:
        ax.remove()
    fig.colorbar(image, ax=list(axes[: len(layers)])).set_label("alpha")
    fig.suptitle(title if title is not None else f"{benchmark}, {transfer} transfer, seed {seed}: alphas")
    return fig
