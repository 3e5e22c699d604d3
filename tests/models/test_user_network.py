"""masked(): a user's module with Linear, Conv2d and BatchNorm becomes a masked network; what it cannot mask is named."""

import pytest
import torch
from torch import nn

from supermasks import masked
from supermasks.errors import ConfigError
from supermasks.models import MaskedConv2d, MaskedLinear, PerTaskBatchNorm, add_task, masked_layers, set_task
from supermasks.models.layers import signed_constant
from supermasks.models.user import network_fingerprint


class Net(nn.Module):
    """conv 3x3 (1 -> 4) with BN, then a linear layer over the flattened 4x6x6 maps."""

    def __init__(self, out: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU())
        self.fc = nn.Linear(4 * 6 * 6, out, bias=False)

    def forward(self, x):  # (batch, 1, 6, 6) -> (batch, out)
        return self.fc(self.features(x).flatten(1))


def test_layers_become_masked_and_per_task_and_the_module_stays_as_it_was():
    net = Net()
    out = masked(net, seed=3)
    assert isinstance(out.features[0], MaskedConv2d) and isinstance(out.features[1], PerTaskBatchNorm)
    assert isinstance(out.fc, MaskedLinear) and isinstance(out.features[2], nn.ReLU)
    assert out.features[0].padding == 1 and out.features[1].dims == 2
    assert isinstance(net.fc, nn.Linear)  # the user's module is untouched
    # Signed constants drawn in module order from the seed: the conv first, then the linear layer.
    g = torch.Generator().manual_seed(3)
    assert torch.equal(out.features[0].weight, signed_constant((4, 1, 3, 3), 9, g))
    assert torch.equal(out.fc.weight, signed_constant((3, 144), 144, g))


def test_keep_takes_the_modules_own_weights_and_the_masked_forward_is_w_times_m():
    net = Net()
    out = masked(net, init="keep")
    assert torch.equal(out.fc.weight, net.fc.weight) and torch.equal(out.features[0].weight, net.features[0].weight)
    add_task(out, torch.Generator().manual_seed(0))
    set_task(out, 0)
    out.eval()
    x = torch.randn(5, 1, 6, 6)
    h = torch.relu(out.features[1](torch.nn.functional.conv2d(x, out.features[0].effective_weight(), padding=1)))
    expected = h.flatten(1) @ (out.fc.weight * (out.fc.scores[0] >= 0)).T
    assert torch.allclose(out(x), expected)


def test_fingerprint_sees_weights_and_structure():
    a, b = masked(Net(), seed=0), masked(Net(), seed=0)
    assert network_fingerprint(a) == network_fingerprint(b)
    assert network_fingerprint(masked(Net(), seed=1)) != network_fingerprint(a)
    assert network_fingerprint(masked(Net(out=4), seed=0)) != network_fingerprint(a)


@pytest.mark.parametrize("module, message", [
    (nn.Sequential(nn.Linear(4, 2)), "layer 0 (Linear) has a bias, which masked layers do not have: build it with "
                                     "bias=False"),
    (nn.Sequential(nn.Flatten(), nn.LSTM(4, 2)), "layer 1 (LSTM) has parameters of its own"),
    (nn.Sequential(nn.Sequential(nn.Conv2d(1, 2, (3, 1), bias=False))), "layer 0.0 (Conv2d) has a non-square kernel"),
    (nn.Sequential(nn.Conv2d(2, 2, 3, groups=2, bias=False)), "layer 0 (Conv2d) has groups=2"),
    (nn.Sequential(nn.Conv2d(1, 2, 3, dilation=2, bias=False)), "layer 0 (Conv2d) has dilation (2, 2)"),
    (nn.Sequential(nn.Linear(4, 2, bias=False), nn.LayerNorm(2)), "layer 1 (LayerNorm) has parameters of its own"),
    (nn.Sequential(nn.Linear(4, 2, bias=False), nn.BatchNorm1d(2, track_running_stats=False)),
     "layer 1 (BatchNorm1d) keeps no running statistics"),
    (nn.Sequential(nn.ReLU()), "Sequential has no nn.Linear or nn.Conv2d layer to mask"),
])
def test_what_cannot_be_masked_is_named(module, message):
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        masked(module)


def test_bad_init_is_refused():
    with pytest.raises(ConfigError, match="init: unknown value 'zeros'; choose one of signed_constant, keep"):
        masked(Net(), init="zeros")


def test_masked_layers_are_in_module_order():
    assert list(masked_layers(masked(Net()))) == ["features.0", "fc"]
