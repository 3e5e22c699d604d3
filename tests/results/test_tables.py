"""Table renderers on hand-made result files: which number lands in which cell, and how it is written."""

import math
from pathlib import Path

import json

import pandas as pd
import pytest
import yaml

from supermasks.results.tables import (compare_printout, compare_table, experiment1_layers_table,
                                      experiment1_study_table, experiment1_table, experiment2_budgets_table,
                                      experiment2_guided_table, experiment2_table, forgetting_memory_table,
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
    assert caption.startswith("Layer fc1: the embedded MNIST subset (`mnist-5k`), 6 tasks per benchmark, "
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


def _transfer_study(root: Path) -> Path:
    """A transfer study of two benchmarks, three seeds, tasks 0-1 and budgets 10, 100 and 1000, chosen by hand.

    summary.csv's p_value and p_holm differ, so that a table showing the wrong one fails. In evaluation.csv task 1's
    accuracy is each seed's score (task 0 is left out); `similar` minus `mean` is 1, 2, 1 points over the seeds
    (mean 1.33, t = 4 on 2 degrees of freedom, p = 1 - 4 / sqrt(18) = 0.0572) and `soft` minus `mean` 0, 3, 3
    (mean 2.0, t = 2, p = 1 - 2 / sqrt(6) = 0.1835); Holm over the two: 0.1144 and 0.1835.
    """
    study = root / "experiment2-0123abcd"
    study.mkdir(parents=True)
    benchmarks = {"rotated_small": "rotated", "permuted": "permuted"}
    source = {"benchmarks": {name: {mode: {"data": {"benchmark": [kind]}} for mode in ("random", "mean")}
                             for name, kind in benchmarks.items()}}
    (study / "study.json").write_text(json.dumps(source))
    rows = []
    for bench in benchmarks:
        for budget in (10, 100, 1000):
            rows.append({"benchmark": bench, "transfer": "random", "budget": budget, "n_seeds": 3,
                         "mean": 0.8 + budget / 10**4, "mean_difference": float("nan"), "p_value": float("nan"),
                         "p_holm": float("nan")})
    cells = {("rotated_small", "mean", 10): (0.101, 0.0002, 0.0004), ("rotated_small", "soft", 10): (0.106, 0.0004, 0.0012),
             ("rotated_small", "mean", 1000): (-0.0004, 0.3, 0.5), ("rotated_small", "soft", 1000): (0.004, 0.002, 0.004),
             ("permuted", "mean", 10): (0.026, 0.049, 0.0996), ("permuted", "soft", 10): (-0.025, 0.2, 0.2),
             ("permuted", "mean", 1000): (0.0, float("nan"), float("nan")), ("permuted", "soft", 1000): (0.01, 0.6, 1.0)}
    for bench in benchmarks:
        for budget in (10, 100, 1000):
            for mode in ("mean", "soft"):
                difference, p, holm = cells.get((bench, mode, budget), (0.05, 0.01, 0.02))
                rows.append({"benchmark": bench, "transfer": mode, "budget": budget, "n_seeds": 3, "mean": 0.9,
                             "mean_difference": difference, "p_value": p, "p_holm": holm})
    pd.DataFrame(rows).to_csv(study / "summary.csv", index=False)
    scores = {"mean": (0.90, 0.92, 0.94), "similar": (0.91, 0.94, 0.95), "soft": (0.90, 0.95, 0.97),
              "random": (0.5, 0.5, 0.5)}
    evaluation = [{"benchmark": bench, "seed": seed, "transfer": mode, "task": task, "budget": budget,
                   "accuracy": 0.1 if task == 0 else scores[mode][seed], "seconds": 1.0}
                  for bench in benchmarks for mode in scores for seed in range(3) for task in (0, 1)
                  for budget in (10, 1000)]
    pd.DataFrame(evaluation).to_csv(study / "evaluation.csv", index=False)
    return study


_E2_CAPTION = ("Mean accuracy of tasks 1-1 (task 0 has no earlier task and always starts random) over 3 seeds; beside "
               "each mode its difference from `random` in points and the two-sided paired t-test over seeds, p "
               "Holm-adjusted over the 2 modes compared with `random` at one benchmark and budget:")


def test_experiment2_table_shows_random_and_each_modes_difference_with_its_holm_p_at_the_end_budgets(tmp_path):
    _transfer_study(tmp_path)
    assert experiment2_table(tmp_path).splitlines() == [
        _E2_CAPTION, "",
        "| budget | rotated: random | mean | soft | permuted: random | mean | soft |",
        "|---|---|---|---|---|---|---|",
        "| 10 | 80.1% | +10.1 (p<0.001) | +10.6 (p=0.001) | 80.1% | +2.6 (p=0.10) | -2.5 (p=0.20) |",
        "| 1,000 | 90.0% | -0.0 (p=0.50) | +0.4 (p=0.004) | 90.0% | +0.0 (p n/a) | +1.0 (p=1.00) |",
    ]


def test_experiment2_budgets_table_has_a_row_for_every_budget(tmp_path):
    _transfer_study(tmp_path)
    lines = experiment2_budgets_table(tmp_path).splitlines()
    assert [line.split(" | ")[0] for line in lines[4:]] == ["| 10", "| 100", "| 1,000"]
    assert lines[5] == "| 100 | 81.0% | +5.0 (p=0.02) | +5.0 (p=0.02) | 81.0% | +5.0 (p=0.02) | +5.0 (p=0.02) |"


def test_experiment2_guided_table_tests_similar_and_soft_against_mean_on_the_per_seed_scores(tmp_path):
    _transfer_study(tmp_path)
    assert experiment2_guided_table(tmp_path).splitlines() == [
        "`similar` and `soft` against `mean`: difference in points of the mean accuracy of the same tasks, two-sided "
        "paired t-test over seeds, p Holm-adjusted over the 2 comparisons with `mean` at one benchmark and budget:", "",
        "| budget | rotated: similar - mean | soft - mean | permuted: similar - mean | soft - mean |",
        "|---|---|---|---|---|",
        "| 10 | +1.3 (p=0.11) | +2.0 (p=0.18) | +1.3 (p=0.11) | +2.0 (p=0.18) |",
        "| 1,000 | +1.3 (p=0.11) | +2.0 (p=0.18) | +1.3 (p=0.11) | +2.0 (p=0.18) |",
    ]


def test_experiment2_tables_need_one_study_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected one study directory with summary.csv, found 0"):
        experiment2_table(tmp_path)


def test_experiment1_names_each_grid_point_of_a_part_and_keeps_their_rows_apart(tmp_path):
    _experiment1(tmp_path)
    study = tmp_path / "experiment1-quick-aaaa0000"
    table = pd.read_csv(study / "overlap_study.csv")
    table["grid.data.permute_fraction"] = float("nan")
    points = [_overlap_row("fraction-shared", "permuted", layer, "overlap", mantel_r=r, mantel_p_holm=0.5,
                           **{"grid.data.permute_fraction": f})
              for f, r in ((0.25, 0.27), (1.0, 0.11)) for layer in ("fc1", "fc2")]
    pd.concat([table, pd.DataFrame(points)]).to_csv(study / "overlap_study.csv", index=False)
    rows = [line for line in experiment1_table(tmp_path).splitlines() if "fraction-shared" in line]
    assert [row.split(" | ")[0] for row in rows] == ["| fraction-shared (permute_fraction 0.25)",
                                                     "| fraction-shared (permute_fraction 1)"]
    assert [row.split(" | ")[2] for row in rows] == ["+0.27", "+0.11"]
    layered = [line for line in experiment1_layers_table(tmp_path).splitlines() if "fraction-shared" in line]
    assert len(layered) == 2 and "+0.27 (0.5)" in layered[0] and "+0.11 (0.5)" in layered[1]
    assert "n/a" not in layered[0]  # both layers of one grid point in one row
