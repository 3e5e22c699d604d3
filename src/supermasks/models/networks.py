"""The architecture registry: MLPs and conv nets, what input each takes, and the masked-network factory."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from supermasks.models.conv import LeNet5
from supermasks.models.inputs import InputShape
from supermasks.models.kits import LayerKit, MaskedKit, ShapeKit, WeightShape
from supermasks.models.masks import DENSITY_BUDGETS, MASK_RULES, layer_density
from supermasks.models.mlp import MaskedMLP
from supermasks.models.resnet import resnet18, resnet50
from supermasks.models.tasks import masked_layers
from supermasks.models.user import build_own, is_own_arch, own_weight_count
from supermasks.errors import require_choice

MNIST_INPUT = InputShape(1, (28, 28))
INPUT_SIZE = 28 * 28  # what an MLP reads: a flattened 1x28x28 image


@dataclass(frozen=True)
class Architecture:
    """One named network: its input, and either MLP hidden sizes or a builder over a `LayerKit`.

    `build(kit, output_size, batch_norm)` builds a conv net (`output_size=None`: the trunk without
    its output layer); `always_norm` says it has BatchNorm after every conv whatever `batch_norm` says.
    """

    description: str
    input: InputShape
    hidden: tuple[int, ...] | None = None
    build: Callable[[LayerKit, int | None, bool], nn.Module] | None = None
    always_norm: bool = False

    @property
    def is_mlp(self) -> bool:
        return self.hidden is not None


def _mlp(hidden: tuple[int, ...]) -> Architecture:
    return Architecture("MLP " + "-".join(map(str, (INPUT_SIZE, *hidden, "s"))), MNIST_INPUT, hidden=hidden)


ARCHITECTURES: dict[str, Architecture] = {
    "fc-300-300": _mlp((300, 300)),        # the overlap study's FC 784-300-300-10
    "lenet-300-100": _mlp((300, 100)),     # LeNet-300-100 (784-300-100-s)
    "fc-1024-1024": _mlp((1024, 1024)),    # FC-1024-1024 (784-1024-1024-s)
    "fc-500-300": _mlp((500, 300)),        # the replay study's MLP 784-500-300-2
    "lenet5": Architecture("LeNet-5-style conv net (conv 5x5 6, 16 with max-pool; fc 120-84-s)",
                           MNIST_INPUT, build=lambda kit, out, bn: LeNet5(kit, out, batch_norm=bn)),
    "resnet18": Architecture("reduced ResNet-18 of SplitCIFAR100 (20 base filters, blocks 2-2-2-2, per-task BN)",
                             InputShape(3),
                             build=lambda kit, out, bn: resnet18(kit, out), always_norm=True),
    "resnet50": Architecture("ResNet-50 of SplitImageNet (bottlenecks 3-4-6-3, ImageNet stem, per-task BN)",
                             InputShape(3),
                             build=lambda kit, out, bn: resnet50(kit, out), always_norm=True),
}


def architecture(name: str) -> Architecture:
    """The registered architecture `name`; ValueError naming the choices otherwise."""
    require_choice("model", name, ARCHITECTURES)
    return ARCHITECTURES[name]


def list_models() -> dict[str, str]:
    """Model names and one-line descriptions, with the input each takes."""
    return {name: f"{arch.description}; input {arch.input.describe()}" for name, arch in ARCHITECTURES.items()}


def mlp_hidden(name: str) -> tuple[int, ...]:
    """Hidden sizes of the MLP `name`; ValueError for a conv net (a method that takes MLPs only)."""
    arch = architecture(name)
    if arch.hidden is None:
        mlps = ", ".join(n for n, a in ARCHITECTURES.items() if a.is_mlp)
        raise ValueError(f"model {name!r} is a convolutional network; this takes an MLP: {mlps}")
    return arch.hidden


def input_problem(name: str, shape: tuple[int, int, int]) -> str | None:
    """Why images of one-image shape (C, H, W) do not fit architecture `name`, or None when they do."""
    arch = architecture(name)
    if arch.input.accepts(shape):
        return None
    return f"model.arch {name} takes {arch.input.describe()} images, got {'x'.join(map(str, shape))}"


def _sizes(name: str, output_size: int) -> tuple[int, ...]:
    """Layer sizes of the MLP `name`: 784, its hidden sizes, `output_size`."""
    if output_size < 1:
        raise ValueError(f"output_size must be positive, got {output_size}")
    return (INPUT_SIZE, *mlp_hidden(name), output_size)


def layer_shapes(name: str, output_size: int, *, batch_norm: bool = False) -> dict[str, tuple[int, ...]]:
    """Weight shape of every masked layer of `name` by layer name, in forward order (nothing allocated)."""
    arch = architecture(name)
    if arch.hidden is not None:
        sizes = _sizes(name, output_size)
        return {f"fc{i}": (b, a) for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1)}
    assert arch.build is not None
    net = arch.build(ShapeKit(), output_size, batch_norm)
    return {n: m.shape for n, m in net.named_modules() if isinstance(m, WeightShape)}


def weight_count(name: str, output_size: int) -> int:
    """Number of maskable weights of `name` (BN statistics apart); a user's network (`models.user`) is built."""
    if is_own_arch(name):
        return own_weight_count(name, output_size)
    return sum(math.prod(shape) for shape in layer_shapes(name, output_size).values())


def build_model(name: str, *, output_size: int = 10, rule: str = "threshold", density: float = 0.5,
                batch_norm: bool = False, seed: int = 0, density_budget: str = "global") -> nn.Module:
    """A masked network with fixed signed-constant weights drawn from `seed` and no tasks yet.

    With `density_budget="er"` (top-k rule only) each masked layer keeps `layer_density(density,
    "er", its weight shape)` of its weights, else `density` everywhere (`models.masks`).
    """
    arch = None if is_own_arch(name) else architecture(name)
    require_choice("density budget", density_budget, DENSITY_BUDGETS)
    require_choice("mask rule", rule, MASK_RULES)
    if density_budget == "er" and rule != "topk":
        raise ValueError(f"density_budget 'er' sets each layer's top-k density; the {rule} rule keeps no fixed "
                         "fraction: use rule 'topk'")
    if arch is None:  # a user's network (`models.user`): the BatchNorm it has, made per-task
        if batch_norm:
            raise ValueError(f"model {name!r} is a user's network: it has the BatchNorm layers its module has")
        return build_own(name, output_size=output_size, rule=rule, density=density, seed=seed,
                         density_budget=density_budget)
    if arch.always_norm and not batch_norm:
        raise ValueError(f"model {name!r} has per-task BatchNorm after every convolution: build it with "
                         "batch_norm=True")
    if density_budget == "er" and not density > 0:
        raise ValueError(f"the er budget's density scale must be positive, got {density}")
    generator = torch.Generator().manual_seed(seed)
    built_density = density if density_budget == "global" else 0.5  # replaced per layer below
    if arch.hidden is not None:
        model: nn.Module = MaskedMLP(_sizes(name, output_size), rule=rule, density=built_density,
                                     batch_norm=batch_norm, generator=generator)
    else:
        assert arch.build is not None
        if output_size < 1:
            raise ValueError(f"output_size must be positive, got {output_size}")
        model = arch.build(MaskedKit(rule=rule, density=built_density, generator=generator), output_size,
                           batch_norm)
    if density_budget != "global":
        for layer in masked_layers(model).values():
            layer.density = layer_density(density, density_budget, tuple(layer.weight.shape))
    return model


__all__ = ["ARCHITECTURES", "Architecture", "INPUT_SIZE", "MNIST_INPUT", "MaskedMLP", "architecture",
           "build_model", "input_problem", "layer_shapes", "list_models", "mlp_hidden", "weight_count"]
