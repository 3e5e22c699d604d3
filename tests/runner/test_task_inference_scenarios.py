"""GNs and GNu evaluation: the task of each test batch is inferred, then the batch is classified."""

import numpy as np
import pytest
import torch

from supermasks.config import ConfigError, load_config
from supermasks.runner import run, validate
from supermasks.runner.build import build_tasks
from supermasks.runner.evaluate import infer_and_classify
from supermasks.data import load_source
from supermasks.training import TrainingSettings
from tests.conftest import make_tasks


class Oracle:
    """Perfect classifier whose task inference always answers `guess`."""

    def __init__(self, guess):
        self.guess = guess

    def infer_task(self, x):
        return self.guess

    def predict(self, x, task_id):
        return torch.nn.functional.one_hot(self.labels[: len(x)], 4).float()


def test_wrong_task_counts_the_whole_batch_wrong_only_with_unshared_labels():
    task = make_tasks(num_tasks=1, n_test=10)[0]
    wrong = Oracle(guess=5)
    wrong.labels = task.y_test
    assert infer_and_classify(wrong, task, batch_size=10, unshared=True)[:2] == (0.0, 0.0)
    assert infer_and_classify(wrong, task, batch_size=10, unshared=False)[:2] == (1.0, 0.0)
    right = Oracle(guess=0)
    right.labels = task.y_test
    assert infer_and_classify(right, task, batch_size=10, unshared=True)[:2] == (1.0, 1.0)


def test_gnu_run_infers_tasks_on_separable_tasks(tmp_path):
    config = load_config(None, ["data.source=synthetic", "data.benchmark=permuted", "data.num_tasks=3", "training.steps_per_task=40",
                                "training.batch_size=32", "training.optimizer=adam", "training.lr=1e-3", "scenario.name=gnu", "run.overlap=false",
                                "scenario.inference_batch_size=50", f"run.out_dir={tmp_path}"])
    result = run(config, progress=False).results[0]
    assert result.metrics["task_inference_accuracy"] == 1.0
    assert np.isnan(result.accuracy[0, 1])  # no task can be inferred before it is learned
    assert (result.directory / "task_inference.csv").is_file()
    confusion = np.loadtxt(result.directory / "task_confusion.csv", delimiter=",", skiprows=1)[:, 1:]
    assert np.array_equal(confusion, np.diag([4, 4, 4]))  # 200 test images in batches of 50, all right
    assert (result.directory / "figures" / "task_confusion.png").stat().st_size > 0


@pytest.mark.parametrize("overrides, message", [
    (["scenario.name=gnu", "model.batch_norm=true"], "set model.batch_norm=false"),
    (["scenario.name=gns", "supsup.task_inference=exhaustive"], "task_inference: unknown value 'exhaustive'"),
    (["scenario.name=gns", "supsup.inference_objective=F"], "inference_objective: unknown value 'F'"),
    (["scenario.name=gnu", "method=naive"], "method 'naive' cannot run in the 'gnu' scenario"),
])
def test_bad_inference_settings_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        validate(load_config(None, overrides))


def test_g_objective_needs_extra_outputs():
    config = load_config(None, ["scenario.name=gnu", "supsup.inference_objective=G", "model.output_size=10", "data.source=synthetic"])
    with pytest.raises(ConfigError, match="G needs extra output neurons"):
        build_tasks(config, "permuted", load_source("synthetic"))


def test_single_image_inference_matches_batch_of_one(tmp_path):
    from supermasks.methods.supsup import SupSup
    from supermasks.models import build_model

    tasks = make_tasks(num_tasks=2, n_train=128, n_test=24)
    method = SupSup(build_model("fc-300-300", output_size=4, seed=0),
                    training=TrainingSettings(optimizer="adam", lr=1e-3, batch_size=32, steps_per_task=40))
    for task in tasks:
        method.learn(task, progress=False)
    batched = infer_and_classify(method, tasks[1], 1, unshared=True)  # the batched per-image path
    looped = [method.infer_task(tasks[1].x_test[i:i + 1]) for i in range(24)]
    assert batched[2] == looped
    assert batched[1] == sum(g == 1 for g in looped) / 24


def test_evaluate_last_fills_only_the_last_row(tmp_path):
    config = load_config(None, ["data.source=synthetic", "data.benchmark=permuted", "data.num_tasks=3", "training.steps_per_task=30",
                                "training.batch_size=32", "training.optimizer=adam", "training.lr=1e-3", "scenario.name=gnu", "run.overlap=false",
                                "run.evaluate=last", "scenario.inference_batch_size=1", f"run.out_dir={tmp_path}"])
    result = run(config, progress=False).results[0]
    assert np.isnan(result.accuracy[:2]).all() and np.isfinite(result.accuracy[2]).all()
    assert result.metrics["task_inference_accuracy"] > 0.9
    assert np.isnan(result.metrics["BWT"])
    with pytest.raises(ConfigError, match="evaluate: unknown value 'never'"):
        validate(load_config(None, ["run.evaluate=never"]))


def one_image_at_a_time(method, task, unshared):
    """The straightforward single-image evaluation: infer each image's task, classify it alone."""
    correct, right_task, guesses, predictions = 0, 0, [], []
    for i in range(len(task.y_test)):
        xb, yb = task.x_test[i:i + 1], task.y_test[i:i + 1]
        guess = method.infer_task(xb)
        guesses.append(guess)
        predicted = method.predict(xb, guess).argmax(dim=1)
        predictions.append(int(predicted))
        hits = predicted == yb
        if guess == task.task_id:
            right_task += 1
        elif unshared:
            hits = torch.zeros_like(hits)
        correct += int(hits.sum())
    return (correct / len(task.y_test), right_task / len(guesses), guesses), predictions


@pytest.fixture(scope="module")
def learned_supsups():
    """SupSup trained briefly on three tiny tasks, per (task inference, objective); G reads 2 extra outputs."""
    from supermasks.methods.supsup import SupSup
    from supermasks.models import build_model

    tasks = make_tasks(num_tasks=3, n_train=128, n_test=40, seed=4)
    methods = {}
    for inference in ("oneshot", "binary"):
        for objective in ("H", "G"):
            # Few steps: some images' tasks are inferred wrongly, so several groups are classified.
            method = SupSup(build_model("fc-300-300", output_size=6, seed=1),
                            training=TrainingSettings(optimizer="adam", lr=1e-3, batch_size=32, steps_per_task=6),
                            task_inference=inference, inference_objective=objective)
            for task in tasks:
                method.learn(task, progress=False)
            methods[inference, objective] = method
    return tasks, methods


@pytest.mark.parametrize("inference", ["oneshot", "binary"])
@pytest.mark.parametrize("objective", ["H", "G"])
def test_single_image_evaluation_grouped_by_task_equals_one_image_at_a_time(learned_supsups, inference, objective):
    from supermasks.runner.evaluate import classify_by_task

    tasks, methods = learned_supsups
    method = methods[inference, objective]
    all_guesses = []
    for task in tasks:
        for unshared in (True, False):
            expected, predictions = one_image_at_a_time(method, task, unshared)
            assert infer_and_classify(method, task, 1, unshared=unshared) == expected
        inferred = torch.tensor(expected[2])
        assert torch.equal(classify_by_task(method, task.x_test, inferred), torch.tensor(predictions))
        all_guesses += expected[2]
    assert len(set(all_guesses)) >= 2  # images of one task inferred as different tasks: several groups


def test_classify_by_task_equals_per_image_predictions_for_mixed_tasks(learned_supsups):
    from supermasks.runner.evaluate import classify_by_task

    tasks, methods = learned_supsups
    method = methods["oneshot", "H"]
    x = torch.cat([task.x_test for task in tasks])
    given = torch.randint(0, 3, (len(x),), generator=torch.Generator().manual_seed(0))
    expected = torch.tensor([int(method.predict(x[i:i + 1], int(given[i])).argmax()) for i in range(len(x))])
    assert torch.equal(classify_by_task(method, x, given, batch_size=7), expected)  # several chunks per task
    # The task matters: classifying every image with task 0 gives other predictions.
    assert not torch.equal(classify_by_task(method, x, torch.zeros_like(given)), expected)


@pytest.mark.parametrize("unshared", [True, False])
def test_pooled_single_image_evaluation_equals_one_task_at_a_time(learned_supsups, unshared):
    from supermasks.runner.evaluate import infer_and_classify_tasks

    tasks, methods = learned_supsups
    method = methods["oneshot", "G"]
    expected = [one_image_at_a_time(method, task, unshared)[0] for task in tasks]
    # chunk=17: chunks straddle the tasks' boundaries (40 test images each).
    assert infer_and_classify_tasks(method, tasks, 1, unshared=unshared, chunk=17) == expected
    assert infer_and_classify_tasks(method, tasks, 1, unshared=unshared) == expected
    # With batches (no per-image path) it is infer_and_classify task by task.
    assert infer_and_classify_tasks(method, tasks, 8, unshared=unshared) == [
        infer_and_classify(method, task, 8, unshared=unshared) for task in tasks]
