"""Networks built from masked layers (FC 784-300-300-10, LeNet-300-100, FC-1024-1024), and dense twins."""

from __future__ import annotations

import torch
from torch import nn

from supermasks.models.layers import MaskedLinear, PerTaskBatchNorm

# name -> hidden sizes; the input is a flattened 28x28 image.
ARCHITECTURES: dict[str, tuple[int, ...]] = {
    "fc-300-300": (300, 300),      # the overlap study's FC 784-300-300-10
    "lenet-300-100": (300, 100),   # LeNet-300-100 (784-300-100-s)
    "fc-1024-1024": (1024, 1024),  # FC-1024-1024 (784-1024-1024-s)
    "fc-500-300": (500, 300),      # the replay study's MLP 784-500-300-2
}
INPUT_SIZE = 28 * 28


class MaskedMLP(nn.Module):
    """A ReLU MLP of masked linear layers `fc1..fcL`, optional per-task non-affine BN after each hidden layer."""

    def __init__(self, sizes: tuple[int, ...], *, rule: str, density: float, batch_norm: bool,
                 generator: torch.Generator) -> None:
        super().__init__()
        self.layer_names: list[str] = []
        self.norm_names: list[str | None] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            name = f"fc{i}"
            setattr(self, name, MaskedLinear(fan_in, fan_out, rule=rule, density=density, generator=generator))
            self.layer_names.append(name)
            hidden = i < len(sizes) - 1
            if batch_norm and hidden:
                setattr(self, f"bn{i}", PerTaskBatchNorm(fan_out))
            self.norm_names.append(f"bn{i}" if batch_norm and hidden else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, 1, 28, 28) -> (batch, out)
        h = x.flatten(1)
        last = len(self.layer_names) - 1
        for i, (name, norm) in enumerate(zip(self.layer_names, self.norm_names)):
            h = getattr(self, name)(h)
            if norm is not None:
                h = getattr(self, norm)(h)
            if i < last:
                h = torch.relu(h)
        return h


def list_models() -> dict[str, str]:
    """Model names and one-line descriptions."""
    return {name: "MLP " + "-".join(map(str, (INPUT_SIZE, *hidden, "s"))) + " (masked for SupSup, dense for baselines)"
            for name, hidden in ARCHITECTURES.items()}


def _sizes(name: str, output_size: int) -> tuple[int, ...]:
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(ARCHITECTURES)}")
    if output_size < 1:
        raise ValueError(f"output_size must be positive, got {output_size}")
    return (INPUT_SIZE, *ARCHITECTURES[name], output_size)


def build_model(name: str, *, output_size: int = 10, rule: str = "threshold", density: float = 0.5,
                batch_norm: bool = False, seed: int = 0) -> MaskedMLP:
    """A masked network with fixed signed-constant weights drawn from `seed` and no tasks yet."""
    generator = torch.Generator().manual_seed(seed)
    return MaskedMLP(_sizes(name, output_size), rule=rule, density=density, batch_norm=batch_norm,
                     generator=generator)
