"""The replay study's tables on hand-made result files: which number lands in which cell, and which setting in which label."""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from supermasks.results.tables import (replay_five_tasks_table, replay_fraction_table, replay_seed_table,
                                      replay_selection_table)

MIB = 2**20
TRAINING = {"optimizer": "adam", "lr": 0.001, "batch_size": 64, "steps_per_task": 300}


def _config(tasks: int, training: dict | None = None, **replay) -> dict:
    return {"name": "replay", "data": {"num_tasks": tasks}, "training": {**TRAINING, **(training or {})},
            "replay": {"fraction": 0.5, "per_task": None, "selection": "random", "mix": "batch", **replay}}


def _study(root: Path, part: str, runs: dict[str, tuple[dict, dict[str, tuple[list[float], float, int, int]]]]) -> None:
    """Write runs (name -> (config, method -> (last row of R, ACC, peak bytes, kept bytes))) and the study.csv
    listing them; the first row of each accuracy matrix is a value no table may show."""
    study = root / "replay-aaaa0000"
    study.mkdir(exist_ok=True)
    rows = []
    for name, (config, methods) in runs.items():
        (root / name).mkdir()
        (root / name / "config.yaml").write_text(yaml.safe_dump(config))
        for method, (last, acc, peak, kept) in methods.items():
            folder = root / name / "split" / method
            folder.mkdir(parents=True)
            tasks = len(last)
            frame = {"after": [f"task_{i}" for i in range(tasks)]}
            frame.update({f"task_{j}": [0.123] * (tasks - 1) + [last[j]] for j in range(tasks)})
            pd.DataFrame(frame).to_csv(folder / "accuracy.csv", index=False)
            rows.append({"part": part, "benchmark": "split", "method": method, "ACC": acc,
                         "memory_peak_training_bytes": peak, "memory_total_bytes": kept,
                         "run_directory": f"/elsewhere/runs/{name}"})  # the rerun's path, not here
    pd.DataFrame(rows).to_csv(study / "study.csv", index=False)


def _seed_runs(steps: int, replay_peak: int = 7 * MIB // 2) -> dict:
    sgd = _config(2, {"optimizer": "sgd", "steps_per_task": steps}, mix="concat")
    adam = _config(2, {"steps_per_task": steps}, mix="concat")
    return {"replay-baseline-11111111": (sgd, {"naive": ([1.0, 0.85], 0.925, 2 * MIB, 2 * MIB),
                                                "replay": ([1.0, 0.785], 0.8925, replay_peak, 7 * MIB // 2)}),
            "replay-baseline-22222222": (adam, {"naive": ([0.65, 0.98], 0.815, 2 * MIB, 2 * MIB),
                                                 "replay": ([0.995, 0.975], 0.985, replay_peak, 7 * MIB // 2)})}


def test_seed_table_has_one_row_per_optimiser_with_both_methods_last_row_and_their_bytes(tmp_path):
    _study(tmp_path, "baseline", _seed_runs(3000))
    assert replay_seed_table(tmp_path).splitlines() == [
        "| optimiser, steps per task | without replay: `R[1, 0]`, `R[1, 1]` | 50% of task 0 replayed (concatenated "
        "with the task's data): `R[1, 0]`, `R[1, 1]` | peak training = kept: without, with replay |",
        "|---|---|---|---|",
        "| SGD 1e-3 (the seed's), 3,000 | 100.0%, 85.0% | 100.0%, 78.5% | 2.0 MiB, 3.5 MiB |",
        "| Adam 1e-3, 3,000 | 65.0%, 98.0% | 99.5%, 97.5% | 2.0 MiB, 3.5 MiB |",
    ]


def test_seed_table_shows_peak_and_kept_apart_when_they_differ(tmp_path):
    _study(tmp_path, "baseline", _seed_runs(300, replay_peak=4 * MIB))
    lines = replay_seed_table(tmp_path).splitlines()
    assert lines[0].endswith("| peak training / kept: without, with replay |")
    assert lines[2] == "| SGD 1e-3 (the seed's), 300 | 100.0%, 85.0% | 100.0%, 78.5% | 2.0 MiB, 4.0 MiB / 3.5 MiB |"


def test_seed_table_refuses_runs_that_replay_different_fractions(tmp_path):
    runs = _seed_runs(300)
    runs["replay-baseline-22222222"][0]["replay"]["fraction"] = 0.25
    _study(tmp_path, "baseline", runs)
    with pytest.raises(ValueError, match=r"the runs differ in replay.fraction \(\[0.5, 0.25\]\)"):
        replay_seed_table(tmp_path)


def test_fraction_table_has_one_row_per_stored_fraction_and_the_shared_settings_in_its_header(tmp_path):
    network = 2 * MIB
    _study(tmp_path, "fraction", {
        "replay-fraction-00000000": (_config(2, fraction=0.0), {"replay": ([0.65, 0.98], 0.815, network, network)}),
        "replay-fraction-00000005": (_config(2, fraction=0.005), {"replay": ([0.845, 0.98], 0.9125, network + 4096,
                                                                             network + 4096)}),
        "replay-fraction-00000100": (_config(2, fraction=1.0), {"replay": ([1.0, 0.9749], 0.98745, 3 * MIB, 3 * MIB)}),
    })
    assert replay_fraction_table(tmp_path).splitlines() == [
        "| stored fraction of task 0 (Adam 1e-3, 300 steps per task, batch 64, buffer mixed into every batch) "
        "| `R[1, 0]` | `R[1, 1]` | peak training = kept |",
        "|---|---:|---:|---:|",
        "| 0% | 65.0% | 98.0% | 2.0 MiB |",
        "| 0.5% | 84.5% | 98.0% | 2.0 MiB |",     # 2 MiB + 4 KiB = 2.004 MiB
        "| 100% | 100.0% | 97.5% | 3.0 MiB |",    # 97.49 rounds to 97.5
    ]


def test_five_tasks_table_gives_acc_and_the_buffer_as_replays_bytes_beyond_the_network(tmp_path):
    config = _config(5)
    _study(tmp_path, "five_tasks", {"replay-five_tasks-33333333": (config, {
        "naive": ([0.5, 0.5, 0.5, 0.5, 0.9], 0.58, 2 * MIB, 2 * MIB),
        "replay": ([0.97] * 5, 0.97, 13 * MIB // 2, 13 * MIB // 2)})})
    assert replay_five_tasks_table(tmp_path).splitlines() == [
        "| method (Adam 1e-3, 300 steps per task, batch 64, buffer mixed into every batch) | ACC, `mean_j R[4, j]` "
        "| peak training = kept | of which buffer |",
        "|---|---:|---:|---:|",
        "| without replay (naive) | 58.0% | 2.0 MiB | none |",
        "| replay, 50% of each pair | 97.0% | 6.5 MiB | 4.5 MiB |",   # 6.5 MiB kept less the 2 MiB network
    ]


def test_selection_table_has_one_row_per_rule_named_in_words_with_its_images_per_task(tmp_path):
    runs = {}
    for i, (rule, acc) in enumerate([("random", 0.77), ("uncertain", 0.697), ("misclassified", 0.6974),
                                     ("balanced", 0.7661)]):
        config = _config(5, fraction=None, per_task=10, selection=rule)
        runs[f"replay-selection-{i:08d}"] = (config, {"replay": ([acc] * 5, acc, 2 * MIB + 4096, 2 * MIB + 4096)})
    _study(tmp_path, "selection", runs)
    assert replay_selection_table(tmp_path).splitlines() == [
        "| selection (Adam 1e-3, 300 steps per task, batch 64, buffer mixed into every batch) "
        "| images stored per task | ACC, `mean_j R[4, j]` | peak training = kept |",
        "|---|---:|---:|---:|",
        "| random | 10 | 77.0% | 2.0 MiB |",
        "| least-confident | 10 | 69.7% | 2.0 MiB |",
        "| misclassified-first | 10 | 69.7% | 2.0 MiB |",   # 69.74 rounds down
        "| class-balanced | 10 | 76.6% | 2.0 MiB |",
    ]


def test_a_table_of_a_part_the_study_did_not_run_names_the_part(tmp_path):
    _study(tmp_path, "baseline", _seed_runs(300))
    with pytest.raises(ValueError, match="the study has no run of part 'selection'"):
        replay_selection_table(tmp_path)
