import math

import pytest
import torch
import torch.nn.functional as F

from supermasks.models import MaskedConv2d, MaskedLinear, PerTaskBatchNorm


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_weights_are_signed_constants():
    layer = MaskedLinear(784, 300, generator=gen())
    c = math.sqrt(2 / 784)
    assert torch.allclose(layer.weight.abs(), torch.full_like(layer.weight, c))
    assert abs((layer.weight > 0).float().mean().item() - 0.5) < 0.01
    assert not layer.weight.requires_grad


def test_same_seed_same_weights():
    a, b = MaskedLinear(20, 10, generator=gen(3)), MaskedLinear(20, 10, generator=gen(3))
    assert torch.equal(a.weight, b.weight)


def test_scores_init_is_kaiming_uniform_bound():
    layer = MaskedLinear(100, 50, generator=gen())
    layer.add_scores(gen(1))
    bound = 1 / math.sqrt(100)
    assert layer.scores[0].abs().max() <= bound
    assert layer.scores[0].abs().max() > 0.9 * bound


def test_linear_forward_uses_the_active_tasks_mask():
    layer = MaskedLinear(6, 4, generator=gen())
    layer.add_scores(gen(1))
    layer.add_scores(gen(2))
    x = torch.randn(5, 6)
    for t in (0, 1):
        layer.task_id = t
        mask = (layer.scores[t] >= 0).float()
        assert torch.allclose(layer(x), x @ (layer.weight * mask).T)


def test_conv_forward_matches_functional():
    conv = MaskedConv2d(3, 4, 3, padding=1, generator=gen())
    conv.add_scores(gen(1))
    x = torch.randn(2, 3, 8, 8)
    mask = (conv.scores[0] >= 0).float()
    assert torch.allclose(conv(x), F.conv2d(x, conv.weight * mask, padding=1))


def test_missing_task_scores_is_a_clear_error():
    layer = MaskedLinear(3, 2, generator=gen())
    with pytest.raises(IndexError, match="task 0 has no scores"):
        layer(torch.zeros(1, 3))


def test_bad_rule_or_density_rejected():
    with pytest.raises(ValueError, match="unknown mask rule"):
        MaskedLinear(3, 2, rule="sorted", generator=gen())
    with pytest.raises(ValueError, match="density"):
        MaskedLinear(3, 2, density=0.0, generator=gen())


def test_per_task_batchnorm_keeps_statistics_apart():
    bn = PerTaskBatchNorm(3)
    bn.add_task()
    bn.add_task()
    bn.train()
    bn.task_id = 1
    bn(torch.randn(64, 3) + 5)
    assert torch.equal(bn.running_mean(0), torch.zeros(3))  # task 0 untouched
    assert (bn.running_mean(1) > 0.3).all()
    assert not any(p.requires_grad for p in bn.parameters())  # non-affine


@pytest.mark.filterwarnings("ignore:.*to a meta parameter")  # copying values into meta tensors is a no-op
def test_per_task_batchnorm_makes_new_tasks_on_the_layers_device():
    """A task added after the network moved (or grown while loading a state) lives where the layer lives.

    The "meta" device stands in for a GPU: the same `Module.to` path, without values."""
    bn = PerTaskBatchNorm(4, dims=2)
    bn.add_task()
    bn.to("meta")
    bn.add_task()
    assert [n.running_mean.device.type for n in bn.norms] == ["meta", "meta"]
    assert "_anchor" not in bn.state_dict()  # nothing new in checkpoints
    fresh = PerTaskBatchNorm(4, dims=2).to("meta")
    fresh.load_state_dict(bn_state(2))  # grows to the saved tasks first: on the layer's device too
    assert [n.running_var.device.type for n in fresh.norms] == ["meta", "meta"]


def bn_state(tasks: int) -> dict:
    source = PerTaskBatchNorm(4, dims=2)
    for _ in range(tasks):
        source.add_task()
    return source.state_dict()


def test_a_masked_network_moved_before_its_next_task_keeps_every_tasks_statistics_on_its_device():
    from supermasks.models import build_model
    from supermasks.models.tasks import add_task, norm_layers
    model = build_model("lenet5", output_size=10, batch_norm=True)
    add_task(model, torch.Generator().manual_seed(0))
    model.to("meta")
    add_task(model, torch.Generator().manual_seed(1))
    devices = {buf.device.type for bn in norm_layers(model).values() for buf in bn.buffers()}
    assert devices == {"meta"}
