"""Table renderers on hand-made result files: which number lands in which cell, and how it is written."""

import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from supermasks.results.tables import (compare_printout, compare_table, experiment1_layers_table,
                                      experiment1_study_table, experiment1_table, forgetting_memory_table,
                                      forgetting_table)


def _comparison(run: Path) -> None:
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("name: compare\n")
    pd.DataFrame([
        {"benchmark": "permuted", "method": "naive", "ACC": 0.9240000009536743, "BWT": -0.04150000214576721,
         "memory_total_bytes": 1363400, "memory_per_task_bytes": 12040.0, "memory_peak_training_bytes": 1363400,
         "seconds_per_task": 1.1},
        {"benchmark": "permuted", "method": "supsup", "ACC": 0.9522, "BWT": 0.0, "memory_total_bytes": 1536,
         "memory_per_task_bytes": 512.0, "memory_peak_training_bytes": 2048, "seconds_per_task": 0.5},
    ]).to_csv(run / "comparison.csv", index=False)


def test_compare_table_writes_acc_and_bwt_in_points_and_bytes_in_binary_units(tmp_path):
    _comparison(tmp_path / "compare-0123abcd")
    assert compare_table(tmp_path).splitlines() == [
        "| method | ACC % | BWT | memory total |",
        "|---|---:|---:|---:|",
        "| naive | 92.40 | -4.15 | 1.3 MiB |",     # 1363400 B / 2**20 = 1.30 MiB
        "| supsup | 95.22 | +0.00 | 1.5 KiB |",    # 1536 B = 1.5 KiB
    ]


def test_compare_printout_is_a_code_block_of_the_command_table(tmp_path):
    _comparison(tmp_path / "compare-0123abcd")
    lines = compare_printout(tmp_path).splitlines()
    assert lines[0] == "```" and lines[-1] == "```" and lines[1] == "benchmark: permuted"
    assert lines[2].split() == ["method", "ACC", "%", "BWT", "memory/task", "peak", "training", "memory", "total",
                                "time/task"]
    assert lines[3].split() == ["naive", "92.40", "-4.15", "11.8", "KiB", "1.3", "MiB", "1.3", "MiB", "1.10", "s"]


def test_a_result_without_exactly_one_run_is_an_error_naming_its_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected one run directory with config.yaml, found 0"):
        compare_table(tmp_path)


def _forgetting(root: Path) -> None:
    """A study of two runs: naive and EWC sharing a head, SupSup on its own; R[1, 0] and R[1, 1] chosen by hand."""
    study = root / "forgetting-aaaa0000"
    study.mkdir(parents=True)
    runs = {"forgetting-shared_head-11111111": {"ewc": {"lambda": 5000.0}, "replay": {"fraction": 0.1},
                                                 "training": {"optimizer": "sgd", "lr": 0.001}},
            "forgetting-supsup-22222222": {"training": {"optimizer": "rmsprop", "lr": 0.0001}}}
    accuracies = {("forgetting-shared_head-11111111", "naive"): (0.439, 0.7738),
                  ("forgetting-shared_head-11111111", "ewc"): (0.713, 0.6985),
                  ("forgetting-supsup-22222222", "supsup"): (0.949, 0.8526)}
    for name, config in runs.items():
        (root / name).mkdir()
        (root / name / "config.yaml").write_text(yaml.safe_dump(config))
    rows = []
    for (run, method), (first, second) in accuracies.items():
        folder = root / run / "pair" / method
        folder.mkdir(parents=True)
        pd.DataFrame({"after": ["task_0", "task_1"], "task_0": [0.9, first], "task_1": [0.05, second]}).to_csv(
            folder / "accuracy.csv", index=False)
        rows.append({"part": run.split("-")[1], "benchmark": "pair", "method": method,
                     "memory_peak_training_bytes": 3 * 2**20, "memory_total_bytes": 2**20,
                     "run_directory": f"/elsewhere/runs/{run}"})  # the path of the run that wrote it, not here
    pd.DataFrame(rows).to_csv(study / "study.csv", index=False)


def test_forgetting_tables_read_the_last_row_of_each_runs_accuracy_matrix(tmp_path):
    _forgetting(tmp_path)
    assert forgetting_table(tmp_path).splitlines()[2:] == [
        "| naive, shared head | 43.9% | 77.4% |",
        "| EWC, lambda 5000 | 71.3% | 69.8% |",           # 100 * 0.6985 lies just below 69.85 in binary
        "| SupSup (task id given, RMSprop 1e-4) | 94.9% | 85.3% |",
    ]
    assert forgetting_memory_table(tmp_path).splitlines()[2] == "| naive, shared head | 43.9% | 77.4% | 3.0 MiB | 1.0 MiB |"


NAN = math.nan


def _overlap_row(part: str, benchmark: str, layer: str, measure: str, **values: object) -> dict:
    """One row of overlap_study.csv: the given values, every other number NaN (as the study writes an undefined one)."""
    relatedness = {"rotated": "angle difference (degrees)", "permuted": "fraction of pixels both leave in place",
                   "split": "shared classes"}[benchmark]
    row = {"part": part, "benchmark": benchmark, "method": "supsup", "layer": layer, "measure": measure,
           "relatedness": relatedness, "holm_family": 54, "permutations": 9999, "mantel_p_holm_at_floor": False,
           "slope_unit": "10 degrees"}
    for column in ("mantel_r", "mantel_r_low", "mantel_r_high", "mantel_p_holm", "mean_ratio", "mean_ratio_low",
                   "mean_ratio_high", "ratio_most_related", "ratio_most_related_low", "ratio_most_related_high",
                   "ratio_least_related", "ratio_least_related_low", "ratio_least_related_high", "slope", "slope_low",
                   "slope_high", "relatedness_most", "relatedness_least", "mean_ratio_to_baseline",
                   "mean_ratio_to_baseline_low", "mean_ratio_to_baseline_high"):
        row[column] = NAN
    return {**row, **values}


def _experiment1(root: Path) -> None:
    """A short study of two seeds: the first run's config, study.csv naming the runs, and an overlap_study.csv of
    a threshold-independent rotated pair of rows (fc1 overlap and learned changes, fc2 overlap), a shared-init permuted
    row at the permutation floor without learned changes and without a baseline interval (one seed's worth), and a
    split row whose relatedness was constant (nothing defined)."""
    study = root / "experiment1-quick-aaaa0000"
    study.mkdir(parents=True)
    first = root / "experiment1-quick-threshold-independent-11111111"
    first.mkdir()
    first.joinpath("config.yaml").write_text(yaml.safe_dump(
        {"seed": 0, "data": {"source": "mnist-5k", "num_tasks": 6}, "training": {"steps_per_task": 200}}))
    pd.DataFrame([{"part": "threshold-independent", "seed": seed, "benchmark": "rotated", "method": "supsup",
                   "run_directory": f"runs/experiment1-quick-threshold-independent-{name}"}
                  for seed, name in ((0, "11111111"), (1, "22222222"))]).to_csv(study / "study.csv", index=False)
    rotated = {"mantel_r_low": -0.8912, "mantel_r_high": 0.1804, "mean_ratio": 1.0148, "mean_ratio_low": 1.0081,
               "mean_ratio_high": 1.0215, "relatedness_most": 15.0, "relatedness_least": 75.0}
    pd.DataFrame([
        _overlap_row("threshold-independent", "rotated", "fc1", "overlap", mantel_r=-0.5493, mantel_p_holm=0.05216,
                     ratio_most_related=1.01741, ratio_most_related_low=1.0041, ratio_most_related_high=1.0306,
                     ratio_least_related=1.0112, ratio_least_related_low=0.9911, ratio_least_related_high=1.0313,
                     slope=-0.00102, slope_low=-0.00218, slope_high=0.00013, mean_ratio_to_baseline=1.0113,
                     mean_ratio_to_baseline_low=1.0072, mean_ratio_to_baseline_high=1.0154, **rotated),
        _overlap_row("threshold-independent", "rotated", "fc1", "learned changes", mantel_r=-0.5884,
                     mantel_p_holm=0.028, mean_ratio_to_baseline=1.0381, mean_ratio_to_baseline_low=0.9207,
                     mean_ratio_to_baseline_high=1.1555),
        _overlap_row("threshold-independent", "rotated", "fc2", "overlap", mantel_r=-0.4071, mantel_p_holm=0.371,
                     mean_ratio_to_baseline=1.0024),
        _overlap_row("threshold-shared", "permuted", "fc1", "overlap", mantel_r=0.98431, mantel_p_holm=0.0054,
                     mantel_p_holm_at_floor=True, mean_ratio=2.4745, ratio_most_related=2.5371,
                     ratio_most_related_low=2.4302, ratio_most_related_high=2.6440, relatedness_most=0.4833,
                     ratio_least_related=2.4150, ratio_least_related_low=2.3410, ratio_least_related_high=2.4890,
                     relatedness_least=0.0, slope=0.0273, slope_low=-0.0031, slope_high=0.0578,
                     slope_unit="0.1 of the pixels both leave in place", mean_ratio_to_baseline=1.0220),
        _overlap_row("topk10-shared", "split", "fc1", "overlap", mean_ratio=8.7459),
    ]).to_csv(study / "overlap_study.csv", index=False)


def test_experiment1_readme_table_has_one_row_per_variant_and_benchmark_of_the_layer(tmp_path):
    _experiment1(tmp_path)
    caption, _, header, rule, *rows = experiment1_table(tmp_path).splitlines()
    # The setting from the first run's config and study.csv's seeds; relabellings and the family from the table.
    assert caption.startswith("Short study, layer fc1: the embedded MNIST subset (`mnist-5k`), 6 tasks per benchmark, "
                              "200 steps per task, seeds 0 and 1; p from 9,999 relabellings stratified by seed, "
                              "Holm-adjusted over the 54 tests the study file declares;")
    assert header.startswith("| variant | benchmark (relatedness) | Mantel r | Holm p | most related pairs |")
    assert rows == [
        # r to 2 places; Holm p to 3 significant digits; ratios 3 places with a 2-place interval; the bin's
        # relatedness to 2 significant digits; the slope signed, 3 places; the learned changes' ratio to baseline
        # from their own row of the same variant, benchmark and layer. The fc2 row is left out.
        "| threshold, independent init (SupSup) | rotated (angle difference, degrees) | -0.55 | 0.0522 "
        "| 1.017 [1.00, 1.03] at 15 | 1.011 [0.99, 1.03] at 75 | -0.001 [-0.002, +0.000] per 10 degrees "
        "| 1.011 [1.01, 1.02] | 1.038 [0.92, 1.16] |",
        # At the permutation floor the Holm p is a bound; no interval over seeds: the value alone; no learned
        # changes row: n/a. 0.4833 of the pixels -> "at 0.48".
        "| threshold, shared init | permuted (pixels both leave in place) | +0.98 | <= 0.0054 "
        "| 2.537 [2.43, 2.64] at 0.48 | 2.415 [2.34, 2.49] at 0 | +0.027 [-0.003, +0.058] per 0.1 of pixels in place "
        "| 1.022 | n/a |",
        # Constant relatedness: no r, no test, no bins, no slope.
        "| top-k 10%, shared init | split (shared classes) | undefined | not tested | n/a | n/a | n/a | n/a | n/a |",
    ]


def test_experiment1_study_table_holds_both_measures_of_the_layer_with_r_intervals(tmp_path):
    _experiment1(tmp_path)
    lines = experiment1_study_table(tmp_path).splitlines()
    assert lines[0].startswith("Layer fc1: the embedded MNIST subset (`mnist-5k`), 6 tasks per benchmark,")
    assert [line.split(" | ")[2] for line in lines[4:]] == ["overlap", "learned changes", "overlap", "overlap"]
    assert lines[4] == ("| threshold, independent init (SupSup) | rotated (angle difference, degrees) | overlap "
                        "| 1.015 [1.01, 1.02] | 1.011 [1.01, 1.02] | -0.55 [-0.89, +0.18] | 0.0522 "
                        "| 1.017 [1.00, 1.03] at 15 | 1.011 [0.99, 1.03] at 75 | -0.001 [-0.002, +0.000] per 10 degrees |")
    # A learned-changes row with only its test and baseline: the rest n/a, r without an interval.
    assert lines[5] == ("| threshold, independent init (SupSup) | rotated (angle difference, degrees) | learned changes "
                        "| n/a | 1.038 [0.92, 1.16] | -0.59 | 0.028 | n/a | n/a | n/a |")


def test_experiment1_layers_table_has_a_column_per_layer_and_a_row_per_variant_benchmark_and_measure(tmp_path):
    _experiment1(tmp_path)
    assert experiment1_layers_table(tmp_path).splitlines() == [
        "| variant | benchmark | measure | fc1 | fc2 |",
        "|---|---|---|---|---|",
        "| threshold, independent init (SupSup) | rotated | overlap | -0.55 (0.0522), 1.011x | -0.41 (0.371), 1.002x |",
        "| threshold, independent init (SupSup) | rotated | learned changes | -0.59 (0.028), 1.038x | n/a |",
        "| threshold, shared init | permuted | overlap | +0.98 (<= 0.0054), 1.022x | n/a |",
        "| top-k 10%, shared init | split | overlap | undefined (not tested) | n/a |",
    ]
