"""The task-inference tables (Experiment 3, NNs, HopSupSup) rendered from hand-made result files."""

import json
from pathlib import Path

import pandas as pd
import yaml

from supermasks.results.tables import experiment3_table, hopsupsup_table, long_sequence_cost_table, nns_table


def _experiment3(root: Path) -> None:
    """A study of two parts (given, oneshot_G) on two benchmarks, with numbers chosen by hand."""
    study = root / "experiment3-aaaa0000"
    study.mkdir(parents=True)
    run = root / "experiment3-oneshot_G-bbbb1111"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"model": {"output_size": 100}}))
    pd.DataFrame([
        {"part": "given", "benchmark": "permuted", "ACC": 0.932, "task_inference_accuracy": None,
         "run_directory": "/elsewhere/experiment3-given-cccc2222"},
        {"part": "given", "benchmark": "split", "ACC": 0.989, "task_inference_accuracy": None,
         "run_directory": "/elsewhere/experiment3-given-cccc2222"},
        {"part": "oneshot_G", "benchmark": "permuted", "ACC": 0.9261, "task_inference_accuracy": 1.0,
         "run_directory": f"/elsewhere/{run.name}"},
        {"part": "oneshot_G", "benchmark": "split", "ACC": 0.1975, "task_inference_accuracy": 0.2,
         "run_directory": f"/elsewhere/{run.name}"},
    ]).to_csv(study / "study.csv", index=False)


def test_experiment3_gives_acc_and_batch_inference_in_brackets_and_the_s_neurons_of_its_run(tmp_path):
    _experiment3(tmp_path)
    assert experiment3_table(tmp_path).splitlines() == [
        "| benchmark | task given | one-shot G (s = 100) |",
        "|---|---|---|",
        "| permuted | 93.2% | 92.6% (100.0%) |",           # 0.9261 -> 92.6, no bracket where the task is given
        "| split (pairs, labels remapped) | 98.9% | 19.8% (20.0%) |",  # 0.1975 rounds half to even: 19.8
    ]


def _run(root: Path, config: dict, per_benchmark: dict[str, tuple[dict, list[list[float]]]], extra: str = "") -> None:
    run = root / f"{config['name']}-0123abcd"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    for benchmark, (metrics, r) in per_benchmark.items():
        folder = run / benchmark / config["method"][0]
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps(metrics))
        labels = [f"task_{i}" for i in range(len(r))]
        pd.DataFrame(r, columns=labels).assign(after=labels).set_index("after").reset_index().to_csv(
            folder / "accuracy.csv", index=False)


def test_nns_counts_masks_boundaries_and_alarms_and_names_the_rotation_step(tmp_path):
    config = {"name": "nns", "method": ["supsup"], "data": {"benchmark": ["permuted", "rotated"], "num_tasks": 10}}
    metrics = {"permuted": {"num_tasks_found": 12, "num_true_tasks": 10, "boundaries_detected": 10, "false_alarms": 2,
                            "ACC": 0.906, "task_inference_accuracy": 0.925},
               "rotated": {"num_tasks_found": 4, "num_true_tasks": 10, "boundaries_detected": 2, "false_alarms": 2,
                           "ACC": 0.3944, "task_inference_accuracy": 0.1125}}
    _run(tmp_path, config, {b: (m, [[0.5]]) for b, m in metrics.items()})
    assert nns_table(tmp_path).splitlines()[2:] == [
        "| permuted | 12 for 10 tasks | 10 of 10 | 2 | 90.6% | 92.5% |",
        "| rotated (36 degree steps) | 4 for 10 tasks | 2 of 10 | 2 | 39.4% | 11.2% |",  # 360 // 10; 11.25 -> 11.2
    ]


def test_hopsupsup_gives_the_range_of_the_diagonal_recoveries_and_bytes(tmp_path):
    config = {"name": "hopsupsup", "method": ["hopsupsup"], "data": {"benchmark": ["permuted"], "num_tasks": 3}}
    metrics = {"recovery_accuracy": 2 / 3, "mean_bit_accuracy": 0.675, "ACC": 0.11, "task_inference_accuracy": 0.2,
               "hopfield_bytes": 2048.0, "direct_bytes": 225.0, "hopfield_capacity_tasks": 89, "hopfield_load": 3 / 89}
    r = [[0.604, None, None], [0.5, 0.623, None], [0.1, 0.2, 0.3]]
    _run(tmp_path, config, {"permuted": (metrics, r)})
    (row,) = hopsupsup_table(tmp_path).splitlines()[2:]
    assert row == "| permuted, 3 tasks | 30.0-62.3% | 2 of 3 (68% of bits) | 11.0% | 20.0% | 2.0 KiB against 225 B | 3 of 89 (3%) |"


def _long_sequence(root: Path, version: dict | None) -> Path:
    run = root / "permuted9-aaaa0000"
    (run / "permuted" / "supsup").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"method": ["supsup"],
                                                     "data": {"benchmark": ["permuted"], "num_tasks": 2500}}))
    (run / "permuted" / "supsup" / "metrics.json").write_text(json.dumps({"seconds_per_task": 1.234,
                                                                          "inference_ms": 44.66}))
    pd.DataFrame({"after": ["task_0"], "task_0": [0.9]}).to_csv(run / "permuted" / "supsup" / "accuracy.csv",
                                                                 index=False)
    if version is not None:
        (root / "version.json").write_text(json.dumps(version))
    return root


def test_long_sequence_cost_gives_per_task_and_per_image_means_and_the_commands_cost_from_version_json(tmp_path):
    root = _long_sequence(tmp_path, {"seconds": 8220.0, "cpu_seconds": 4860.0, "peak_rss_mib": 1126, "threads": 1})
    rows = long_sequence_cost_table(root).splitlines()
    assert rows[2] == "| 2,500 permuted tasks | 1.23 s | 44.7 ms | 2 h 17 min | 1 h 21 min | 1.10 GiB | 1 |"


def test_long_sequence_cost_of_a_result_made_before_costs_were_recorded_says_so(tmp_path):
    root = _long_sequence(tmp_path, {"seconds": 444.6})
    assert long_sequence_cost_table(root).splitlines()[2] == (
        "| 2,500 permuted tasks | 1.23 s | 44.7 ms | 7.4 min | not recorded | not recorded | not recorded |")
