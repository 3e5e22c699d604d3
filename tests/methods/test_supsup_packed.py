"""SupSup with finished tasks as packed masks gives the numbers of the float-scores model, and saves 1 bit per weight."""

import copy
import math

import pytest
import torch

from supermasks.inference import MaskBank
from supermasks.methods._supsup_state import STATE_VERSION
from supermasks.methods.supsup import SupSup
from supermasks.models import build_model, masked_layers, norm_layers
from supermasks.store.state import capture_state
from supermasks.training import TrainingSettings, accuracy
from tests.conftest import make_tasks


def make(keep_scores=None, batch_norm=True, transfer="random", **kwargs):
    model = build_model("fc-300-300", output_size=4, batch_norm=batch_norm, seed=0)
    return SupSup(model, training=TrainingSettings(lr=1e-3, batch_size=32, steps_per_task=12), seed=0,
                  transfer=transfer, keep_scores=keep_scores, **kwargs)


def test_packed_tasks_give_the_masks_predictions_and_accuracies_of_float_scores():
    tasks = make_tasks(num_tasks=3, n_train=96, n_test=48)
    floats, packed = make(keep_scores=True), make()
    first_accuracy = {}
    for task in tasks:
        assert floats.learn(task, progress=False).losses == packed.learn(task, progress=False).losses
        for seen in tasks[:task.task_id + 1]:
            a, b = floats.predict(seen.x_test, seen.task_id), packed.predict(seen.x_test, seen.task_id)
            assert torch.equal(a, b)
            for name, mask in floats.masks(seen.task_id).items():
                assert (packed.masks(seen.task_id)[name] == mask).all()
            acc = accuracy(lambda x, t=seen.task_id: packed.predict(x, t), seen.x_test, seen.y_test)
            assert acc == accuracy(lambda x, t=seen.task_id: floats.predict(x, t), seen.x_test, seen.y_test)
            # a finished task's accuracy with its own mask never changes as later tasks train
            assert first_accuracy.setdefault(seen.task_id, acc) == acc
    assert all(len(m.scores) == 3 for m in masked_layers(floats.model).values())
    assert all(len(m.scores) == 0 and len(m.packed.task_ids()) == 3 for m in masked_layers(packed.model).values())


def test_task_inference_reads_the_same_masks_from_packed_tasks():
    tasks = make_tasks(num_tasks=3, n_train=96, n_test=48)
    floats, packed = make(keep_scores=True, batch_norm=False), make(batch_norm=False)
    for task in tasks:
        floats.learn(task, progress=False)
        packed.learn(task, progress=False)
    assert [floats.infer_task(t.x_test) for t in tasks] == [packed.infer_task(t.x_test) for t in tasks]
    reference = MaskBank.from_model(floats.model)
    for name in reference.shapes:
        for t in range(3):
            assert torch.equal(packed.bank_.mask(name, t), reference.mask(name, t))


def test_the_state_holds_finished_tasks_at_one_bit_per_weight_and_round_trips():
    tasks = make_tasks(num_tasks=3, n_train=96, n_test=48)
    method = make()
    weights = sum(m.weight.numel() for m in masked_layers(method.model).values())
    packed_bytes = sum(math.ceil(m.weight.numel() / 8) for m in masked_layers(method.model).values())
    bn_bytes = sum(2 * 4 * bn.num_features + 8 for bn in norm_layers(method.model).values())  # mean, var, count
    sizes = []
    for task in tasks:
        method.begin_task(task)
        sizes.append(sum(t.nbytes for t in capture_state(method, global_rng=False).tensors.values()))
        method.learn(task, progress=False)
    # One more task at rest: its packed masks and BN statistics (the new task in training adds its float
    # scores, which the task before it no longer holds).
    assert sizes[2] - sizes[1] == packed_bytes + bn_bytes
    assert packed_bytes * 8 / weights < 1.001  # the masks: 1 bit per weight (BN statistics are per unit)
    state = method.state_dict()
    assert state["version"] == STATE_VERSION and state["finished"] == 3 and "bank" not in state
    assert {k for k in state["model"] if ".scores." in k} == set()
    assert all(state["model"][f"{n}.packed.{t}"].dtype == torch.uint8 for n in ("fc1", "fc2", "fc3") for t in range(3))
    resumed = make()
    resumed.load_state_dict(copy.deepcopy(state))
    for task in tasks:
        assert torch.equal(resumed.predict(task.x_test, task.task_id), method.predict(task.x_test, task.task_id))
    nxt = make_tasks(num_tasks=4, n_train=96, n_test=48)[3]
    assert resumed.learn(nxt, progress=False).losses == method.learn(nxt, progress=False).losses
    assert torch.equal(resumed.predict(nxt.x_test, 3), method.predict(nxt.x_test, 3))


@pytest.mark.parametrize("transfer", ["random", "mean"])
def test_a_state_of_the_float_layout_is_converted_and_goes_on_as_the_packed_run(transfer):
    tasks = make_tasks(num_tasks=3, n_train=96, n_test=48)
    old, straight = make(keep_scores=True, transfer=transfer), make(transfer=transfer)
    for task in tasks[:2]:
        old.learn(task, progress=False)
        straight.learn(task, progress=False)
    # The layout-1 state as the float-scores code wrote it: every task's scores and the mask bank, no version.
    state = old.state_dict()
    for key in ("version", "finished", "score_sum"):
        del state[key]
    del state["hyperparameters"]["keep_scores"]
    state["bank"] = MaskBank.from_model(old.model).state_dict()
    assert {k for k in state["model"] if ".packed." in k} == set()
    converted = make(transfer=transfer)
    converted.load_state_dict(copy.deepcopy(state))
    assert converted.finished_ == 2
    assert converted.learn(tasks[2], progress=False).losses == straight.learn(tasks[2], progress=False).losses
    a, b = capture_state(converted, global_rng=False), capture_state(straight, global_rng=False)
    assert a.tree == b.tree and a.tensors.keys() == b.tensors.keys()
    assert all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)


def test_a_state_of_a_newer_layout_is_a_clear_error():
    method = make()
    state = method.state_dict() | {"version": STATE_VERSION + 1}
    with pytest.raises(ValueError, match=f"layout version {STATE_VERSION + 1}.*newer supermasks"):
        make().load_state_dict(state)


def test_guided_transfer_keeps_float_scores_of_every_task():
    assert make(transfer="similar").keep_scores and make(transfer="soft").keep_scores
    assert not make().keep_scores and not make(transfer="mean").keep_scores
    with pytest.raises(ValueError, match="needs keep_scores=True"):
        make(transfer="similar", keep_scores=False)


def test_a_task_is_learned_once():
    task = make_tasks(num_tasks=1, n_train=64, n_test=16)[0]
    method = make()
    method.learn(task, progress=False)
    with pytest.raises(ValueError, match="task 0 has been learned already"):
        method.learn(task, progress=False)
