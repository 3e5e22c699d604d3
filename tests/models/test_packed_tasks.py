"""Finished tasks as bit-packed masks: the same forward, masks and state as float scores, at 1 bit per weight."""

import math

import pytest
import torch
import torch.nn.functional as F

from supermasks.models import (MaskedConv2d, MaskedLinear, add_task, build_model, export_masks, finish_task,
                               load_network, masked_layers, num_tasks, set_keep_scores, set_task, task_nbytes,
                               task_scores)
from supermasks.models import layers as layers_module
from supermasks.models.masks import compute_mask


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("rule", ["threshold", "topk"])
def test_a_finished_linear_task_forwards_bit_for_bit_as_its_scores_did(rule):
    layer = MaskedLinear(40, 30, rule=rule, density=0.3, generator=gen())
    layer.add_scores(gen(1))
    layer.add_scores(gen(2))
    x = torch.randn(16, 40)
    scores = layer.scores[0].detach().clone()
    layer.task_id = 0
    before, mask = layer(x).detach(), layer.mask(0)
    layer.finish(0)
    assert 0 not in layer.scores and layer.is_packed(0) and not layer.is_packed(1)
    assert layer.num_tasks == 2
    straightforward = x @ (layer.weight * compute_mask(scores, rule, 0.3).float()).T
    assert torch.equal(layer.mask(0), mask)
    assert torch.equal(layer(x), before)
    assert torch.equal(layer(x), straightforward)
    assert layer.packed[0].dtype == torch.uint8 and layer.packed[0].numel() == math.ceil(40 * 30 / 8)


def test_a_finished_conv_task_forwards_as_its_scores_did():
    conv = MaskedConv2d(3, 4, 3, padding=1, generator=gen())
    conv.add_scores(gen(1))
    x = torch.randn(2, 3, 8, 8)
    mask = (conv.scores[0] >= 0).float()
    conv.finish(0)
    assert torch.equal(conv(x), F.conv2d(x, conv.weight * mask, padding=1))


def test_the_unpacked_weight_is_cached_while_the_task_stays_active(monkeypatch):
    layer = MaskedLinear(20, 10, generator=gen())
    for seed in (1, 2):
        layer.add_scores(gen(seed))
        layer.finish(seed - 1)
    calls = []
    real = layers_module.unpack_mask
    monkeypatch.setattr(layers_module, "unpack_mask", lambda *a: calls.append(a) or real(*a))
    x = torch.randn(4, 20)
    layer.task_id = 0
    outs = [layer(x) for _ in range(5)]  # an evaluation loop over batches
    assert len(calls) == 1 and all(torch.equal(o, outs[0]) for o in outs)
    layer.task_id = 1
    layer(x)
    layer.task_id = 0
    layer(x)
    assert len(calls) == 3  # a switch of task unpacks that task's mask once more
    with torch.no_grad():
        layer.weight.mul_(-1.0)  # a changed weight is never served from the cache
    assert torch.equal(layer(x), x @ (layer.weight * layer.mask(0).float()).T)


def test_keep_scores_keeps_float_scores_and_a_finished_task_refuses_training():
    model = build_model("fc-300-300", output_size=4, seed=0)
    for _ in range(2):
        add_task(model, gen(1))
    set_keep_scores(model, True)
    finish_task(model, 0)
    assert [t.shape for t in task_scores(model, 0)] == [(300, 784), (300, 300), (4, 300)]
    set_keep_scores(model, False)
    finish_task(model, 1)
    with pytest.raises(ValueError, match="task 1 is finished.*float scores were not kept"):
        task_scores(model, 1)
    assert num_tasks(model) == 2


def test_resident_bytes_per_finished_task_are_one_bit_per_weight():
    model = build_model("lenet-300-100", output_size=100, seed=0)
    weights = sum(m.weight.numel() for m in masked_layers(model).values())
    packed = sum(math.ceil(m.weight.numel() / 8) for m in masked_layers(model).values())
    for t in range(3):
        add_task(model, gen(t))
        assert task_nbytes(model) == t * packed + 4 * weights  # finished ones packed, the current one float
        finish_task(model, t)
    assert task_nbytes(model) == 3 * packed


@pytest.mark.parametrize("batch_norm", [False, True])
def test_a_state_dict_of_packed_tasks_loads_into_a_fresh_network_without_float_scores(batch_norm):
    model = build_model("fc-300-300", output_size=4, batch_norm=batch_norm, seed=0)
    for t in range(3):
        add_task(model, gen(t))
        set_task(model, t)
        model.train()
        model(torch.randn(8, 1, 28, 28))  # BN statistics of the task
        if t < 2:
            finish_task(model, t)
    state = model.state_dict()
    assert state["fc1.packed.0"].dtype == torch.uint8 and "fc1.scores.0" not in state and "fc1.scores.2" in state
    fresh = build_model("fc-300-300", output_size=4, batch_norm=batch_norm, seed=0)
    load_network(fresh, state)
    assert num_tasks(fresh) == 3 and task_nbytes(fresh) == task_nbytes(model)
    assert fresh.state_dict().keys() == state.keys()
    x = torch.randn(8, 1, 28, 28)
    model.eval(), fresh.eval()
    for t in range(3):
        set_task(model, t), set_task(fresh, t)
        assert torch.equal(model(x), fresh(x))
        for name, mask in export_masks(model, t).items():
            assert (export_masks(fresh, t)[name] == mask).all()
    other = build_model("fc-300-300", output_size=4, batch_norm=batch_norm, seed=0)
    for t in range(4):
        add_task(other, gen(t))
    with pytest.raises(ValueError, match="does not fit"):  # a task the state lacks is reported, not dropped
        load_network(other, state)


def test_a_saved_network_missing_a_task_in_between_is_refused():
    model = build_model("fc-300-300", output_size=4, seed=0)
    for t in range(3):
        add_task(model, gen(t))
        finish_task(model, t)
    state = {k: v for k, v in model.state_dict().items() if ".packed.1" not in k}
    with pytest.raises(ValueError, match=r"task\(s\) \[1\] have neither scores nor a packed mask"):
        load_network(build_model("fc-300-300", output_size=4, seed=0), state)
