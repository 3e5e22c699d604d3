"""Accuracy against stored bytes: the points, the log axis, and the rows read from a summary over seeds."""

import numpy as np
import pandas as pd
import pytest

from supermasks.analysis.storage import STORAGE_COLUMNS, accuracy_vs_bytes, run_points, storage_rows

ROWS = pd.DataFrame([
    {"method": "supsup", "label": "supsup (density=0.02)", "ACC": 0.80, "memory_total_bytes": 2.0e4},
    {"method": "supsup", "label": "supsup (density=0.32)", "ACC": 0.90, "memory_total_bytes": 2.0e4},
    {"method": "upper_bound", "label": "upper_bound", "ACC": 0.95, "memory_total_bytes": 4.0e7},
    {"method": "naive", "label": "naive", "ACC": 0.50, "memory_total_bytes": 1.0e6},
])


def test_the_x_axis_is_logarithmic_with_one_marker_per_row_in_percent():
    fig = accuracy_vs_bytes(ROWS)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ROWS["label"].tolist()  # one marker per row, named by its label
    points = np.vstack([c.get_offsets() for c in ax.collections])
    np.testing.assert_allclose(points, [[2.0e4, 80.0], [2.0e4, 90.0], [4.0e7, 95.0], [1.0e6, 50.0]])
    colours = [tuple(c.get_facecolor()[0]) for c in ax.collections]
    assert colours[0] == colours[1] and len({colours[0], colours[2], colours[3]}) == 3  # a colour per method
    lo, hi = ax.get_xlim()
    assert lo < 2.0e4 and hi > 4.0e7


def test_a_joined_series_is_one_line_through_its_points_in_order_of_bytes():
    rows = pd.concat([ROWS, pd.DataFrame([{"method": "supsup", "label": "supsup (density=0.08)", "ACC": 0.85,
                                           "memory_total_bytes": 1.0e4}])], ignore_index=True)
    rows["series"] = ["sweep", "sweep", "upper", "lower", "sweep"]
    ax = accuracy_vs_bytes(rows, colour_by="series", joined=["sweep"]).axes[0]
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_xydata(), [[1.0e4, 85.0], [2.0e4, 80.0], [2.0e4, 90.0]])
    colours = [tuple(c.get_facecolor()[0]) for c in ax.collections]
    assert colours[0] == colours[1] == colours[4] != colours[2]
    assert not accuracy_vs_bytes(rows).axes[0].get_lines()  # nothing joined unless asked


def test_run_points_average_over_seeds_and_leave_out_runs_without_bytes():
    frame = pd.DataFrame({"part": ["a", "a", "b", "c"], "method": ["supsup", "supsup", "naive", "ewc"],
                          "ACC": [0.5, 0.7, 0.4, 0.9], "memory_total_bytes": [100, 300, 50, 0]})
    points = run_points(frame, ["part", "method"])
    assert points.to_dict("records") == [
        {"part": "a", "method": "supsup", "n_runs": 2, "ACC": pytest.approx(0.6), "memory_total_bytes": 200.0},
        {"part": "b", "method": "naive", "n_runs": 1, "ACC": 0.4, "memory_total_bytes": 50.0}]


def test_rows_without_bytes_or_columns_are_refused():
    with pytest.raises(ValueError, match=r"rows \['naive'\]"):
        accuracy_vs_bytes(ROWS.assign(memory_total_bytes=[2.0e4, 2.0e4, 4.0e7, 0.0]))
    with pytest.raises(ValueError, match="lack the columns"):
        accuracy_vs_bytes(ROWS.drop(columns="ACC"))


def summary_row(method, metric, mean, lr, benchmark="permuted", task=pd.NA):
    return {"lr": lr, "benchmark": benchmark, "method": method, "task": task, "metric": metric, "n_seeds": 2,
            "mean": mean, "std": 0.0, "ci_low": mean, "ci_high": mean}


def test_storage_rows_take_the_means_of_acc_and_bytes_per_method_and_setting():
    summary = pd.DataFrame([
        summary_row("supsup", "ACC", 0.9, 0.1), summary_row("supsup", "memory_total_bytes", 1000.0, 0.1),
        summary_row("supsup", "ACC", 0.7, 0.01), summary_row("supsup", "memory_total_bytes", 1000.0, 0.01),
        summary_row("supsup", "accuracy", 0.1, 0.1, task=0),  # a per-task metric: not a point
        summary_row("upper_bound", "ACC", 0.95, 0.1), summary_row("upper_bound", "memory_total_bytes", 8000.0, 0.1),
        summary_row("ewc", "ACC", 0.6, 0.1),  # no byte count: left out
    ])
    summary["task"] = summary["task"].astype("Int64")
    rows = storage_rows(summary, ["lr"])
    assert list(rows.columns) == list(STORAGE_COLUMNS)
    assert rows.to_dict("records") == [
        {"method": "supsup", "label": "supsup (lr=0.1)", "ACC": 0.9, "memory_total_bytes": 1000.0},
        {"method": "supsup", "label": "supsup (lr=0.01)", "ACC": 0.7, "memory_total_bytes": 1000.0},
        {"method": "upper_bound", "label": "upper_bound (lr=0.1)", "ACC": 0.95, "memory_total_bytes": 8000.0}]
    assert storage_rows(summary[summary["lr"] == 0.1], [])["label"].tolist() == ["supsup", "upper_bound"]


def test_compare_with_seeds_draws_accuracy_against_bytes_from_the_runs(tmp_path, capsys):
    from pathlib import Path

    from supermasks.cli import main
    from tests.aggregate.test_seeds import ROOT, TINY

    code = main(["compare", str(ROOT / "configs" / "compare.yaml"), "method=[naive,upper_bound]", "seeds=[0,1]",
                 "scenario.name=task", f"run.out_dir={tmp_path}", *TINY, "run.figures=true"])
    assert code == 0
    aggregate_dir = Path(capsys.readouterr().out.strip().splitlines()[-1].removeprefix("aggregate directory: "))
    assert (aggregate_dir / "figures" / "accuracy_vs_bytes.png").is_file()
    summary = pd.read_csv(aggregate_dir / "summary.csv")
    rows = storage_rows(summary).set_index("method")
    stored = rows["memory_total_bytes"]
    assert stored["upper_bound"] > 1.9 * stored["naive"]  # two tasks: two whole networks against one trunk
    means = summary[summary["task"].isna()].set_index(["method", "metric"])["mean"]
    assert rows.loc["naive", "ACC"] == means["naive", "ACC"]


def test_the_aggregate_draws_no_storage_figure_for_a_single_point(tmp_path):
    from supermasks.aggregate.build import Aggregate, write_aggregate

    one = pd.DataFrame([summary_row("supsup", "ACC", 0.9, 0.1), summary_row("supsup", "memory_total_bytes", 1e3, 0.1)])
    one["task"] = one["task"].astype("Int64")
    table = pd.DataFrame({"run_directory": ["r"], "seed": [0], "benchmark": ["permuted"], "method": ["supsup"],
                          "task": pd.array([pd.NA], dtype="Int64"), "metric": ["ACC"], "value": [0.9]})
    written = write_aggregate(Aggregate(table, one.drop(columns="lr"), pd.DataFrame(), []), tmp_path)
    assert not (tmp_path / "figures" / "accuracy_vs_bytes.png").exists()
    two = pd.concat([one, pd.DataFrame([summary_row("naive", "ACC", 0.5, 0.1),
                                        summary_row("naive", "memory_total_bytes", 2e3, 0.1)])], ignore_index=True)
    two["task"] = two["task"].astype("Int64")
    written = write_aggregate(Aggregate(table, two.drop(columns="lr"), pd.DataFrame(), []), tmp_path)
    assert tmp_path / "figures" / "accuracy_vs_bytes.png" in written
