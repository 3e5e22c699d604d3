"""The aggregate of hand-written runs: tidy rows, summaries, paired tests and Holm checked by hand."""

import math
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from supermasks.aggregate import aggregate_runs, write_aggregate
from supermasks.aggregate.files import read_table, write_table

from .rundirs import write_run

T_975_2 = 4.302652729911275  # Student t quantile 0.975 with 2 degrees of freedom (tables: 4.303)
T_975_1 = 12.706204736174707  # ... with 1 degree of freedom (tables: 12.706)

# Final accuracies of tasks 0 and 1 per seed: ACC naive 0.90, 0.92, 0.97; joint 0.95, 0.93, 0.99;
# supsup 0.97, 0.98, 0.99.
FINAL = {
    0: {"naive": [0.80, 1.00], "joint": [0.90, 1.00], "supsup": [0.95, 0.99]},
    1: {"naive": [0.84, 1.00], "joint": [0.86, 1.00], "supsup": [0.97, 0.99]},
    2: {"naive": [0.94, 1.00], "joint": [0.98, 1.00], "supsup": [0.99, 0.99]},
}


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    for seed, final in FINAL.items():
        write_run(root, f"hand-{seed}", seed, final)
    return root


def row(summary, method, metric, task=None):
    match = (summary["method"] == method) & (summary["metric"] == metric)
    match &= summary["task"].isna() if task is None else summary["task"] == task
    (index,) = summary.index[match]
    return summary.loc[index]


def test_means_sds_and_intervals_match_hand_computed_values(runs):
    result = aggregate_runs([runs])
    assert result.settings == [] and result.skipped == []
    acc = row(result.summary, "naive", "ACC")
    sd = math.sqrt(((0.90 - 0.93) ** 2 + (0.92 - 0.93) ** 2 + (0.97 - 0.93) ** 2) / 2)  # sqrt(0.0013)
    half = T_975_2 * sd / math.sqrt(3)
    assert acc["n_seeds"] == 3
    assert acc["mean"] == pytest.approx(0.93)
    assert acc["std"] == pytest.approx(math.sqrt(0.0013))
    assert (acc["ci_low"], acc["ci_high"]) == pytest.approx((0.93 - half, 0.93 + half))
    first = row(result.summary, "naive", "final_accuracy", task=0)  # per-task rows: 0.80, 0.84, 0.94
    assert first["mean"] == pytest.approx(0.86) and first["std"] == pytest.approx(math.sqrt(0.0052))
    fwt = row(result.summary, "supsup", "FWT")  # null in every run: no value, no seed
    assert fwt["n_seeds"] == 0 and math.isnan(fwt["mean"])


def test_the_tidy_table_has_one_row_per_run_benchmark_method_task_and_metric(runs):
    table = aggregate_runs([runs]).table
    assert list(table.columns) == ["run_directory", "seed", "benchmark", "method", "task", "metric", "value"]
    assert not table.duplicated(["run_directory", "benchmark", "method", "task", "metric"]).any()
    assert sorted(table["seed"].unique()) == [0, 1, 2]
    acc = table[(table["metric"] == "ACC") & (table["method"] == "joint")].sort_values("seed")
    assert acc["value"].tolist() == pytest.approx([0.95, 0.93, 0.99]) and acc["task"].isna().all()
    per_task = table[(table["metric"] == "final_accuracy") & (table["seed"] == 2) & (table["method"] == "naive")]
    assert per_task.set_index("task")["value"].to_dict() == pytest.approx({0: 0.94, 1: 1.0})
    assert set(table["metric"]) >= {"ACC", "BWT", "forgetting", "memory_total_bytes", "accuracy_after_training",
                                    "untrained_accuracy", "train_seconds"}
    assert "scenario" not in set(table["metric"]) and "definitions" not in set(table["metric"])


def test_paired_comparisons_and_holm_match_scipy_and_statsmodels(runs):
    comparisons = aggregate_runs([runs]).comparisons
    acc = comparisons[comparisons["metric"] == "ACC"].set_index(["a", "b"])
    assert list(acc.index) == [("naive", "joint"), ("naive", "supsup"), ("joint", "supsup")]
    values = {"naive": [0.90, 0.92, 0.97], "joint": [0.95, 0.93, 0.99], "supsup": [0.97, 0.98, 0.99]}
    raw = [stats.ttest_rel(values[a], values[b]).pvalue for a, b in acc.index]
    assert acc["p_value"].tolist() == pytest.approx(raw)
    assert acc["p_holm"].tolist() == pytest.approx(multipletests(raw, method="holm")[1])
    # naive - supsup: differences -0.07, -0.06, -0.02 by hand
    d = acc.loc[("naive", "supsup")]
    sd = math.sqrt(((-0.07 + 0.05) ** 2 + (-0.06 + 0.05) ** 2 + (-0.02 + 0.05) ** 2) / 2)
    assert d["n_pairs"] == 3 and d["mean_difference"] == pytest.approx(-0.05)
    assert d["diff_ci_high"] - d["diff_ci_low"] == pytest.approx(2 * T_975_2 * sd / math.sqrt(3))
    t = -0.05 / (sd / math.sqrt(3))
    assert d["p_value"] == pytest.approx(2 * stats.t.sf(abs(t), 2))
    assert (comparisons["task"].isna()).all()  # whole-run metrics only


def test_comparisons_with_a_baseline_pair_every_method_with_it_only(runs):
    comparisons = aggregate_runs([runs], baseline="naive").comparisons
    acc = comparisons[comparisons["metric"] == "ACC"]
    assert list(zip(acc["a"], acc["b"])) == [("joint", "naive"), ("supsup", "naive")]


def test_unfinished_failed_and_repeated_runs_are_skipped_with_a_warning(runs, tmp_path, log_lines):
    write_run(runs, "hand-stopped", 3, FINAL[0], status="interrupted")
    write_run(runs, "hand-running", 4, FINAL[0], status="running")
    (runs / "not-started").mkdir()
    (runs / "not-started" / "config.yaml").write_text("name: x\n")
    shutil.copytree(runs / "hand-1", tmp_path / "copy-of-1")
    write_run(runs, "hand-damaged", 6, FINAL[0])
    (runs / "hand-damaged" / "permuted" / "joint" / "metrics.json").unlink()
    result = aggregate_runs([runs, tmp_path / "copy-of-1"])
    reasons = {item.directory.name: item.reason for item in result.skipped}
    assert reasons["hand-stopped"].startswith("status interrupted: unfinished")
    assert reasons["hand-running"].startswith("status running: unfinished")
    assert "never started" in reasons["not-started"]
    assert reasons["hand-damaged"].startswith("cannot be read") and "joint/metrics.json is missing" in reasons["hand-damaged"]
    assert "same settings and seed 1" in reasons["copy-of-1"] and "hand-1" in reasons["copy-of-1"]
    assert sorted(result.table["seed"].unique()) == [0, 1, 2]
    assert row(result.summary, "naive", "ACC")["n_seeds"] == 3
    for name in ("hand-stopped", "hand-running", "not-started", "copy-of-1", "hand-damaged"):
        assert any(line.startswith("warning: skipping") and name in line for line in log_lines), name


def test_a_sweep_directory_gives_its_listed_runs_and_their_failures(runs, tmp_path):
    sweep = tmp_path / "runs" / "hand-sweep-00000000"
    sweep.mkdir()
    listed = [{"run_directory": f"../hand-{s}", "seed": s, "status": "done", "error": None} for s in (0, 1)]
    listed += [{"run_directory": "../hand-9", "seed": 9, "status": "failed", "error": "ValueError: on purpose"},
               {"run_directory": "../hand-8", "seed": 8, "status": "pending", "error": None}]
    (sweep / "sweep.json").write_text(pd.io.json.ujson_dumps({"runs": listed}))
    result = aggregate_runs([sweep])
    assert sorted(result.table["seed"].unique()) == [0, 1]
    reasons = {item.directory.name: item.reason for item in result.skipped}
    assert reasons == {"hand-9": "failed in the sweep: ValueError: on purpose",
                       "hand-8": "not run: the sweep stopped before it"}


def test_distinguishing_settings_become_columns_and_groups(runs):
    for seed in (0, 1):
        write_run(runs, f"hand-lr-{seed}", seed, {"naive": FINAL[seed]["naive"]}, training={"lr": 0.01})
    for seed in (0, 1):
        for lam in (10.0, 100.0):
            write_run(runs, f"hand-ewc-{lam}-{seed}", seed, {"ewc": [0.5, 1.0 - seed / 10]}, ewc={"lambda": lam})
    write_run(runs, "hand-one-ewc", 0, {"ewc": [0.5, 1.0]}, training={"lr": 0.01}, ewc={"lambda": 10.0})
    result = aggregate_runs([runs])
    # ewc.lambda varies among the ewc runs; the other methods have no such setting and no value there
    assert sorted(result.settings) == ["ewc.lambda", "training.lr"]
    assert result.table.loc[result.table["method"] != "ewc", "ewc.lambda"].isna().all()
    ewc = result.summary[(result.summary["metric"] == "ACC") & (result.summary["method"] == "ewc")]
    assert ewc.set_index(["training.lr", "ewc.lambda"])["n_seeds"].to_dict() == {
        (0.0001, 10.0): 2, (0.0001, 100.0): 2, (0.01, 10.0): 1}
    # a method's own setting is part of what is compared, not of the group: naive pairs with each ewc
    pairs = result.comparisons[(result.comparisons["metric"] == "ACC") & (result.comparisons["training.lr"] == 0.0001)]
    assert ("naive", "ewc (lambda=10)") in set(zip(pairs["a"], pairs["b"]))  # readable: what tells them apart
    assert ("ewc (lambda=10)", "ewc (lambda=100)") in set(zip(pairs["a"], pairs["b"]))
    assert "ewc.lambda" not in pairs.columns
    from supermasks.aggregate.report import format_aggregate

    text = format_aggregate(result.summary, result.comparisons, result.settings)
    lines = text.splitlines()
    assert lines[1].split()[:3] == ["method", "lr", "lambda"] or \
        lines[1].split()[:3] == ["method", "lambda", "lr"]  # readable: the settings by their last part
    assert any(line.split()[:1] == ["ewc"] and "100" in line.split()[1:3] for line in lines)
    assert "permuted (lr=1e-4) ACC: naive - ewc (lambda=10)" in text
    acc = result.summary[(result.summary["metric"] == "ACC") & (result.summary["method"] == "naive")]
    assert acc.set_index("training.lr")["n_seeds"].to_dict() == {0.0001: 3, 0.01: 2}
    assert acc.set_index("training.lr")["mean"].to_dict() == pytest.approx({0.0001: 0.93, 0.01: 0.91})
    one = row(result.summary[result.summary["training.lr"] == 0.01], "naive", "ACC")
    sd = math.sqrt(2 * 0.01 ** 2)
    assert one["ci_high"] - one["ci_low"] == pytest.approx(2 * T_975_1 * sd / math.sqrt(2))


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_tables_round_trip_through_csv_and_parquet(runs, tmp_path, suffix):
    result = aggregate_runs([runs])
    for name, frame in (("runs", result.table), ("summary", result.summary), ("comparisons", result.comparisons)):
        write_table(frame, tmp_path / "out", name)
        back = read_table(tmp_path / "out" / f"{name}.{suffix}")
        pd.testing.assert_frame_equal(back, frame, check_dtype=False)
        assert back["task"].dtype == "Int64"


def test_without_pyarrow_only_csv_is_written_and_a_warning_says_why(runs, tmp_path, monkeypatch, log_lines):
    monkeypatch.setattr("supermasks.aggregate.files.parquet_available", lambda: False)
    monkeypatch.setattr("supermasks.aggregate.build.parquet_available", lambda: False)
    written = write_aggregate(aggregate_runs([runs]), tmp_path / "out", figures=False)
    assert {p.suffix for p in written} == {".csv"}
    assert any("pyarrow is not installed" in line for line in log_lines)


def test_figures_show_every_method_with_its_interval(runs, tmp_path):
    written = write_aggregate(aggregate_runs([runs]), tmp_path / "out")
    figures = {p.name for p in written if p.parent.name == "figures"}
    assert {"ACC.png", "BWT.png", "forgetting.png"} <= figures and "FWT.png" not in figures
    from supermasks.aggregate.figures import interval_plot

    fig = interval_plot(aggregate_runs([runs]).summary, "ACC")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["naive", "joint", "supsup"]
    (bars,) = [c for c in ax.containers]
    segments = bars.lines[2][0].get_segments()  # one vertical bar per method: ci_low..ci_high in percent
    low, high = segments[0][:, 1]
    half = T_975_2 * math.sqrt(0.0013) / math.sqrt(3)
    assert 100 * (0.93 + half) > 100  # the t bound passes 100%: the bar is cut there, where ACC ends
    assert (low, high) == pytest.approx((100 * (0.93 - half), 100.0))


def test_a_section_null_in_one_run_and_filled_in_another_adds_only_its_settings(runs):
    # scenario.nns is null outside scenario nns, and a section of settings inside it
    write_run(runs, "hand-nns", 0, {"supsup": [0.9, 0.9]}, scenario={"name": "nns"})
    result = aggregate_runs([runs])
    assert "scenario.name" in result.settings and "scenario.nns.margin" in result.settings
    assert "scenario.nns" not in result.settings
    assert row(result.summary[result.summary["scenario.name"] == "task"], "supsup", "ACC")["n_seeds"] == 3


def test_a_result_file_changed_after_the_run_finished_is_skipped(runs):
    import hashlib
    import json

    directory = runs / "hand-2"
    path = directory / "permuted" / "naive" / "accuracy.csv"
    meta = json.loads((directory / "meta.json").read_text())
    meta["results_sha256"] = {"permuted/naive/accuracy.csv": hashlib.sha256(path.read_bytes()).hexdigest()}
    (directory / "meta.json").write_text(json.dumps(meta))
    assert len(aggregate_runs([runs]).skipped) == 0  # the recorded checksum matches
    path.write_text(path.read_text().replace("0.94", "0.95"))
    result = aggregate_runs([runs])
    (item,) = result.skipped
    assert item.directory == directory and "SHA-256 differs" in item.reason
    assert sorted(result.table["seed"].unique()) == [0, 1]


def test_a_setting_that_counts_only_for_masked_methods_does_not_split_the_other_methods_rows(tmp_path):
    """`run.overlap` and `model.mask_rule` count for SupSup only: a naive run alone and a naive row beside SupSup
    are the same setting; two SupSup runs that differ in them are not."""
    write_run(tmp_path, "with-supsup", 0, {"naive": [0.8, 1.0], "supsup": [0.95, 0.99]})
    write_run(tmp_path, "alone", 1, {"naive": [0.84, 1.0]})
    result = aggregate_runs([tmp_path])
    assert result.settings == []
    naive = result.summary[(result.summary["metric"] == "ACC") & (result.summary["method"] == "naive")]
    assert naive["n_seeds"].tolist() == [2]
    write_run(tmp_path, "no-overlap", 1, {"supsup": [0.97, 0.99]}, run={"overlap": False})
    assert aggregate_runs([tmp_path]).settings == ["run.overlap"]


def test_paired_comparisons_pair_each_seeds_first_value_within_groups_that_treat_missing_keys_as_one():
    from supermasks.aggregate.paired import paired_comparisons

    nan = math.nan
    rows = [  # (training.lr, method, seed, value); a missing lr is one group, as pandas' groupby(dropna=False) has it
        (nan, "a", 0, nan), (nan, "a", 0, 0.50), (nan, "a", 1, 0.70), (nan, "a", 2, 0.90),
        (nan, "b", 0, 0.40), (nan, "b", 1, 0.50), (nan, "b", 3, 0.10),
        (0.1, "a", 0, 0.30), (0.1, "b", 0, 0.20),
    ]
    table = pd.DataFrame([{"run_directory": f"r{i}", "seed": seed, "training.lr": lr, "benchmark": "p", "method": method,
                           "task": nan, "metric": "ACC", "value": value}
                          for i, (lr, method, seed, value) in enumerate(rows)])
    out = paired_comparisons(table)
    assert len(out) == 2 and out["training.lr"].isna().tolist() == [True, False]
    first = out.iloc[0]
    # seeds 0 and 1 in both (seed 0's missing first value skipped; seeds 2 and 3 in one level only)
    assert first["n_pairs"] == 2 and first["mean_difference"] == pytest.approx(np.mean([0.10, 0.20]), abs=1e-15)
    d = np.array([0.10, 0.20])
    assert first["p_value"] == pytest.approx(stats.ttest_rel([0.50, 0.70], [0.40, 0.50]).pvalue, rel=1e-12)
    assert first["diff_ci_high"] - first["mean_difference"] == pytest.approx(
        stats.t.ppf(0.975, 1) * d.std(ddof=1) / math.sqrt(2), rel=1e-12)
    assert out.iloc[1]["n_pairs"] == 1 and out.iloc[1]["mean_difference"] == pytest.approx(0.10, abs=1e-15)
