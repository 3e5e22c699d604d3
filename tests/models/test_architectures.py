"""The architecture registry: every network builds, takes its declared input, and names its layers stably."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from supermasks.config import load_config
from supermasks.errors import DataError
from supermasks.models import (ARCHITECTURES, MaskedConv2d, PerTaskBatchNorm, add_task, build_model, build_multihead,
                               image_shape, input_problem, layer_shapes, list_models, masked_layers, mlp_hidden,
                               norm_layers, set_task, weight_count)
from supermasks.runner.build import check_image_size


def _image(name: str, batch: int = 2) -> torch.Tensor:
    arch = ARCHITECTURES[name]
    size = arch.input.size or (32, 32)
    return torch.randn(batch, arch.input.channels, *size, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_every_architecture_builds_masked_and_takes_its_declared_input(name):
    model = build_model(name, output_size=7, rule="topk", density=0.3, batch_norm=True, seed=0)
    add_task(model, torch.Generator().manual_seed(2))
    set_task(model, 0)
    x = _image(name)
    assert input_problem(name, tuple(x.shape[1:])) is None
    assert model(x).shape == (2, 7)
    shapes = {n: tuple(m.weight.shape) for n, m in masked_layers(model).items()}
    assert layer_shapes(name, 7, batch_norm=True) == shapes  # the shape-only build agrees, names and order
    assert weight_count(name, 7) == sum(math.prod(s) for s in shapes.values())


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_every_architecture_has_a_dense_twin_with_per_task_heads(name):
    net = build_multihead(name, output_size=5, num_heads=1, seed=0)
    again = build_multihead(name, output_size=5, num_heads=1, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(net.trunk.state_dict().values(), again.trunk.state_dict().values()))
    net.add_head(3)
    x = _image(name)
    out0, out1 = net(x, 0), net(x, 1)
    assert out0.shape == out1.shape == (2, 5) and not torch.equal(out0, out1)
    assert all(p.requires_grad for p in net.parameters())


def test_lenet5_layers_and_forward_match_a_by_hand_computation():
    model = build_model("lenet5", output_size=10, rule="threshold", seed=3)
    add_task(model, torch.Generator().manual_seed(4))
    layers = masked_layers(model)
    assert list(layers) == ["conv1", "conv2", "fc1", "fc2", "fc3"]
    assert [tuple(m.weight.shape) for m in layers.values()] == [(6, 1, 5, 5), (16, 6, 5, 5), (120, 400), (84, 120),
                                                                (10, 84)]
    w = {n: m.weight * (m.scores[0] >= 0) for n, m in layers.items()}
    x = _image("lenet5", 3)
    h = F.max_pool2d(F.relu(F.conv2d(x, w["conv1"], padding=2)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, w["conv2"])), 2)
    h = F.relu(h.flatten(1) @ w["fc1"].t())
    h = F.relu(h @ w["fc2"].t())
    torch.testing.assert_close(model(x), h @ w["fc3"].t())


def test_resnet18_is_the_reduced_splitcifar100_network():
    model = build_model("resnet18", output_size=5, batch_norm=True, seed=0)
    layers = masked_layers(model)
    assert len(layers) == 1 + 16 + 3 + 1  # stem, 8 blocks x 2 convs, 3 projections, classifier
    assert tuple(layers["conv1"].weight.shape) == (20, 3, 3, 3)  # 3x3 stride-1 stem
    assert layers["conv1"].stride == 1
    assert [layers[f"layer{s}.0.conv1"].weight.shape[0] for s in (1, 2, 3, 4)] == [20, 40, 80, 160]
    assert tuple(layers["layer2.0.shortcut_conv"].weight.shape) == (40, 20, 1, 1)
    assert isinstance(layers["fc"], MaskedConv2d) and tuple(layers["fc"].weight.shape) == (5, 160, 1, 1)
    norms = norm_layers(model)
    assert len(norms) == len(layers) - 1  # a per-task BN after every conv but the classifier
    add_task(model, torch.Generator().manual_seed(0))
    assert all(isinstance(bn, PerTaskBatchNorm) and not bn.norms[0].affine for bn in norms.values())


def test_resnet50_is_the_bottleneck_network_with_the_imagenet_stem():
    shapes = layer_shapes("resnet50", 100)
    assert len(shapes) == 1 + 16 * 3 + 4 + 1
    assert shapes["conv1"] == (64, 3, 7, 7)
    assert shapes["layer1.0.conv3"] == (256, 64, 1, 1) and shapes["layer4.2.conv3"] == (2048, 512, 1, 1)
    assert shapes["layer4.0.conv2"] == (512, 512, 3, 3)
    assert shapes["fc"] == (100, 2048, 1, 1)


def test_resnets_refuse_to_build_without_their_batch_norm():
    with pytest.raises(ValueError, match="resnet18.*batch_norm=True"):
        build_model("resnet18", output_size=5)
    with pytest.raises(Exception, match="resnet18 has per-task BatchNorm after every convolution"):
        load_config(None, ["model.arch=resnet18"])
    assert load_config(None, ["model.arch=resnet18", "model.batch_norm=true"]).model.arch == "resnet18"


def test_listing_shows_every_architecture_with_its_input():
    listed = list_models()
    assert set(listed) == set(ARCHITECTURES)
    assert listed["lenet5"].endswith("input 1x28x28")
    assert listed["resnet18"].endswith("input 3xHxW (any size)")
    assert listed["fc-300-300"] == "MLP 784-300-300-s; input 1x28x28"


def test_input_shapes_accepted_and_refused():
    assert input_problem("lenet5", (1, 28, 28)) is None
    assert input_problem("resnet18", (3, 64, 48)) is None
    assert input_problem("lenet5", (3, 32, 32)) == "model.arch lenet5 takes 1x28x28 images, got 3x32x32"
    assert input_problem("resnet50", (1, 28, 28)) == "model.arch resnet50 takes 3xHxW (any size) images, got 1x28x28"
    assert image_shape((10, 28, 28)) == (1, 28, 28)
    assert image_shape((10, 3, 32, 32)) == (3, 32, 32)
    with pytest.raises(ValueError, match="images must be"):
        image_shape((10, 784))


@pytest.mark.parametrize("arch, x, message", [
    ("resnet18", torch.zeros(4, 28, 28, dtype=torch.uint8), "takes 3xHxW (any size) images, got 1x28x28"),
    ("lenet5", torch.zeros(4, 3, 32, 32, dtype=torch.uint8), "takes 1x28x28 images, got 3x32x32"),
    ("fc-300-300", torch.zeros(4, 3, 32, 32, dtype=torch.uint8), "takes 1x28x28 images, got 3x32x32"),
])
def test_check_image_size_names_the_arch_and_the_shape(arch, x, message):
    config = SimpleNamespace(model=SimpleNamespace(arch=arch))
    dataset = SimpleNamespace(x_train=x, x_test=x, description="some images")
    with pytest.raises(DataError, match=re.escape(f"some images: model.arch {arch} {message} (channels x height")):
        check_image_size(config, dataset)  # type: ignore[arg-type]


def test_check_image_size_takes_grayscale_and_colour_tensors_that_fit():
    for arch, x in (("lenet5", torch.zeros(2, 28, 28)), ("resnet18", torch.zeros(2, 3, 32, 32))):
        check_image_size(SimpleNamespace(model=SimpleNamespace(arch=arch)),  # type: ignore[arg-type]
                         SimpleNamespace(x_train=x, x_test=x, description="d"))


def test_methods_that_take_mlps_only_say_so_for_conv_nets():
    assert mlp_hidden("fc-300-300") == (300, 300)
    with pytest.raises(ValueError, match="'lenet5' is a convolutional network; this takes an MLP: fc-300-300"):
        mlp_hidden("lenet5")
    with pytest.raises(ValueError, match="unknown model 'vgg'"):
        mlp_hidden("vgg")


def test_dense_resnet_trunk_uses_ordinary_affine_batch_norm():
    net = build_multihead("resnet18", output_size=5, seed=0)
    norms = [m for m in net.trunk.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 20 and all(bn.affine for bn in norms)
    assert net.heads[0].in_features == 160
    assert build_multihead("lenet5", output_size=5).heads[0].in_features == 84
