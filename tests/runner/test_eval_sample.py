"""run.eval_sample: every evaluation on the same fixed random sample of each task's test images."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from supermasks.config import load_config
from supermasks.errors import ConfigError
from supermasks.methods.supsup import SupSup
from supermasks.models import build_model
from supermasks.runner import run
from supermasks.runner.evaluate import SampleTooLarge, evaluated_part, evaluation_for, sample_index
from supermasks.seeds import streams
from supermasks.training import TrainingSettings
from tests.conftest import make_tasks

BASE = ["data.source=synthetic", "data.benchmark=permuted", "data.num_tasks=3", "training.steps_per_task=4",
        "training.batch_size=32", "training.optimizer=adam", "training.lr=1e-3", "run.overlap=false",
        "run.figures=false", "model.output_size=14"]


def hand_sample(num_images: int, size: int, seed: int, task_id: int) -> torch.Tensor:
    """The documented draw, written out: the first `size` of a permutation seeded seed + 3,000,017 + task_id."""
    g = torch.Generator().manual_seed(seed + 3_000_017 + task_id)
    return torch.randperm(num_images, generator=g)[:size].sort().values


def hand_order(size: int, seed: int, task_id: int) -> torch.Tensor:
    """The documented test order, written out: a permutation seeded by SeedSequence((seed, 5, task_id))."""
    low, high = np.random.SeedSequence((seed, 5, task_id)).generate_state(2, np.uint32)
    g = torch.Generator().manual_seed(int(low) | (int(high & 0x7FFFFFFF) << 32))
    return torch.randperm(size, generator=g)


def hand_index(num_images: int, size: int, seed: int, task_id: int) -> torch.Tensor:
    """The sampled test images in the order every evaluation reads them."""
    return hand_sample(num_images, size, seed, task_id)[hand_order(size, seed, task_id)]


def test_the_sample_is_a_subset_of_the_right_size_deterministic_and_its_own_per_task():
    tasks = make_tasks(num_tasks=3, n_train=16, n_test=50)
    parts = [evaluated_part(t, 20, seed=7) for t in tasks]
    indices = [hand_index(50, 20, 7, t.task_id) for t in tasks]
    for task, part, index in zip(tasks, parts, indices):
        assert len(part.y_test) == len(part.x_test) == 20 and len(torch.unique(index)) == 20
        assert torch.equal(part.x_test, task.x_test[index]) and torch.equal(part.y_test, task.y_test[index])
        assert torch.equal(part.x_train, task.x_train)  # training data untouched
        again = evaluated_part(task, 20, seed=7)
        assert torch.equal(again.x_test, part.x_test) and torch.equal(again.y_test, part.y_test)
    assert not torch.equal(indices[0], indices[1]) and not torch.equal(indices[1], indices[2])
    assert not torch.equal(sample_index(50, 20, streams(8).eval_sample(0)), hand_sample(50, 20, 7, 0))  # another seed
    assert torch.equal(sample_index(50, 20, streams(7).eval_sample(0)), hand_sample(50, 20, 7, 0))
    whole = evaluated_part(tasks[0], None, seed=7)  # no sample: every test image, in the task's shuffled order
    assert torch.equal(whole.y_test, tasks[0].y_test[hand_order(50, 7, 0)])
    assert torch.equal(sample_index(50, 50, 3), torch.arange(50))  # the whole set, once each


def test_a_sample_larger_than_the_test_set_is_an_error_before_training(tmp_path):
    with pytest.raises(SampleTooLarge, match="size <= 50"):
        evaluated_part(make_tasks(num_tasks=1, n_train=16, n_test=50)[0], 51, seed=0)
    config = load_config(None, [*BASE, "run.eval_sample=100000", f"run.out_dir={tmp_path}"])
    with pytest.raises(SampleTooLarge, match=r"run.eval_sample=100000 test images per task, but task 0 .* has only"):
        run(config, progress=False)
    assert not list(tmp_path.glob("*/permuted/supsup/checkpoints/*"))  # nothing was trained


def test_the_setting_is_checked_and_refused_in_the_nns_stream(tmp_path):
    with pytest.raises(ConfigError, match="eval_sample must be a positive number"):
        load_config(None, ["run.eval_sample=0"])
    config = load_config(None, [*BASE, "scenario.name=nns", "run.eval_sample=10", f"run.out_dir={tmp_path}"])
    with pytest.raises(ConfigError, match="scenario nns evaluates every test image"):
        run(config, progress=False)


def trained_supsup(tasks):
    method = SupSup(build_model("fc-300-300", output_size=16, seed=0),
                    training=TrainingSettings(optimizer="adam", lr=1e-3, batch_size=32, steps_per_task=1),
                    inference_objective="G")
    for task in tasks:
        method.begin_task(task)
        method.learn(task, progress=False)
    return method


@pytest.mark.parametrize("scenario", ["task", "gnu", "gns"])
@pytest.mark.parametrize("inference_batch_size", [1, 5])
def test_accuracies_on_the_sample_equal_a_straightforward_evaluation_of_those_images(scenario, inference_batch_size):
    tasks = make_tasks(num_tasks=3, n_train=64, n_test=60, num_classes=8)
    method = trained_supsup(tasks)
    method.model.eval()
    evaluation = evaluation_for(scenario, batch_size=7, inference_batch_size=inference_batch_size, num_tasks=3,
                                sample=15, seed=5)
    evaluation.after_task(method, tasks[2], tasks)
    for task in tasks:
        index = hand_index(60, 15, 5, task.task_id)
        x, y = task.x_test[index], task.y_test[index]
        if scenario == "task":  # the task id given: classify each image with its own task
            want = float((method.predict(x, task.task_id).argmax(dim=1) == y).float().mean())
            assert evaluation.results.r[2, task.task_id] == pytest.approx(want, abs=1e-12)
            continue
        correct, right = 0, 0  # infer each batch's task, classify the batch with it
        batches = range(0, 15, inference_batch_size)
        for i in batches:
            xb, yb = x[i:i + inference_batch_size], y[i:i + inference_batch_size]
            guess = method.infer_task(xb)
            hits = method.predict(xb, guess).argmax(dim=1) == yb
            right += guess == task.task_id
            correct += int(hits.sum()) if guess == task.task_id or scenario == "gns" else 0
        assert evaluation.results.r[2, task.task_id] == pytest.approx(correct / 15, abs=1e-12)
        assert evaluation.results.inference[2, task.task_id] == pytest.approx(right / len(batches), abs=1e-12)
    if scenario != "task":  # the confusion after the last task: one count per inferred image or batch
        assert evaluation.results.confusion.sum() == (3 * 15 if inference_batch_size == 1 else 3 * 3)
    # Not every image right (else any sample would pass): 1 training step, 8 classes.
    assert np.nanmin(evaluation.results.r[2]) < 1


def test_every_evaluation_and_a_resumed_run_use_the_same_sample(tmp_path, log_lines):
    overrides = [*BASE, "scenario.name=gnu", "scenario.inference_batch_size=1", "supsup.inference_objective=G",
                 "run.eval_sample=9", f"run.out_dir={tmp_path}"]
    finished = run(load_config(None, overrides), progress=False)
    (result,) = finished.results
    metrics = json.loads((result.directory / "metrics.json").read_text())
    assert metrics["eval_sample"] == 9
    confusion = np.loadtxt(result.directory / "task_confusion.csv", delimiter=",", skiprows=1)[:, 1:]
    assert confusion.sum(axis=1).tolist() == [9, 9, 9]  # 9 single images per task after the last task
    r = result.accuracy
    assert (r[np.isfinite(r)] < 1).any()  # not every image right: another sample would show other numbers
    assert np.all(np.isclose(r[np.isfinite(r)] * 9, np.round(r[np.isfinite(r)] * 9)))  # k out of 9 images
    # Resume after task 1 (the newest state damaged): the evaluation after task 2 uses the same images.
    state = result.directory / "state"
    latest = state / "state_task_002.safetensors"
    data = bytearray(latest.read_bytes())
    data[-10] ^= 0xFF
    latest.write_bytes(bytes(data))
    meta = json.loads((finished.directory / "meta.json").read_text())
    (finished.directory / "meta.json").write_text(json.dumps(meta | {"status": "running"}))
    again = run(load_config(None, overrides), progress=False)
    assert any("resuming after task 1" in line for line in log_lines)
    np.testing.assert_array_equal(again.results[0].accuracy, r)
