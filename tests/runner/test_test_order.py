"""Every evaluation reads a task's test images in a fixed shuffled order, so no test batch is sorted by class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import supermasks.config.records as config_module
from supermasks.config import identity, load_config
from supermasks.data import TaskImages, load_source, make_benchmark, materialize, subset
from supermasks.data.imagenet import FolderImages
from supermasks.runner.evaluate import evaluated_part, evaluation_for, infer_and_classify
from supermasks.training import TrainingSettings
from tests.conftest import make_tasks
from tests.runner.test_eval_sample import hand_order, trained_supsup


@pytest.fixture(scope="module")
def mnist5k():
    return load_source("mnist-5k")


@pytest.mark.parametrize("benchmark", ["permuted", "rotated", "split"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_inference_batch_of_mnist5k_mixes_the_task_classes(mnist5k, benchmark, seed):
    tasks = make_benchmark(benchmark, mnist5k, 5, seed)
    for task in tasks:
        classes = len(torch.unique(task.y_test))
        # The source stores its test images by class: read in that order, a batch holds one or two classes.
        assert len(torch.unique(task.y_test[:128])) <= 2 < classes or classes == 2
        tested = evaluated_part(task, None, seed)
        assert sorted(tested.y_test.tolist()) == sorted(task.y_test.tolist())  # the same images, reordered
        for start in range(0, len(tested.y_test) - 127, 128):
            # 128 draws without replacement from 10 classes of 100 (or 2 of 100): missing more than two
            # classes has probability below 1e-20, so this holds for every seed.
            assert len(torch.unique(tested.y_test[start:start + 128])) >= classes - 2


def test_the_order_is_fixed_per_seed_and_task_and_differs_between_them():
    task = make_tasks(num_tasks=2, n_test=40)
    orders = {(seed, t.task_id): evaluated_part(t, None, seed).y_test for seed in (0, 1) for t in task}
    assert torch.equal(orders[0, 0], evaluated_part(task[0], None, 0).y_test)
    assert torch.equal(orders[0, 0], task[0].y_test[hand_order(40, 0, 0)])
    assert torch.equal(orders[1, 1], task[1].y_test[hand_order(40, 1, 1)])
    assert not torch.equal(hand_order(40, 0, 0), hand_order(40, 1, 0))
    assert not torch.equal(hand_order(40, 0, 0), hand_order(40, 0, 1))


def test_lazy_task_images_stay_lazy_and_give_the_images_at_those_positions(mnist5k):
    task = make_benchmark("rotated", mnist5k, 3, seed=0)[1]
    index = torch.tensor([5, -1, 0, 17, 3])
    picked = subset(task.x_test, index)
    assert isinstance(picked, TaskImages) and len(picked) == 5
    assert torch.equal(materialize(picked), materialize(task.x_test)[index])
    assert torch.equal(picked[1:3], materialize(task.x_test)[index[1:3]])
    twice = subset(picked, torch.tensor([4, 0]))  # a subset of a subset composes the rows
    assert torch.equal(materialize(twice), materialize(task.x_test)[torch.tensor([3, 5])])
    with pytest.raises(IndexError, match="positions must lie in"):
        subset(task.x_test, torch.tensor([len(task.x_test)]))
    with pytest.raises(TypeError, match="1-D tensor of int64"):
        subset(task.x_test, torch.tensor([0.0]))
    plain = torch.arange(12.0).reshape(3, 1, 2, 2)
    assert torch.equal(subset(plain, torch.tensor([2, 0])), plain[[2, 0]])


def test_folder_images_keep_their_files_in_the_new_order():
    images = FolderImages([Path(f"/nowhere/{i}.jpg") for i in range(6)], workers=2, crop=8, resize=10)
    picked = subset(images, torch.tensor([4, 1, -1]))
    assert isinstance(picked, FolderImages)
    assert [p.name for p in picked.paths] == ["4.jpg", "1.jpg", "5.jpg"]
    assert (picked.workers, picked.crop, picked.resize) == (2, 8, 10)


@pytest.mark.parametrize("scenario,inference_batch_size", [("task", 128), ("gnu", 1), ("gns", 1)])
def test_the_order_changes_nothing_where_each_image_is_classified_on_its_own(scenario, inference_batch_size):
    tasks = make_tasks(num_tasks=3, n_train=64, n_test=50, num_classes=8)
    method = trained_supsup(tasks)
    method.model.eval()
    evaluation = evaluation_for(scenario, batch_size=7, inference_batch_size=inference_batch_size, num_tasks=3, seed=3)
    evaluation.after_task(method, tasks[2], tasks)
    for task in tasks:  # file order, by hand: the same count of right answers
        if scenario == "task":
            want = float((method.predict(task.x_test, task.task_id).argmax(dim=1) == task.y_test).float().mean())
        else:
            want = infer_and_classify(method, task, 1, unshared=scenario == "gnu")[0]
        assert evaluation.results.r[2, task.task_id] == pytest.approx(want, abs=1e-12)


def test_batch_inference_runs_carry_the_order_in_their_identity_and_other_runs_keep_their_hash(monkeypatch):
    base = ["data.source=synthetic", "data.benchmark=permuted", "data.num_tasks=3"]
    given = load_config(None, base)
    per_image = load_config(None, [*base, "scenario.name=gnu", "scenario.inference_batch_size=1"])
    batched = load_config(None, [*base, "scenario.name=gnu", "scenario.inference_batch_size=128"])
    assert "protocol" not in identity(given) and "protocol" not in identity(per_image)
    assert identity(batched)["protocol"] == {"test_order": "shuffled"}
    unmarked = identity(batched)
    del unmarked["protocol"]
    monkeypatch.setattr(config_module, "protocol_marks", lambda **settings: {})
    assert unmarked == identity(batched)  # the mark is all it adds: no setting of the config moves
    monkeypatch.undo()
    nns = load_config(None, [*base, "scenario.name=nns"])
    assert identity(nns)["protocol"] == {"test_order": "shuffled"}


def test_shared_init_overlap_runs_carry_the_stratified_chance_and_others_do_not():
    base = ["data.source=synthetic", "data.benchmark=permuted", "data.num_tasks=3"]
    shared = load_config(None, [*base, "run.overlap=true", "supsup.score_init=shared"])
    assert identity(shared)["protocol"] == {"learned_change_chance": "stratified"}
    for other in (["run.overlap=true"], ["run.overlap=false", "supsup.score_init=shared"]):
        assert "protocol" not in identity(load_config(None, [*base, *other]))


def test_signature_prediction_reads_the_shuffled_order():
    from supermasks.studies.transfer import signature_prediction

    from supermasks.methods.supsup import SupSup
    from supermasks.models import build_model

    tasks = make_tasks(num_tasks=2, n_train=64, n_test=40, num_classes=4)
    method = SupSup(build_model("fc-300-300", output_size=4, seed=0, batch_norm=True),
                    training=TrainingSettings(optimizer="adam", lr=1e-3, batch_size=32, steps_per_task=2))
    for task in tasks:
        method.begin_task(task)
        method.learn(task, progress=False)
    method.model.eval()
    frame = signature_prediction(method, tasks, 8, seed=4)
    for task in tasks:
        acc, right, _ = infer_and_classify(method, evaluated_part(task, None, 4), 8, unshared=True)
        row = frame[frame.task == task.task_id].iloc[0]
        assert (row.accuracy, row.task_inference_accuracy) == (pytest.approx(acc), pytest.approx(right))
    assert np.isfinite(frame.seconds_per_batch).all()
