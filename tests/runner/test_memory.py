"""Memory two ways, by hand: the most a method holds while a task trains, and what a finished run keeps.

Synthetic data: 600 training images per task; fc-300-300 with 10 outputs. Dense network:
784*300+300 + 300*300+300 + 300*10+10 = 328,810 float32 parameters = 1,315,240 bytes (P).
SupSup's masked weights: 235,200 + 90,000 + 3,000 = 328,200, as float32 1,312,800 bytes (W); a
finished task's packed mask ceil(235,200/8) + ceil(90,000/8) + ceil(3,000/8) = 41,025 bytes.
"""

import json

import pandas as pd
import pytest

from supermasks.config import load_config
from supermasks.runner import run

P = 1_315_240
W = 1_312_800
PACKED = 41_025
IMAGE = 784 * 4  # one float32 28x28 image in the buffer
SAMPLE = IMAGE + 8 + 8  # image, int64 label, int64 task id


def memory_of(tmp_path, method, *extra):
    config = load_config(None, ["data.source=synthetic", "data.benchmark=[permuted]", "data.num_tasks=3",
                                "training.steps_per_task=3", "training.batch_size=16", "run.figures=false",
                                "run.overlap=false", "run.checkpoint_state=false", f"method={method}",
                                f"run.out_dir={tmp_path}", *extra])
    directory = run(config, progress=False).directory / "permuted" / method
    tasks = pd.read_csv(directory / "tasks.csv")
    return (tasks["training_memory_bytes"].tolist(), tasks["memory_bytes"].tolist(),
            json.loads((directory / "metrics.json").read_text()))


def test_replay_holds_earlier_samples_while_training_and_stores_none_after_the_last_task(tmp_path):
    training, kept, metrics = memory_of(tmp_path, "replay", "scenario.name=domain", "replay.fraction=0.5")
    per_task = 300 * SAMPLE  # half of 600 images: 945,600 bytes
    # Learning task t ends by storing its samples (except the last task's): the larger end counts.
    assert training == kept == [P + per_task, P + 2 * per_task, P + 2 * per_task]  # nothing stored after task 2
    assert metrics["memory_peak_training_bytes"] == P + 2 * per_task == 3_206_440
    assert metrics["memory_total_bytes"] == P + 2 * per_task
    assert metrics["memory_per_task_bytes"] == per_task / 2  # (total - kept after task 0) / (T - 1)
    assert "memory_peak_training_bytes" in metrics["definitions"]


def test_ewc_holds_earlier_fisher_terms_while_training_and_adds_none_for_the_last_task(tmp_path):
    training, kept, metrics = memory_of(tmp_path, "ewc", "scenario.name=domain", "ewc.samples=8")
    # After task 0: its Fisher and anchors (2P, the merged quadratic shares them); after task 1: two
    # terms (4P) plus the merged Fisher and anchors (2P). Task 2 adds nothing: no task follows it.
    assert training == kept == [3 * P, 7 * P, 7 * P]
    assert metrics["memory_peak_training_bytes"] == metrics["memory_total_bytes"] == 7 * P == 9_206_680


def test_supsup_holds_float_scores_while_training_and_packed_masks_after(tmp_path):
    training, kept, metrics = memory_of(tmp_path, "supsup")
    assert training == [W + W, W + PACKED + W, W + 2 * PACKED + W]  # the task in training keeps float scores
    assert kept == [W + PACKED, W + 2 * PACKED, W + 3 * PACKED]
    assert metrics["memory_peak_training_bytes"] == 2 * W + 2 * PACKED == 2_707_650
    assert metrics["memory_total_bytes"] == W + 3 * PACKED == 1_435_875


def test_joint_holds_every_seen_task_s_data_while_it_trains(tmp_path):
    training, kept, metrics = memory_of(tmp_path, "joint", "scenario.name=domain")
    images, labels = 600 * IMAGE, 600 * 8  # a task's float32 images; int64 labels, one tensor all permutations share
    assert training == kept == [P + labels + images, P + labels + 2 * images, P + labels + 3 * images]
    assert metrics["memory_peak_training_bytes"] == metrics["memory_total_bytes"] == 6_964_840


def test_naive_holds_only_its_weights(tmp_path):
    training, kept, metrics = memory_of(tmp_path, "naive", "scenario.name=domain")
    assert training == kept == [P, P, P]
    assert metrics["memory_peak_training_bytes"] == metrics["memory_total_bytes"] == P
