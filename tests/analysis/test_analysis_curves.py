import pandas as pd
import pytest
from matplotlib.figure import Figure

from supermasks.analysis.curves import learning_curves, metric_vs_parameter


def curve(acc0, acc1):
    rows = [{"trained_task": 0, "step": s, "task": 0, "accuracy": a} for s, a in zip((5, 10), acc0)]
    rows += [{"trained_task": 1, "step": s, "task": t, "accuracy": a}
             for s, pair in zip((5, 10), acc1) for t, a in enumerate(pair)]
    return pd.DataFrame(rows)


def test_learning_curves_one_panel_per_method_and_sequence_steps():
    fig = learning_curves({"naive": curve([0.5, 0.9], [(0.6, 0.5), (0.2, 0.95)]),
                           "ewc": curve([0.5, 0.9], [(0.8, 0.5), (0.7, 0.9)])}, "t")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if line.get_label().startswith("task")]
    xs = [list(line.get_xdata()) for line in lines]
    assert xs == [[5, 10, 15, 20], [15, 20]]  # task 0 over both tasks, task 1 after the boundary
    assert list(lines[0].get_ydata()) == pytest.approx([50, 90, 60, 20])
    boundaries = [line for line in ax.get_lines() if line not in lines]
    assert [list(b.get_xdata()) for b in boundaries] == [[10, 10]]  # task 1 begins after step 10
    with pytest.raises(ValueError):
        learning_curves({}, "t")


def test_metric_vs_parameter_in_percent_with_log_axis_for_wide_grids():
    table = pd.DataFrame({"method": ["replay"] * 3, "replay_fraction": [0.0, 0.01, 1.0],
                          "first_task_accuracy": [0.6, 0.8, 1.0]})
    fig = metric_vs_parameter(table, "replay_fraction", "first_task_accuracy", "t")
    ax = fig.axes[0]
    assert list(ax.get_lines()[0].get_ydata()) == pytest.approx([60, 80, 100])
    assert ax.get_xscale() == "symlog"


def test_metric_vs_categorical_parameter_draws_bars():
    table = pd.DataFrame({"method": ["replay"] * 2, "replay_selection": ["random", "uncertain"], "ACC": [0.7, 0.6]})
    ax = metric_vs_parameter(table, "replay_selection", "ACC", "t").axes[0]
    assert [round(p.get_height()) for p in ax.patches] == [70, 60]
