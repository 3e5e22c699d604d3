"""The reproduce diff on hand-made result folders: identical agrees, a changed metric is named, timings are ignored."""

import json
import shutil
from pathlib import Path

import pytest

from supermasks.results.diff import VOLATILE, diff_file, diff_results

METRICS = {"ACC": 0.9240000009536743, "BWT": -0.0415, "FWT": None, "definitions": {"ACC": "mean_j R[T-1, j]"},
           "memory_total_bytes": 1363400, "seconds_per_task": 1.10, "samples_per_second": 37291.2}
COMPARISON = ("benchmark,method,ACC,seconds_per_task,run_directory\n"
              "permuted,naive,0.9240000009536743,1.10,/tmp/a/runs/compare-1\n"
              "permuted,supsup,0.9521999955177307,0.84,/tmp/a/runs/compare-1\n")
CONFIG = "name: compare\nrun:\n  out_dir: runs\n  eval_every: 0\ntraining:\n  lr: 0.001\n"
FILES = ["compare-1/comparison.csv", "compare-1/config.yaml", "compare-1/permuted/naive/metrics.json"]


@pytest.fixture
def committed(tmp_path: Path) -> Path:
    root = tmp_path / "committed"
    (root / "compare-1" / "permuted" / "naive").mkdir(parents=True)
    (root / "compare-1" / "comparison.csv").write_text(COMPARISON)
    (root / "compare-1" / "config.yaml").write_text(CONFIG)
    (root / "compare-1" / "permuted" / "naive" / "metrics.json").write_text(json.dumps(METRICS, indent=2))
    return root


@pytest.fixture
def rerun(committed: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(committed, tmp_path / "rerun"))


def test_identical_files_agree(committed, rerun):
    assert diff_results(committed, rerun, FILES) == []


def test_a_changed_metric_is_named_with_both_values(committed, rerun):
    metrics = rerun / FILES[2]
    metrics.write_text(json.dumps({**METRICS, "ACC": 0.9241}))
    assert diff_results(committed, rerun, FILES) == [
        "compare-1/permuted/naive/metrics.json: ACC: committed 0.9240000009536743, rerun 0.9241"]


def test_numbers_are_compared_exactly_as_written(committed, rerun):
    table = rerun / FILES[0]
    table.write_text(COMPARISON.replace("0.9521999955177307", "0.9521999955177308"))
    assert diff_results(committed, rerun, FILES) == [
        "compare-1/comparison.csv: row 2 (permuted), column ACC: committed 0.9521999955177307, rerun 0.9521999955177308"]


def test_timings_and_paths_are_ignored(committed, rerun):
    (rerun / FILES[2]).write_text(json.dumps({**METRICS, "seconds_per_task": 9.9, "samples_per_second": 1.0}))
    (rerun / FILES[0]).write_text(COMPARISON.replace("1.10", "3.50").replace("/tmp/a", "/home/b"))
    (rerun / FILES[1]).write_text(CONFIG.replace("out_dir: runs", "out_dir: /tmp/elsewhere"))
    assert diff_results(committed, rerun, FILES) == []
    assert {"seconds_per_task", "samples_per_second", "run_directory", "run.out_dir"} <= set(VOLATILE)


def test_a_changed_config_value_is_named_by_its_dotted_key(committed, rerun):
    (rerun / FILES[1]).write_text(CONFIG.replace("lr: 0.001", "lr: 0.01"))
    assert diff_results(committed, rerun, FILES) == ["compare-1/config.yaml: training.lr: committed 0.001, rerun 0.01"]


def test_a_setting_written_null_where_it_does_nothing_agrees_only_with_the_value_earlier_versions_wrote(committed,
                                                                                                        rerun):
    # An earlier version wrote run.eval_every: 0 where it did nothing; today's writes null: the same run.
    (rerun / FILES[1]).write_text(CONFIG.replace("eval_every: 0", "eval_every: null"))
    assert diff_results(committed, rerun, FILES) == []
    (committed / FILES[1]).write_text(CONFIG.replace("eval_every: 0", "eval_every: 3"))  # not the idle value
    assert diff_results(committed, rerun, FILES) == ["compare-1/config.yaml: run.eval_every: committed 3, rerun None"]


def test_missing_and_extra_files_and_fields_are_reported(committed, rerun):
    (rerun / FILES[2]).unlink()
    (rerun / "compare-1" / "extra.csv").write_text("a\n1\n")
    lines = diff_results(committed, rerun, [*FILES, "compare-1/extra.csv"])
    assert lines == ["compare-1/extra.csv: written by the rerun, not in the committed result",
                     "compare-1/permuted/naive/metrics.json: committed, but the rerun did not write it"]
    old, new = committed / FILES[2], rerun / "new.json"
    new.write_text(json.dumps({k: v for k, v in METRICS.items() if k != "BWT"} | {"FWT2": 1}))
    assert diff_file(old, new) == ["BWT: missing in the rerun (committed -0.0415)", "FWT2: new in the rerun (1)"]


def test_a_row_more_in_the_rerun_is_reported(committed, rerun):
    (rerun / FILES[0]).write_text(COMPARISON + "permuted,ewc,0.9,1.0,/x\n")
    assert diff_results(committed, rerun, FILES) == ["compare-1/comparison.csv: 2 rows committed, 3 in the rerun"]
