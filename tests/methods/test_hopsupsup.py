"""HopSupSup as a method: gates learned per task, kept only in Hopfield stores, recovered from test batches."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from supermasks.config import ConfigError, ExperimentConfig, load_config, updated
from supermasks.runner import validate
from supermasks.runner.evaluate import infer_and_classify
from supermasks.inference.hopfield import NeuronMaskMLP
from supermasks.methods import hopsupsup, list_methods, method_spec
from supermasks.methods.hopsupsup import REPORT_COLUMNS, HopSupSup
from supermasks.store.checkpoints import load_latest_state, save_state_checkpoint
from supermasks.training import TrainingSettings
from tests.conftest import make_tasks

SIZES = (784, 300, 300, 4)


def make(steps: int = 40, seed: int = 0) -> HopSupSup:
    return HopSupSup(NeuronMaskMLP(SIZES, seed=seed),
                     training=TrainingSettings(optimizer="adam", lr=1e-3, batch_size=32, steps_per_task=steps),
                     seed=seed)


@pytest.fixture(scope="module")
def learned() -> tuple[HopSupSup, list]:
    tasks = make_tasks(num_tasks=3, n_train=256, n_test=128)
    method = make()
    for task in tasks:
        method.learn(task, progress=False)
    return method, tasks


def test_registry_lists_hopsupsup_for_the_task_inferred_scenarios_only():
    assert "hopsupsup" in list_methods()
    assert method_spec("hopsupsup").scenarios == frozenset({"gns", "gnu"})


def test_each_task_is_recovered_from_its_unlabelled_test_batch_and_classified(learned):
    method, tasks = learned
    for task in tasks:
        guess = method.infer_task(task.x_test)
        assert guess == task.task_id
        accuracy = (method.predict(task.x_test, guess).argmax(1) == task.y_test).float().mean().item()
        assert accuracy > 0.9  # chance is 0.25
        # The runner's GNu evaluation: every batch of 64 inferred right and classified well.
        acc, inferred, _ = infer_and_classify(method, task, 64, unshared=True)
        assert inferred == 1.0 and acc > 0.9


def test_recovered_gates_equal_the_stored_gates(learned):
    method, tasks = learned
    for task in tasks:
        gates = method.recover(task.x_test)
        for got, true in zip(gates, method.true_gates_[task.task_id]):
            assert torch.equal(got, true)


def test_predict_never_reads_the_true_gates(learned):
    method, tasks = learned
    task = tasks[1]
    guess = method.infer_task(task.x_test)
    expected = method.predict(task.x_test, guess)
    saved, probes = method.true_gates_, method.probes_
    try:
        method.true_gates_, method.probes_ = [], []
        # The same batch: its recovered gates; task_id does not matter.
        torch.testing.assert_close(method.predict(task.x_test, guess), expected)
        torch.testing.assert_close(method.predict(task.x_test, None), expected)
        # A batch never seen: recovered from the Hopfield stores alone.
        other = tasks[2]
        accuracy = (method.predict(other.x_test, None).argmax(1) == other.y_test).float().mean().item()
        assert accuracy > 0.9
        with pytest.raises(ValueError, match="cleared"):
            method.infer_task(other.x_test)
    finally:
        method.true_gates_, method.probes_ = saved, probes


def test_a_new_batch_is_recovered_afresh_not_served_the_previous_gates(learned):
    method, tasks = learned
    method.infer_task(tasks[0].x_test)
    logits = method.predict(tasks[2].x_test, 0)  # a stale guess for another batch: recovered from the batch
    assert (logits.argmax(1) == tasks[2].y_test).float().mean().item() > 0.9


def test_memory_is_the_weights_and_matrices_and_does_not_grow_with_tasks():
    tasks = make_tasks(num_tasks=3, n_train=64, n_test=32)
    method = make(steps=5)
    weights = sum(4 * a * b for a, b in zip(SIZES[:-1], SIZES[1:]))
    fixed = weights + 2 * 4 * 301 * 301
    assert method.memory_bytes() == fixed
    for task in tasks:
        method.begin_task(task)
        assert method.memory_bytes() == fixed + 4 * 600  # the scores of the task being learned
        method.learn(task, progress=False)
        assert method.memory_bytes() == fixed
        assert method.scores_ is None  # the gates now live only in the stores


def test_the_task_being_learned_is_predicted_with_its_live_gates():
    task = make_tasks(num_tasks=1, n_train=64, n_test=32)[0]
    method = make(steps=5)
    assert not method.can_predict(0) and not method.can_predict(None)
    method.begin_task(task)
    assert method.can_predict(0) and not method.can_predict(1) and not method.can_predict(None)
    assert method.predict(task.x_test, 0).shape == (32, 4)
    with pytest.raises(ValueError, match="nothing to recover"):
        method.infer_task(task.x_test)
    method.learn(task, progress=False)
    assert method.can_predict(0) and method.can_predict(None)


def test_training_is_deterministic_with_the_seed():
    tasks = make_tasks(num_tasks=2, n_train=64, n_test=32)
    a, b = make(steps=10, seed=3), make(steps=10, seed=3)
    for task in tasks:
        a.learn(task, progress=False)
        b.learn(task, progress=False)
    for ga, gb in zip(a.true_gates_, b.true_gates_):
        assert all(torch.equal(x, y) for x, y in zip(ga, gb))
    torch.testing.assert_close(a.stores_[0].psi_, b.stores_[0].psi_)


def test_tasks_must_arrive_in_order():
    tasks = make_tasks(num_tasks=2, n_train=64, n_test=32)
    with pytest.raises(ValueError, match="in order"):
        make(steps=5).begin_task(tasks[1])


def test_report_gives_the_hopfield_table_and_summary(learned):
    method, tasks = learned
    before = method.test_batches_
    for task in tasks:
        method.infer_task(task.x_test)
    report = method.report()
    assert list(report.tables) == ["hopfield"]
    frame, summary = report.tables["hopfield"], report.metrics
    assert list(frame.columns) == list(REPORT_COLUMNS)
    assert frame["task"].tolist() == [0, 1, 2]
    assert frame["correct"].all() and (frame["nearest_task"] == frame["task"]).all()
    assert ((frame["bit_accuracy"] > 0.9) & (frame["bit_accuracy"] <= 1.0)).all()
    assert (frame["bits"] == 600).all()
    assert frame["hamming"].tolist() == pytest.approx(((1 - frame["bit_accuracy"]) * 600).tolist())
    assert summary["recovery_accuracy"] == 1.0 and summary["mean_bit_accuracy"] > 0.9
    assert summary["hopfield_bytes"] == 2 * 4 * 301 * 301
    assert summary["direct_bytes"] == 3 * 600 // 8
    capacity = 300 / math.sqrt(2 * math.log(300))  # Storkey: d / sqrt(2 ln d) for the 300 gated units
    assert summary["hopfield_capacity_tasks"] == pytest.approx(capacity)
    assert summary["hopfield_load"] == pytest.approx(3 / capacity)
    assert summary["test_batches_recovered"] == before + 3
    assert summary["test_exact_recall_fraction"] == 1.0 and summary["test_mean_hamming_to_nearest"] == 0.0
    assert all(isinstance(v, float) for v in summary.values())


def config_for(*overrides: str) -> ExperimentConfig:
    return load_config(None, ["method=hopsupsup", "scenario.name=gnu", *overrides])


@pytest.mark.parametrize("overrides, message", [
    (["model.batch_norm=true"], "set model.batch_norm=false"),
    (["model.output_size=1"], "output_size >= 2"),
    (["scenario.name=task"], "cannot run in the 'task' scenario"),
    (["scenario.name=domain"], "cannot run in the 'domain' scenario"),
])
def test_bad_settings_are_refused_before_training(overrides, message):
    with pytest.raises(ConfigError, match=message):
        validate(config_for(*overrides))


def test_check_refuses_models_it_cannot_build_and_bad_recovery_settings():
    config = config_for()
    hopsupsup.check(config)
    with pytest.raises(ConfigError, match="model.arch: unknown value 'resnet34'"):
        updated(config, {"model.arch": "resnet34"})
    for arch in ("lenet5", "resnet18"):  # neuron gates of an MLP: conv nets refused by name
        conv = updated(config, {"model.arch": arch, "model.batch_norm": arch == "resnet18"})
        with pytest.raises(ConfigError, match=f"HopSupSup gates the hidden units of an MLP.*{arch} is a conv"):
            hopsupsup.check(conv)
    for key, value in [("hopsupsup.recovery_steps", 0), ("hopsupsup.recovery_lr", -0.1),
                       ("hopsupsup.recall_steps", -2), ("hopsupsup.score_scale", float("inf"))]:
        with pytest.raises(ConfigError, match=f"{key} must be"):
            updated(config, {key: value})


def test_from_config_sizes_the_network_from_the_architecture():
    method = hopsupsup.from_config(config_for("model.arch=lenet-300-100", "seed=4", "training.lr=0.01", "scenario.inference_batch_size=32"))
    assert method.model.sizes == (784, 300, 100, 10)
    assert [s.d for s in method.stores_] == [301, 101]
    assert (method.training.lr, method.seed, method.probe_size, method.training.optimizer) == (0.01, 4, 32, "rmsprop")


def test_a_checkpointed_run_resumes_bit_for_bit(tmp_path):
    tasks = make_tasks(num_tasks=3, n_train=64, n_test=32)
    straight = make(steps=10)
    for task in tasks:
        straight.learn(task, progress=False)
        straight.infer_task(task.x_test)  # the runner evaluates, and so caches a recovery, before it saves
        if task.task_id == 0:
            save_state_checkpoint(tmp_path, 0, straight, {}, tasks=tasks)
    resumed = make(steps=10)
    assert load_latest_state(tmp_path, resumed, tasks=tasks).task_id == 0
    for task in tasks[1:]:
        resumed.learn(task, progress=False)
        resumed.infer_task(task.x_test)
    for a, b in zip(straight.stores_, resumed.stores_):
        assert torch.equal(a.psi_, b.psi_) and a.num_patterns_ == b.num_patterns_
    for task in tasks:
        assert torch.equal(straight.predict(task.x_test, None), resumed.predict(task.x_test, None))
    assert straight.memory_bytes() == resumed.memory_bytes()
