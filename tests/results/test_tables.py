"""Table renderers on hand-made result files: which number lands in which cell, and how it is written."""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from supermasks.results.tables import compare_printout, compare_table, forgetting_memory_table, forgetting_table


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
