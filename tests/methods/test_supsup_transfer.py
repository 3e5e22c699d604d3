"""SupSup transfer: random, mean and similarity-guided initial scores, causal and two-pass protocols."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from supermasks.analysis.similarity import determine_alphas_per_layer, e2_matrices
from supermasks.config import ConfigError, load_config, updated
from supermasks.data.task import Task
from supermasks.methods.supsup import SupSup, from_config
from supermasks.methods.supsup_settings import check, needs_reference, reference_config
from supermasks.models import add_task, build_model, masked_layers, task_scores
from supermasks.models.tasks import layer_norms
from supermasks.training import TrainingSettings
from tests.conftest import make_tasks

STEPS = 15


def make(transfer="random", batch_norm=True, **kwargs) -> SupSup:
    model = build_model("fc-300-300", output_size=4, batch_norm=batch_norm, seed=0)
    return SupSup(model, training=TrainingSettings(lr=1e-3, batch_size=32, steps_per_task=STEPS), seed=0,
                  transfer=transfer, **kwargs)


def initial_scores(method: SupSup, task: Task) -> list[torch.Tensor]:
    method.begin_task(task)
    return [s.detach().clone() for s in task_scores(method.model, task.task_id)]


def run(method: SupSup, tasks: list[Task]) -> list[list[torch.Tensor]]:
    """Every task's initial scores, training each task after recording them."""
    inits = []
    for task in tasks:
        inits.append(initial_scores(method, task))
        method.learn(task, progress=False)
    return inits


@pytest.fixture(scope="module")
def tasks():
    return make_tasks(num_tasks=3, n_train=128, n_test=64)


@pytest.fixture(scope="module")
def random_run(tasks):
    method = make("random")
    return method, run(method, tasks)


def test_output_layer_borrows_the_last_bn_layer():
    assert layer_norms(build_model("fc-300-300", batch_norm=True)) == {"fc1": "bn1", "fc2": "bn2", "fc3": "bn2"}
    assert layer_norms(build_model("fc-300-300")) == {"fc1": None, "fc2": None, "fc3": None}


def test_random_transfer_draws_scores_as_supsup_always_did(random_run):
    _, inits = random_run
    model = build_model("fc-300-300", output_size=4, batch_norm=True, seed=0)
    generator = torch.Generator().manual_seed(1)  # the score stream of seed 0
    for task_id in range(3):
        add_task(model, generator)
        for a, b in zip(inits[task_id], task_scores(model, task_id)):
            assert torch.equal(a, b.detach())


@pytest.mark.parametrize("transfer", ["mean", "similar", "soft"])
def test_transfer_keeps_the_random_init_norm_per_layer(tasks, random_run, transfer):
    _, random_inits = random_run
    method = make(transfer)
    inits = run(method, tasks)
    for task_id, (ours, theirs) in enumerate(zip(inits, random_inits)):
        for a, b in zip(ours, theirs):
            if task_id == 0:
                assert torch.equal(a, b)  # task 0 always starts random
            else:
                assert not torch.equal(a, b)
                torch.testing.assert_close(a.norm(), b.norm())
    assert method.alphas_[0] == {}
    for task_id in (1, 2):
        alphas = method.alphas_[task_id]
        assert set(alphas) == set(masked_layers(method.model))
        for values in alphas.values():
            assert values.shape == (task_id,) and values.sum() == pytest.approx(1.0)


def test_mean_is_the_rescaled_mean_of_earlier_scores(tasks):
    """The running sum gives the straightforward mean of the kept scores (to float summation order)."""
    method = make("mean", keep_scores=True)  # keeps every task's scores, so the test can read them
    packed = make("mean")  # the default: finished tasks hold packed masks and one running sum
    for task in tasks[:3]:
        method.learn(task, progress=False)
        packed.learn(task, progress=False)
    earlier = [[s.detach().clone() for s in task_scores(method.model, t)] for t in range(3)]
    init = initial_scores(method, make_tasks(num_tasks=4, n_train=128, n_test=64)[3])
    for layer, (s0, s1, s2, ours) in enumerate(zip(*earlier, init)):
        mean = torch.stack([s0, s1, s2]).mean(dim=0)
        expected = mean * (ours.norm() / mean.norm())  # the random init's norm (checked in another test)
        torch.testing.assert_close(ours, expected, rtol=1e-6, atol=1e-6 * float(expected.abs().max()))
        np.testing.assert_allclose(method.alphas_[3][f"fc{layer + 1}"], [1 / 3] * 3)
    packed_init = initial_scores(packed, make_tasks(num_tasks=4, n_train=128, n_test=64)[3])
    for ours, theirs in zip(init, packed_init):
        assert torch.equal(ours, theirs)  # the same sum in the same order, kept scores or not
    with pytest.raises(ValueError, match="its float scores were not kept"):
        task_scores(packed.model, 0)


def test_similar_copies_the_chosen_task_and_soft_is_the_softmax_of_similarities(tasks, random_run):
    _, random_inits = random_run
    for transfer in ("similar", "soft"):
        method = make(transfer, transfer_temperature=0.05)
        for task in tasks[:2]:
            method.learn(task, progress=False)
        earlier = [[s.detach().clone() for s in task_scores(method.model, t)] for t in range(2)]
        init = initial_scores(method, tasks[2])
        sims = method.similarities_[2]
        assert set(sims) == {"bn1", "bn2"} and all(s.shape == (2,) for s in sims.values())
        alphas = method.alphas_[2]
        for name, bn in (("fc1", "bn1"), ("fc2", "bn2"), ("fc3", "bn2")):
            if transfer == "similar":
                expected = np.eye(2)[int(np.argmax(sims[bn]))]
            else:
                e = np.exp(sims[bn] / 0.05)
                expected = e / e.sum()
            np.testing.assert_allclose(alphas[name], expected)
        for i, (ours, rand) in enumerate(zip(init, random_inits[2])):
            a = alphas[f"fc{i + 1}"]
            mix = float(a[0]) * earlier[0][i] + float(a[1]) * earlier[1][i]
            torch.testing.assert_close(ours, mix * rand.norm() / mix.norm())


def test_causal_protocol_reads_only_a_fixed_slice_of_the_current_task(tasks):
    """Initial scores of task n depend on tasks 0..n and on the first batch_size images of task n only."""
    later_a = tasks[2]
    g = torch.Generator().manual_seed(9)
    later_b = Task(2, "other", torch.randn(128, 1, 28, 28, generator=g), torch.randint(0, 4, (128,), generator=g),
                   torch.randn(64, 1, 28, 28, generator=g), torch.randint(0, 4, (64,), generator=g), tasks[2].classes, 4)
    runs = []
    for third in (later_a, later_b):
        method = make("soft")
        runs.append((method, run(method, [tasks[0], tasks[1], third])))
    (a, inits_a), (b, inits_b) = runs
    for x, y in zip(inits_a[1], inits_b[1]):  # task 1 cannot see which task comes next
        assert torch.equal(x, y)
    np.testing.assert_array_equal(a.similarities_[1]["bn1"], b.similarities_[1]["bn1"])
    assert not all(torch.equal(x, y) for x, y in zip(inits_a[2], inits_b[2]))  # task 2 itself matters
    # Beyond the probe slice, task 2's training images and its test set play no part.
    poked = Task(2, "poked", later_a.x_train.clone(), later_a.y_train, torch.full_like(later_a.x_test, float("nan")),
                 later_a.y_test, later_a.classes, later_a.num_classes)
    poked.x_train[32:] = float("nan")
    method = make("soft")
    for task in tasks[:2]:
        method.learn(task, progress=False)
    for x, y in zip(initial_scores(method, poked), inits_a[2]):
        assert torch.equal(x, y)


def test_two_pass_uses_reference_signatures(tasks, random_run):
    reference, _ = random_run  # random init trained on all tasks: the seed's "classic" model
    signatures = reference.signatures_
    method = make("similar", transfer_protocol="two_pass", reference_signatures=signatures)
    run(method, tasks)
    expected = determine_alphas_per_layer(e2_matrices(signatures), 2)
    np.testing.assert_array_equal(method.alphas_[2]["fc1"], expected["bn1"])
    np.testing.assert_array_equal(method.alphas_[2]["fc3"], expected["bn2"])
    np.testing.assert_allclose(method.similarities_[2]["bn2"], e2_matrices(signatures)["bn2"][2, :2])
    with pytest.raises(ValueError, match="needs reference_signatures"):
        make("similar", transfer_protocol="two_pass")
    short = make("soft", transfer_protocol="two_pass", reference_signatures=signatures[:2])
    short.learn(tasks[0], progress=False)
    short.learn(tasks[1], progress=False)
    with pytest.raises(ValueError, match="reference signatures of tasks 0..2"):
        short.begin_task(tasks[2])


def test_earlier_tasks_do_not_change_when_later_tasks_transfer(tasks):
    method = make("soft")
    snapshots = {}
    for task in tasks:
        method.learn(task, progress=False)
        snapshots[task.task_id] = (method.predict(task.x_test, task.task_id).clone(),
                                   [s.detach().clone() for s in task_scores(method.model, task.task_id)],
                                   method.masks(task.task_id))
    for task in tasks[:2]:
        logits, scores, masks = snapshots[task.task_id]
        assert torch.equal(method.predict(task.x_test, task.task_id), logits)
        for before, after in zip(scores, task_scores(method.model, task.task_id)):
            assert torch.equal(before, after.detach())
        for layer, mask in method.masks(task.task_id).items():
            assert (mask == masks[layer]).all()


def test_guided_transfer_needs_batch_norm():
    with pytest.raises(ValueError, match="batch_norm=True"):
        make("similar", batch_norm=False)
    make("mean", batch_norm=False)  # mean transfer needs no signature


def test_config_fields_reach_the_method_and_check_refuses_what_cannot_work():
    config = load_config(None, ["model.output_size=4", "model.batch_norm=true", "supsup.transfer=soft",
                                "supsup.transfer_temperature=0.3", "supsup.task_inference=signature",
                                "scenario.name=gnu"])
    check(config)
    method = from_config(config)
    assert (method.transfer, method.transfer_protocol, method.transfer_temperature) == ("soft", "causal", 0.3)
    assert method.task_inference == "signature"
    assert not needs_reference(config)
    two_pass = updated(config, {"supsup.transfer_protocol": "two_pass"})
    assert needs_reference(two_pass)
    assert reference_config(two_pass).settings("supsup").transfer == "random" and not needs_reference(reference_config(two_pass))
    bad = {
        "supsup.transfer=similar compares": {"supsup.transfer": "similar", "model.batch_norm": False,
                                             "supsup.task_inference": "oneshot"},
        "supsup.transfer: unknown value 'best'; choose one of random, mean, similar, soft": {"supsup.transfer": "best"},
        "supsup.transfer_protocol: unknown value": {"supsup.transfer_protocol": "oracle"},
        "supsup.transfer_temperature must be a positive finite number": {"supsup.transfer_temperature": 0.0},
        "signature compares": {"model.batch_norm": False, "supsup.transfer": "random"},
        "oneshot task inference superposes": {"supsup.task_inference": "oneshot"},
        "binary task inference superposes": {"supsup.task_inference": "binary"},
    }
    for message, changes in bad.items():
        with pytest.raises(ConfigError, match=message):
            check(updated(config, changes))


@pytest.mark.parametrize("guided", [["supsup.transfer=similar"], ["supsup.transfer=soft", "supsup.transfer_temperature=0.5"],
                                    ["supsup.transfer=similar", "supsup.transfer_protocol=two_pass"]])
def test_the_reference_config_is_the_random_transfer_run_of_the_same_config(guided):
    from supermasks.config import to_dict, updated

    config = load_config(None, ["model.batch_norm=true", *guided])
    reference = reference_config(config)
    assert reference == updated(config, {"supsup.transfer": "random"})
    assert to_dict(reference) == to_dict(updated(config, {"supsup.transfer": "random"}))
